"""A request's cost falls on itself: this service against another commit's, side by side, under
the two costly loads of issue 24, each with four ordinary clients beside it.

- ``heavy``: two clients flood ``/predict/batch`` with maximal-cost forms (as many files as the
  service takes, each a few KB that decode to the largest image its defaults allow) while four
  clients post ordinary PETA crops to ``/predict``: their share of 200s and their p99.
- ``bodies``: bursts of worst-case Open Inference Protocol JSON bodies (just under the upload
  limit, millions of tiny values), ``--burst`` at a time, while the four clients post crops: the
  server's peak RSS growth, and the ordinary clients' 200s and p99.

Both servers start once, pinned to the server core (one model thread); cells alternate between
them, in reverse order every other round. Run from the repository root after
``git worktree add /tmp/old <commit>``: ``python bench/hostile.py --old-tree /tmp/old``.
"""

import argparse
import asyncio
import io
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import service
import target
from aio import run
from crops import REPO, load_crops, payloads
from loadgen import Payload, Run, closed_loop
from PIL import Image
from regress import start_old
from stats import markdown_table, write_json

LIGHT_CLIENTS, HEAVY_CLIENTS = 4, 2
INFER = "/v2/models/gennet/infer"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    target.add_arguments(parser)
    parser.add_argument("--old-tree", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per cell")
    parser.add_argument("--burst", type=int, default=8, help="worst-case bodies at a time")
    parser.add_argument("--items", type=int, default=64, help="files per heavy form")
    parser.add_argument("--json", type=Path, default=REPO / "bench/results/hostile.json")
    return target.finish(parser.parse_args())


def heavy_form(pixels: int, files: int) -> Payload:
    """A multipart form of ``files`` PNGs, one colour each, as large as ``pixels`` allows."""
    side = int(pixels**0.5)
    png = io.BytesIO()
    Image.new("RGB", (side, side), (90, 30, 200)).save(png, "PNG")
    boundary = "heavyheavyheavy"
    part = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="x.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png.getvalue()
        + b"\r\n"
    )
    body = part * files + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def worst_body(limit: int) -> Payload:
    """A v2 JSON request just under ``limit`` bytes of single-digit values."""
    count = (limit - 200) // 2
    head = json.dumps(
        {
            "inputs": [
                {"name": "preprocessed_image", "datatype": "FP32", "shape": [count], "data": []}
            ]
        }
    ).encode()
    body = head[:-4] + b",".join([b"0"] * count) + head[-4:]
    return body, {"Content-Type": "application/json"}


def bursts(url: str, body: Payload, burst: int, duration: float) -> Coroutine[Any, Any, Run]:
    """``burst`` clients posting the body back to back for ``duration``."""
    return closed_loop(url, [body], burst, duration, timeout_s=60)


async def cell(
    base: str, pid: int, kind: str, light: list[Payload], heavy: Payload, args: argparse.Namespace
) -> dict:
    sampler = service.RssSampler(pid, interval=0.05)
    before = service.rss_mb(pid)
    sampler.start()
    ordinary = closed_loop(base + "/predict", light, LIGHT_CLIENTS, args.duration)
    if kind == "heavy":
        costly = closed_loop(base + "/predict/batch", [heavy], HEAVY_CLIENTS, args.duration)
    else:
        costly = bursts(base + INFER, heavy, args.burst, args.duration)
    light_run, costly_run = await asyncio.gather(ordinary, costly)
    peak = sampler.stop()
    summary = light_run.summary()
    costly_summary = costly_run.summary()
    return {
        "light_ok_share": summary["ok"] / max(summary["requests"], 1),
        "light_p99_ms": summary["ok_ms"]["p99"],
        "light_status": summary["status"],
        "costly_status": costly_summary["status"],
        "rss_before_mb": before,
        "rss_growth_mb": peak - before,
    }


def main() -> None:
    args = parse_args()
    light = payloads(load_crops(args.data, args.crops, split="all"), form=True)
    env = target.server_env(args) | {"GENNET_LOG_LEVEL": "WARNING"}
    old_env = env | {"GENNET_MAX_IMAGE_PIXELS": "4194304"}  # its default
    servers = {
        "this service": (target.start(args.app, env, args), 1_048_576),
        f"service at {args.old_tree.name}": (start_old(args, old_env), 4_194_304),
    }
    target.pin_client(args)
    heavy_forms = {name: heavy_form(px, args.items) for name, (_, px) in servers.items()}
    body = worst_body(8 * 1024 * 1024 - 1)
    results: dict[str, dict[str, list[dict]]] = {n: {"heavy": [], "bodies": []} for n in servers}
    try:
        for r in range(args.rounds):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for kind in ("heavy", "bodies"):
                for name in order:
                    (server, base), _ = servers[name]
                    costly = heavy_forms[name] if kind == "heavy" else body
                    results[name][kind].append(
                        run(cell(base, server.pid, kind, light, costly, args))
                    )
    finally:
        for (server, _), _ in servers.values():
            service.stop(server)
    rows = [
        [name, kind, c["light_ok_share"], c["light_p99_ms"], c["rss_growth_mb"], c["costly_status"]]
        for name, kinds in results.items()
        for kind, cells in kinds.items()
        for c in cells
    ]
    header = ("server", "load", "ordinary 200 share", "ordinary p99 ms", "RSS growth MB", "costly")
    print(markdown_table(header, rows))
    write_json(args.json, {"args": {k: str(v) for k, v in vars(args).items()}, "cells": results})


if __name__ == "__main__":
    main()
