"""Overload: open-loop arrivals at 3x the measured capacity, with thousands of connections.

Starts the service (``gennet serve``) with a deadline (``GENNET_REQUEST_TIMEOUT_MS``) and a bounded
queue (``GENNET_MAX_QUEUE``), measures its capacity (closed loop, 64 clients) and a light-load p50
(1 client), then sends Poisson arrivals at ``--factor`` x capacity for ``--duration`` seconds, each
request on its own keep-alive connection, up to ``--max-in-flight`` at once (multipart ``file``
bodies of real crops). Reports goodput against capacity, accepted latency, the share of 503s, how
fast they are answered and whether they carry ``Retry-After``, 504s, client errors, the server's
RSS before / peak / after, and how many seconds after the arrivals stop a 1-client probe's p50 is
back within 20 % of the light-load p50.
"""

import argparse
import asyncio
import json
import time
from pathlib import Path

import service
import target
from aio import run
from crops import REPO, load_crops, payloads
from loadgen import Payload, closed_loop, open_loop
from stats import fmt, markdown_table, verdict, write_json

RECOVERED = 1.2  # probe p50 within 20 % of the light-load p50
PROBE_S = 1.0
MAX_LAG_MS = 50  # later than this, the offered rate was not what the run claims


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    target.add_arguments(parser)
    parser.add_argument("--deadline-ms", type=int, default=2000, help="GENNET_REQUEST_TIMEOUT_MS")
    parser.add_argument("--max-queue", type=int, help="GENNET_MAX_QUEUE (default: the service's)")
    parser.add_argument("--capacity", type=float, help="req/s (default: measure it first)")
    parser.add_argument("--factor", type=float, default=3.0, help="arrival rate / capacity")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of overload")
    parser.add_argument("--max-in-flight", type=int, default=4096, help="client-side cap")
    parser.add_argument("--recovery-limit", type=float, default=30.0, help="seconds of probing")
    parser.add_argument("--json", type=Path, help="default: bench/results/overload-<mode>.json")
    args = target.finish(parser.parse_args())
    args.json = args.json or REPO / "bench" / "results" / f"overload-{args.mode}.json"
    return args


async def probe_p50(url: str, items: list[Payload], seconds: float = PROBE_S) -> float:
    """p50 in ms of one client posting back to back (infinite when nothing succeeded)."""
    p50 = (await closed_loop(url, items, 1, seconds)).summary()["ok_ms"]["p50"]
    return float("inf") if p50 is None else p50


async def recover(url: str, items: list[Payload], baseline: float, limit: float) -> dict:
    """Probe each second from now until p50 <= RECOVERED x baseline, or ``limit`` seconds."""
    start, windows = time.perf_counter(), []
    while time.perf_counter() - start < limit:
        windows.append(await probe_p50(url, items))
        if windows[-1] <= RECOVERED * baseline:
            return {"seconds": time.perf_counter() - start, "window_p50_ms": windows}
    return {"seconds": None, "window_p50_ms": windows}


async def storm(
    url: str, items: list[Payload], rate: float, args: argparse.Namespace, baseline: float
) -> tuple[dict, dict]:
    """The open-loop overload; probing starts when its arrivals stop, while answers drain."""
    load = asyncio.create_task(open_loop(url, items, rate, args.duration, args.max_in_flight))
    await asyncio.sleep(args.duration)
    recovery = await recover(url, items, baseline, args.recovery_limit)
    return (await load).summary(), recovery


def measure(base: str, items: list[Payload], args: argparse.Namespace, pid: int) -> dict:
    url = base + "/predict"
    run(closed_loop(url, items, 8, 2.0))  # warm-up
    capacity = args.capacity or run(closed_loop(url, items, 64, 5.0)).summary()["ok_per_s"]
    baseline = run(probe_p50(url, items, 3.0))
    rss_before = service.rss_mb(pid)
    sampler = service.RssSampler(pid)
    sampler.start()
    overload, recovery = run(storm(url, items, args.factor * capacity, args, baseline))
    return {
        "capacity_req_per_s": capacity,
        "rate_req_per_s": args.factor * capacity,
        "baseline_p50_ms": baseline,
        "overload": overload,
        "recovery": recovery,
        "rss_mb": {"before": rss_before, "peak": sampler.stop(), "after": service.rss_mb(pid)},
    }


