"""This service under two or more settings, side by side: req/s and latency at 1, 8 and 64 clients.

Each configuration is a name and GENNET_* settings (``--config "int8+tta:GENNET_PRECISION=int8,
GENNET_TTA=true"``); the first is the baseline. Every service starts once, pinned to the server core
with one model thread; cells alternate between them (ABBA), and each figure is reported as the
median over rounds and as the median of the per-round ratios to the baseline in the same cell (the
servers ran back to back, so the ratio is robust to the machine drifting between rounds). Run from
the repository root: ``python bench/configs.py --config fp32: --config "int8:GENNET_PRECISION=int8"``.
"""

import argparse
import statistics
from pathlib import Path

import service
import target
from aio import run
from crops import REPO, load_crops, payloads
from loadgen import closed_loop
from serve import SERVICE_APP, alternate, median_cell
from stats import markdown_table, paired_ratios, write_json

CLIENTS = [1, 8, 64]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    target.add_arguments(parser)
    parser.add_argument(
        "--config",
        action="append",
        required=True,
        metavar="NAME:KEY=VALUE,...",
        help="a configuration (repeatable; the first is the baseline)",
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per cell")
    parser.add_argument("--clients", default="1,8,64")
    parser.add_argument("--json", type=Path, default=REPO / "bench/results/configs.json")
    return target.finish(parser.parse_args())


def configs(specs: list[str]) -> dict[str, dict[str, str]]:
    """``NAME:KEY=VALUE,KEY=VALUE`` -> {name: settings}."""
    parsed = {}
    for spec in specs:
        name, _, settings = spec.partition(":")
        parsed[name] = dict(pair.split("=", 1) for pair in settings.split(",") if pair)
    return parsed


def ratios(samples: dict[str, dict[int, list[dict]]], baseline: str, key: str) -> dict:
    """Per configuration and client count: the median over rounds of its figure / the
    baseline's in the same round."""
    return {
        name: {
            clients: statistics.median(
                paired_ratios([s[key] for s in cells], [b[key] for b in samples[baseline][clients]])
            )
            for clients, cells in by_clients.items()
        }
        for name, by_clients in samples.items()
    }


def main() -> None:
    args = parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    items = payloads(load_crops(args.data, args.crops, split="all"), form=True)
    chosen = configs(args.config)
    base_env = target.server_env(args) | {"GENNET_LOG_LEVEL": "WARNING"}
    started = {
        name: target.start(SERVICE_APP, base_env | env, args) for name, env in chosen.items()
    }
    target.pin_client(args)
    bases = {name: (base, server.pid) for name, (server, base) in started.items()}
    try:
        for base, _ in bases.values():
            run(closed_loop(base + "/predict", items, 8, 1.5))
        samples = alternate(bases, items, clients, args.rounds, args.duration)
    finally:
        for server, _ in started.values():
            service.stop(server)
    baseline = next(iter(chosen))
    speed = ratios(samples, baseline, "req_per_s")
    medians = {
        name: {c: median_cell(v) for c, v in cells.items()} for name, cells in samples.items()
    }
    rows = [
        [name, c, m[c]["req_per_s"], speed[name][c], m[c]["p50_ms"], m[c]["p99_ms"]]
        for c in clients
        for name, m in medians.items()
    ]
    print(f"median of {args.rounds} ABBA rounds, {args.duration:g} s per cell; baseline {baseline}")
    header = ("config", "clients", "req/s", f"req/s / {baseline}", "p50 ms", "p99 ms")
    print(markdown_table(header, rows))
    write_json(args.json, {"configs": chosen, "cells": medians, "req_per_s_ratio": speed})


if __name__ == "__main__":
    main()
