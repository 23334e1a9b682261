"""The service against the in-process limit and a plain one-file FastAPI server, side by side.

In one run, on the same ONNX graph and the same real crops:
- the in-process limit (``latency.py --throughput-only``: decode + resize + normalise + ONNX
  Runtime, no HTTP): every batch size once, then in every round, just before and just after the
  64-client cells, that best one and the service's batch cap (one sweep's winner alone is often a
  fluke of a noisy moment). A round's limit is the mean of its two sides, at the batch size with
  the best median over the rounds;
- the service (``gennet serve``, defaults) and the plain server (``plain_fastapi.py``), both
  started once and driven alternately, cell by cell (in reverse order every other round), by the
  closed-loop generator at every client count, for ``--rounds`` rounds.

Each cell reports the median over rounds, and each round's figures are also compared with each
other (paired ratios), since the machine's speed drifts between rounds. By default every server is
pinned to core 1 (``taskset -c 1``) with one model thread and the generator to core 0;
``--unpinned`` lets both use every core. Prints a markdown table and the targets, writes JSON.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import service
import target
from aio import run
from crops import REPO, load_crops, payloads
from loadgen import Payload, closed_loop
from stats import markdown_table, paired_ratios, verdict, write_json

from app.settings import Settings

SERVICE_APP = "gennet serve"  # the default of --app
PLAIN_APP = "bench.plain_fastapi:app"
SERVICE_BATCH = Settings.model_fields["max_batch_size"].default  # its batches at 64 clients
LIMIT_CLIENTS = 64  # the cells compared with the in-process limit


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    target.add_arguments(parser)
    parser.add_argument("--clients", default="1,8,64", help="closed-loop client counts")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load first")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median)")
    parser.add_argument("--raw", action="store_true", help="raw image bodies, not multipart")
    parser.add_argument(
        "--batching-off", action="store_true", help="also the service with GENNET_MAX_BATCH_SIZE=1"
    )
    parser.add_argument("--json", type=Path, help="default: bench/results/serve-<mode>.json")
    args = target.finish(parser.parse_args())
    args.client_counts = [int(c) for c in args.clients.split(",")]
    args.json = args.json or REPO / "bench" / "results" / f"serve-{args.mode}.json"
    return args


def raw_limit(args: argparse.Namespace, batches: list[int] | None = None) -> dict:
    """The in-process limit, measured in a subprocess on the server's core with its threads: at
    every batch size, or at ``batches`` for ``--duration`` seconds each. ``latency.py``'s
    throughput table: the best cell (``raw_limit``) and every cell (``cells``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "raw.json"
        flags = {
            "--checkpoint": args.checkpoint,
            "--onnx": args.onnx or args.checkpoint.with_suffix(".onnx"),
            "--data": args.data,
            "--crops": args.crops,
            "--split": "all",
            "--threads": args.threads,
            "--json": out,
        }
        if batches is not None:
            flags |= {"--batch-sizes": ",".join(map(str, batches)), "--min-time": args.duration}
        script = REPO / "bench" / "latency.py"
        cmd = [sys.executable, str(script), "--throughput-only", *service.flat(flags)]
        subprocess.run(
            service.pinned(cmd, target.server_cores(args)), check=True, stdout=subprocess.DEVNULL
        )
        return json.loads(out.read_text())["throughput"]


def drive(base: str, pid: int, items: list[Payload], clients: int, duration: float) -> dict:
    """One closed-loop run; mean batch size from the service's batch-size histogram deltas; the
    server's CPU per answer, on its event loop (main thread) and on its other threads."""
    before = [service.metric_total(base, f"gennet_batch_size_{k}") for k in ("sum", "count")]
    cpu_before = service.thread_cpu_s(pid)
    summary = run(closed_loop(base + "/predict", items, clients, duration)).summary()
    cpu_after = service.thread_cpu_s(pid)
    after = [service.metric_total(base, f"gennet_batch_size_{k}") for k in ("sum", "count")]
    batch = None
    if None not in before + after and after[1] > before[1]:
        batch = (after[0] - before[0]) / (after[1] - before[1])
    loop_ms, work_ms = (
        1000 * (end - start) / max(summary["ok"], 1)
        for start, end in zip(cpu_before, cpu_after, strict=True)
    )
    return {
        "req_per_s": summary["ok_per_s"],
        "p50_ms": summary["ok_ms"]["p50"],
        "p99_ms": summary["ok_ms"]["p99"],
        "mean_batch": batch,
        "loop_cpu_ms": loop_ms,
        "work_cpu_ms": work_ms,
        "errors": summary["requests"] - summary["ok"],
    }


FIGURES = ("req_per_s", "p50_ms", "p99_ms", "mean_batch", "loop_cpu_ms", "work_cpu_ms")


def median_cell(samples: list[dict]) -> dict:
    """Median of each figure over the rounds (errors: the total)."""
    cell = {
        key: statistics.median(s[key] for s in samples if s[key] is not None)
        if any(s[key] is not None for s in samples)
        else None
        for key in FIGURES
    }
    per_round = [s["req_per_s"] for s in samples]
    return cell | {"errors": sum(s["errors"] for s in samples), "req_per_s_rounds": per_round}


def paired(result: dict) -> list[str]:
    """Round by round, service req/s over plain req/s in the same cell (they ran back to back):
    robust to the machine drifting between rounds, which the medians of each are not."""
    on = result["servers"]["service"]["cells"]
    plain = result["servers"]["plain FastAPI"]["cells"]
    lines = []
    for c in sorted(set(on) & set(plain), key=int):
        ratios = paired_ratios(on[c]["req_per_s_rounds"], plain[c]["req_per_s_rounds"])
        ahead = sum(r > 1 for r in ratios)
        lines.append(
            f"- {c} clients: service / plain req/s per round: median {statistics.median(ratios):.3f}"
            f" (range {min(ratios):.3f}-{max(ratios):.3f}), ahead in {ahead} of {len(ratios)} rounds"
        )
    limits = (result.get("raw_limit") or {}).get("rounds")
    key = str(LIMIT_CLIENTS)
    if limits and key in on:
        shares = paired_ratios(on[key]["req_per_s_rounds"], limits)
        lines.append(
            f"- {key} clients: service / in-process limit of the same round: median "
            f"{statistics.median(shares):.3f} (range {min(shares):.3f}-{max(shares):.3f})"
        )
        cell = on[key]
        lines.append(
            f"- {key} clients: service CPU per answer {cell['loop_cpu_ms']:.2f} ms on the event loop"
            f" + {cell['work_cpu_ms']:.2f} ms on its other threads, against "
            f"{1000 / statistics.median(limits):.2f} ms per crop in the in-process limit"
        )
    return lines


def alternate(
    bases: dict[str, tuple[str, int]],
    items: list[Payload],
    client_counts: list[int],
    rounds: int,
    duration: float,
    beside: Callable[[int], None] = lambda clients: None,
) -> dict[str, dict[int, list[dict]]]:
    """Drive the servers at ``bases`` (name -> base URL, pid) cell by cell, round after round, in
    reverse order every other round (ABBA: no server always runs first in a cell); each server's
    cells per client count, one per round. ``beside(clients)`` runs just before and just after
    each round's cells at ``clients``."""
    samples: dict[str, dict[int, list[dict]]] = {name: {} for name in bases}
    for round_index in range(rounds):
        for clients in client_counts:
            order = list(bases.items())
            if round_index % 2:
                order.reverse()
            beside(clients)
            for name, (base, pid) in order:
                cell = drive(base, pid, items, clients, duration)
                samples[name].setdefault(clients, []).append(cell)
            beside(clients)
    return samples


def servers(args: argparse.Namespace) -> dict[str, tuple[str, dict[str, str]]]:
    env = target.server_env(args) | {"GENNET_LOG_LEVEL": "WARNING"}
    chosen = {"service": (SERVICE_APP, env), "plain FastAPI": (PLAIN_APP, env)}
    if args.batching_off:
        chosen["service, batching off"] = (SERVICE_APP, env | {"GENNET_MAX_BATCH_SIZE": "1"})
    return chosen


def round_limits(sides: list[dict[str, float]]) -> dict:
    """Each round's limit per batch size is the mean of its two sides; the best batch size is
    the one with the best median over the rounds. (Taking each round's better batch size would
    pick the luckier of two noisy samples every round, and overstate the limit.)"""
    if not sides:
        return {"crops_per_s": None}
    befores, afters = sides[0::2], sides[1::2]
    by_batch = {
        b: [(x[b] + y[b]) / 2 for x, y in zip(befores, afters, strict=True)] for b in sides[0]
    }
    medians = {b: statistics.median(values) for b, values in by_batch.items()}
    best = max(medians, key=medians.__getitem__)
    return {
        "sides": sides,
        "round_medians": medians,
        "round_batch": int(best),
        "rounds": by_batch[best],
        "crops_per_s": medians[best],
    }


def compare(args: argparse.Namespace, items: list[Payload], limit: dict) -> dict:
    """Start every server, then drive them alternately, cell by cell, round after round; each
    round measures the in-process limit again just before and just after its 64-client cells
    (into ``limit``: the machine's speed drifts by 10 % within a minute, so the limit a cell is
    compared with is measured beside it)."""
    started = {name: target.start(app, env, args) for name, (app, env) in servers(args).items()}
    try:
        for _, base in started.values():
            run(closed_loop(base + "/predict", items, 8, args.warmup))
        info = {
            name: {"startup_s": s.startup_s, "rss_mb": service.rss_mb(s.pid)}
            for name, (s, _) in started.items()
        }
        limit["round_batches"] = sorted({limit["batch"], SERVICE_BATCH})
        sides: list[dict[str, float]] = []  # before, after, ... the 64-client cells: per batch

        def beside(clients: int) -> None:
            if clients == LIMIT_CLIENTS:
                cells = raw_limit(args, limit["round_batches"])["cells"][str(args.threads)]
                sides.append({b: cell["end_to_end"] for b, cell in cells.items()})

        bases = {name: (base, s.pid) for name, (s, base) in started.items()}
        samples = alternate(bases, items, args.client_counts, args.rounds, args.duration, beside)
        limit |= round_limits(sides)
        for name, (s, _) in started.items():
            info[name]["rss_end_mb"] = service.rss_mb(s.pid)
            info[name]["cells"] = {str(c): median_cell(v) for c, v in samples[name].items()}
        return info
    finally:
        for s, _ in started.values():
            service.stop(s)


def targets(result: dict) -> list[tuple[str, bool]]:
    """Issue 9: >= 90 % of the limit at 64 clients; ahead of plain at 1, 8, 64 (p50 at 1)."""
    on = result["servers"]["service"]["cells"]
    plain = result["servers"]["plain FastAPI"]["cells"]
    limit = (result.get("raw_limit") or {}).get("crops_per_s")
    checks = []
    key = str(LIMIT_CLIENTS)
    if limit and key in on:
        share = on[key]["req_per_s"] / limit
        checks.append(
            (f"{key} clients: {100 * share:.0f} % of the in-process limit >= 90 %", share >= 0.9)
        )
    for c in sorted(set(on) & set(plain), key=int):
        mine, theirs = on[c]["req_per_s"], plain[c]["req_per_s"]
        checks.append((f"{c} clients: {mine:.0f} req/s > plain {theirs:.0f}", mine > theirs))
    if "1" in on and "1" in plain:
        mine, theirs = on["1"]["p50_ms"], plain["1"]["p50_ms"]
        checks.append((f"1 client: p50 {mine:.2f} ms <= plain {theirs:.2f} ms", mine <= theirs))
    return checks


def report(result: dict) -> str:
    limit = (result.get("raw_limit") or {}).get("crops_per_s")
    columns = (
        "server",
        "clients",
        "req/s",
        "% of limit",
        "p50 ms",
        "p99 ms",
        "mean batch",
        "loop CPU ms",
        "work CPU ms",
        "errors",
    )
    rows = [
        [
            name,
            int(c),
            cell["req_per_s"],
            100 * cell["req_per_s"] / limit if limit else None,
            *(cell[k] for k in ("p50_ms", "p99_ms", "mean_batch", "loop_cpu_ms", "work_cpu_ms")),
            cell["errors"],
        ]
        for name, info in result["servers"].items()
        for c, cell in info["cells"].items()
    ]
    rows.sort(key=lambda row: (row[1], row[0]))
    lines = [
        f"mode: {result['mode']}, GENNET_THREADS={result['threads']}, {result['body']} bodies, "
        f"{result['crops']} real crops, {result['duration_s']:g} s per cell, "
        f"median of {result['rounds']} alternating rounds"
    ]
    if limit:
        raw = result["raw_limit"]
        lines.append(
            f"in-process limit: {limit:.1f} crops/s at batch {raw['round_batch']}, median of the "
            f"rounds, each round the mean of its measures just before and after the "
            f"{LIMIT_CLIENTS}-client cells; batch {raw['round_batch']} is the best median of "
            f"batch {' and '.join(map(str, raw['round_batches']))} (sweep of every batch size "
            f"before: {raw['sweep_crops_per_s']:.1f} at batch {raw['batch']})"
        )
    lines += [
        f"{name}: start-up {s['startup_s']:.2f} s, RSS {s['rss_mb']:.0f} MB -> {s['rss_end_mb']:.0f} MB"
        for name, s in result["servers"].items()
    ]
    checks = [f"- {verdict(ok)}: {text}" for text, ok in targets(result)]
    table = markdown_table(columns, rows)
    return "\n".join([*lines, "", table, "", *paired(result), "", *checks])


def main() -> None:
    args = parse_args()
    items = payloads(load_crops(args.data, args.crops, split="all"), form=not args.raw)
    result: dict = {
        "mode": args.mode,
        "threads": args.threads,
        "body": "raw" if args.raw else "multipart",
        "crops": len(items),
        "duration_s": args.duration,
        "rounds": args.rounds,
        "checkpoint": str(args.checkpoint),
    }
    sweep = raw_limit(args)["raw_limit"]  # every batch size, once: which one is best
    result["raw_limit"] = {"batch": sweep["batch"], "sweep_crops_per_s": sweep["crops_per_s"]}
    target.pin_client(args)
    result["servers"] = compare(args, items, result["raw_limit"])
    print(report(result))
    write_json(args.json, result)


if __name__ == "__main__":
    main()