def checks(result: dict) -> list[tuple[str, bool]]:
    """Issue 9's overload targets (and the validity of the run)."""
    load = result["overload"]
    p99, rej99, retry = load["ok_ms"]["p99"], load["rejected_ms"]["p99"], load["retry_after_share"]
    goodput = load["ok_per_s"] / result["capacity_req_per_s"]
    other = sum(n for code, n in load["status"].items() if code not in ("200", "503", "504"))
    seconds, rss = result["recovery"]["seconds"], result["rss_mb"]
    return [
        (f"goodput {goodput:.0%} of capacity >= 80 %", goodput >= 0.8),
        (f"accepted p99 {fmt(p99)} ms <= 2500 ms", p99 is not None and p99 <= 2500),
        (f"refusals answered in p99 {fmt(rej99)} ms < 100 ms", rej99 is None or rej99 < 100),
        (f"Retry-After on every 503 (share {fmt(retry)}; '-' = no 503 at all)", retry in (1, None)),
        (
            f"{other} answers other than 200/503/504 (connection errors, client timeouts)",
            other == 0,
        ),
        (
            f"RSS bounded: peak {rss['peak']:.0f} MB <= 2 x before {rss['before']:.0f} MB",
            rss["peak"] <= 2 * rss["before"],
        ),
        (f"probe p50 back within 20 % after {fmt(seconds, 1)} s (<= 2 s)", (seconds or 99) <= 2),
        (
            f"generator kept the schedule: {load['not_sent']} not sent, max lag "
            f"{load['max_lag_ms']:.0f} ms <= {MAX_LAG_MS} ms (validity of this run)",
            load["not_sent"] == 0 and load["max_lag_ms"] <= MAX_LAG_MS,
        ),
    ]


def share(load: dict, code: str) -> str:
    return f"{load['status'].get(code, 0) / max(load['requests'], 1):.1%}"


def report(result: dict) -> str:
    load, rss, rec = result["overload"], result["rss_mb"], result["recovery"]
    ok, rej = load["ok_ms"], load["rejected_ms"]
    rows = [
        ["capacity (closed loop, 64 clients)", f"{result['capacity_req_per_s']:.0f} req/s"],
        ["goodput (200 per second)", f"{load['ok_per_s']:.0f} req/s"],
        [
            "arrivals (Poisson)",
            f"{result['rate_req_per_s']:.0f} req/s for {result['duration_s']:g} s",
        ],
        ["deadline / queue", f"{result['deadline_ms']} ms / {result['max_queue'] or 'default'}"],
        ["answers by status", json.dumps(load["status"])],
        [
            "accepted (200)",
            f"{share(load, '200')}, p50 {fmt(ok['p50'])} ms, p99 {fmt(ok['p99'])} ms",
        ],
        [
            "rejected (503)",
            f"{share(load, '503')}, answered in p50 {fmt(rej['p50'])} ms, p99 {fmt(rej['p99'])} ms",
        ],
        ["Retry-After on 503s", fmt(load["retry_after_share"])],
        ["deadline exceeded (504)", share(load, "504")],
        [
            "server RSS before / peak / after",
            f"{rss['before']:.0f} / {rss['peak']:.0f} / {rss['after']:.0f} MB",
        ],
        ["light-load p50 before", f"{result['baseline_p50_ms']:.2f} ms"],
        ["probe p50 per second after", ", ".join(fmt(p) for p in rec["window_p50_ms"]) + " ms"],
        [
            "generator max lag / CPU / not sent",
            f"{load['max_lag_ms']:.1f} ms / {load['client_cpu']:.0%} / {load['not_sent']}",
        ],
    ]
    lines = [f"mode: {result['mode']}", "", markdown_table(["overload", "figure"], rows), ""]
    return "\n".join(lines + [f"- {verdict(passed)}: {text}" for text, passed in checks(result)])


def main() -> None:
    args = parse_args()
    items = payloads(load_crops(args.data, args.crops, split="all"), form=True)
    env = target.server_env(args) | {"GENNET_REQUEST_TIMEOUT_MS": str(args.deadline_ms)}
    if args.max_queue is not None:
        env["GENNET_MAX_QUEUE"] = str(args.max_queue)
    target.pin_client(args)
    server, base = target.start(args.app, env, args)
    try:
        result = measure(base, items, args, server.pid)
    finally:
        service.stop(server)
    result |= {
        "mode": args.mode,
        "deadline_ms": args.deadline_ms,
        "max_queue": args.max_queue,
        "duration_s": args.duration,
        "checkpoint": str(args.checkpoint),
    }
    print(report(result))
    write_json(args.json, result)


if __name__ == "__main__":
    main()
