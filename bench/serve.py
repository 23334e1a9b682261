"""The service end to end: throughput and latency at 1..64 clients against the raw limit.

Runs, in one go and on the same cores: the raw in-process limit (``latency.py --throughput-only``:
decode + preprocess + model at the best batch size, no HTTP), then the service with batching,
the service with batching off (``GENNET_MAX_BATCH_SIZE=1``) and a plain FastAPI endpoint
(``plain_fastapi.py``), each driven by the closed-loop generator at every client count. By default
every server is pinned to core 0 (``taskset -c 0``) and the generator to core 1; ``--unpinned``
lets both use every core. Prints a markdown table and the issue's targets, and writes JSON.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import service
import target
from aio import run
from crops import REPO, load_crops, payloads
from loadgen import Payload, closed_loop
from stats import markdown_table, verdict, write_json

PLAIN_APP = "bench.plain_fastapi:app"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    target.add_arguments(parser)
    parser.add_argument("--clients", default="1,8,32,64", help="closed-loop client counts")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per client count")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load first")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="cuda: torch runtime, unpinned, no raw limit and no plain baseline",
    )
    parser.add_argument("--json", type=Path, help="default: bench/results/serve-<mode>.json")
    args = target.finish(parser.parse_args())
    args.client_counts = [int(c) for c in args.clients.split(",")]
    args.json = args.json or REPO / "bench" / "results" / f"serve-{args.mode}.json"
    return args


def raw_limit(args: argparse.Namespace) -> dict:
    """The in-process limit, measured in a subprocess on the server's core with its threads."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "raw.json"
        flags = {
            "--checkpoint": args.checkpoint,
            "--onnx": args.onnx,
            "--data": args.data,
            "--threads": args.threads,
            "--json": out,
        }
        script = REPO / "bench" / "latency.py"
        cmd = [sys.executable, str(script), "--throughput-only", *service.flat(flags)]
        subprocess.run(
            service.pinned(cmd, target.server_cores(args)), check=True, stdout=subprocess.DEVNULL
        )
        return json.loads(out.read_text())["throughput"]["raw_limit"]


def drive(base: str, items: list[Payload], clients: int, duration: float) -> dict:
    """One closed-loop run; mean batch size from the service's batch-size histogram deltas."""
    before = [service.metric_total(base, f"gennet_batch_size_{k}") for k in ("sum", "count")]
    summary = run(closed_loop(base + "/predict", items, clients, duration)).summary()
    after = [service.metric_total(base, f"gennet_batch_size_{k}") for k in ("sum", "count")]
    batch = None
    if None not in before + after and after[1] > before[1]:
        batch = (after[0] - before[0]) / (after[1] - before[1])
    return {
        "clients": clients,
        "req_per_s": summary["ok_per_s"],
        "p50_ms": summary["ok_ms"]["p50"],
        "p99_ms": summary["ok_ms"]["p99"],
        "mean_batch": batch,
        "errors": summary["requests"] - summary["ok"],
        "client_cpu": summary["client_cpu"],
    }


def bench_server(
    app: str, env: dict[str, str], args: argparse.Namespace, items: list[Payload]
) -> dict:
    """Start one server, warm it up, drive it at every client count, stop it."""
    server, base = target.start(app, env, args)
    try:
        run(closed_loop(base + "/predict", items, 8, args.warmup))
        rss_ready = service.rss_mb(server.pid)
        runs = [drive(base, items, c, args.duration) for c in args.client_counts]
        return {
            "startup_s": server.startup_s,
            "rss_mb": rss_ready,
            "rss_end_mb": service.rss_mb(server.pid),
            "runs": runs,
        }
    finally:
        service.stop(server)


def by_clients(result: dict, name: str) -> dict[int, dict]:
    return {row["clients"]: row for row in result["servers"].get(name, {}).get("runs", [])}


def throughput_checks(on: dict, plain: dict, limit: float | None) -> list[tuple[str, bool]]:
    """At 32 and 64 clients >= 85 % of the raw limit; ahead of plain FastAPI from 8 clients."""
    checks = [
        (
            f"{c} clients: {on[c]['req_per_s']:.0f} req/s >= 85 % of raw limit {limit:.0f}",
            on[c]["req_per_s"] >= 0.85 * limit,
        )
        for c in (32, 64)
        if limit and c in on
    ]
    checks += [
        (
            f"{c} clients: {on[c]['req_per_s']:.0f} req/s > plain FastAPI {plain[c]['req_per_s']:.0f}",
            on[c]["req_per_s"] > plain[c]["req_per_s"],
        )
        for c in sorted(on)
        if c >= 8 and c in plain
    ]
    return checks


def latency_checks(on: dict, off: dict) -> list[tuple[str, bool]]:
    """Idle batcher costs <= 1 ms at 1 client; nobody starves at 64 (p99 <= 2 x p50)."""
    checks = []
    if 1 in on and 1 in off:
        p50, base = on[1]["p50_ms"], off[1]["p50_ms"]
        checks.append(
            (f"1 client: p50 {p50:.2f} ms <= batching-off p50 {base:.2f} + 1 ms", p50 <= base + 1)
        )
    if 64 in on:
        p50, p99 = on[64]["p50_ms"], on[64]["p99_ms"]
        checks.append((f"64 clients: p99 {p99:.2f} ms <= 2 x p50 {p50:.2f} ms", p99 <= 2 * p50))
    return checks


def targets(result: dict) -> list[tuple[str, bool]]:
    """The issue's targets that this run's figures can decide, plus the start-up and memory aims."""
    on, off, plain = (by_clients(result, n) for n in ("batching", "batching off", "plain FastAPI"))
    limit = (result.get("raw_limit") or {}).get("crops_per_s")
    served = result["servers"]["batching"]
    aims = [
        (f"start-up to ready {served['startup_s']:.2f} s < 5 s (CPU aim)", served["startup_s"] < 5),
        (f"RSS after warm-up {served['rss_mb']:.0f} MB < 400 MB (CPU aim)", served["rss_mb"] < 400),
    ]
    cpu = result["mode"] != "cuda"
    return [*throughput_checks(on, plain, limit), *latency_checks(on, off), *(aims if cpu else [])]


COLUMNS = (
    "server",
    "clients",
    "req/s",
    "% of raw limit",
    "p50 ms",
    "p99 ms",
    "mean batch",
    "errors",
    "client CPU",
)


def table_rows(result: dict, limit: float | None) -> list[list]:
    return [
        [
            name,
            r["clients"],
            r["req_per_s"],
            100 * r["req_per_s"] / limit if limit else None,
            r["p50_ms"],
            r["p99_ms"],
            r["mean_batch"],
            r["errors"],
            r["client_cpu"],
        ]
        for name, server in result["servers"].items()
        for r in server["runs"]
    ]


def preamble(result: dict, limit: float | None) -> list[str]:
    lines = [
        f"mode: {result['mode']}, GENNET_THREADS={result['threads']}, {result['duration_s']:g} s per cell"
    ]
    if limit:
        raw = result["raw_limit"]
        lines.append(
            f"raw in-process limit: {limit:.1f} crops/s (batch {raw['batch']}, {raw['threads']} thread(s))"
        )
    return lines + [
        f"{name}: start-up to ready {s['startup_s']:.2f} s, RSS after warm-up {s['rss_mb']:.0f} MB, "
        f"at the end {s['rss_end_mb']:.0f} MB"
        for name, s in result["servers"].items()
    ]


def report(result: dict) -> str:
    limit = (result.get("raw_limit") or {}).get("crops_per_s")
    checks = [f"- {verdict(ok)}: {text}" for text, ok in targets(result)]
    table = markdown_table(COLUMNS, table_rows(result, limit))
    return "\n".join([*preamble(result, limit), "", table, "", *checks])


def main() -> None:
    args = parse_args()
    items = payloads(load_crops(args.data, args.crops))
    env = target.server_env(args)
    result: dict = {
        "mode": args.mode,
        "threads": args.threads,
        "duration_s": args.duration,
        "checkpoint": str(args.checkpoint),
        "servers": {},
    }
    if args.device == "cpu":
        result["raw_limit"] = raw_limit(args)
    target.pin_client(args)
    configs = {"batching": {}, "batching off": {"GENNET_MAX_BATCH_SIZE": "1"}}
    for name, extra in configs.items():
        result["servers"][name] = bench_server(args.app, env | extra, args, items)
    if args.device == "cpu":
        result["servers"]["plain FastAPI"] = bench_server(PLAIN_APP, env, args, items)
    print(report(result))
    write_json(args.json, result)


if __name__ == "__main__":
    main()
