"""This service against the service of another commit and the plain FastAPI server, side by side.

A regression check for changes to the hot path: check the other commit out beside the repository
(``git worktree add /tmp/old <commit>``), then run this script from the repository root. All three
servers start once, pinned to the server core with one model thread (the other commit's under
``uvicorn --app-dir``, with its own ``model_store``), and are driven alternately at 1, 8 and 64
closed-loop clients, in reverse order every other round; each figure is the median over rounds, and
req/s is also given as the median of the per-round ratios to the other commit's service.
"""

import argparse
import sys
from pathlib import Path

import service
import target
from aio import run
from configs import ratios
from crops import load_crops, payloads
from loadgen import Payload, closed_loop
from serve import PLAIN_APP, alternate, median_cell
from stats import markdown_table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    target.add_arguments(parser)
    parser.add_argument("--old-tree", type=Path, required=True, help="the other commit's checkout")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per cell")
    return target.finish(parser.parse_args())


def old_service_cmd(tree: Path, port: int) -> list[str]:
    flags = ["--app-dir", str(tree), "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    return [sys.executable, "-m", "uvicorn", "app.main:app", *flags]


def start_old(args: argparse.Namespace, env: dict[str, str]) -> tuple[service.Server, str]:
    port = service.free_port()
    base = f"http://127.0.0.1:{port}"
    old_env = env | {
        "GENNET_MODEL_PATH": str(args.old_tree / "model_store" / "gennet.pt"),
        "GENNET_ONNX_PATH": str(args.old_tree / "model_store" / "gennet.onnx"),
    }
    cmd = service.pinned(old_service_cmd(args.old_tree, port), target.server_cores(args))
    return service.start(cmd, old_env, lambda: service.http_ok(base + service.READY_PATH)), base


def compare(args: argparse.Namespace, items: list[Payload]) -> dict[str, dict[int, dict]]:
    env = target.server_env(args) | {"GENNET_LOG_LEVEL": "WARNING"}
    started = {
        "this service": target.start(args.app, env, args),
        f"service at {args.old_tree.name}": start_old(args, env),
        "plain FastAPI": target.start(PLAIN_APP, env, args),
    }
    target.pin_client(args)
    bases = {name: (base, server.pid) for name, (server, base) in started.items()}
    try:
        for base, _ in bases.values():
            run(closed_loop(base + "/predict", items, 8, 1.5))
        samples = alternate(bases, items, [1, 8, 64], args.rounds, args.duration)
    finally:
        for server, _ in started.values():
            service.stop(server)
    speed = ratios(samples, f"service at {args.old_tree.name}", "req_per_s")
    return {
        name: {c: median_cell(v) | {"ratio": speed[name][c]} for c, v in cells.items()}
        for name, cells in samples.items()
    }


def main() -> None:
    args = parse_args()
    items = payloads(load_crops(args.data, args.crops, split="all"), form=True)
    result = compare(args, items)
    rows = [
        [
            name,
            clients,
            *(cell[k] for k in ("req_per_s", "ratio", "p50_ms", "p99_ms", "loop_cpu_ms")),
        ]
        for clients in (1, 8, 64)
        for name, cells in result.items()
        for cell in [cells[clients]]
    ]
    print(f"median of {args.rounds} ABBA rounds, {args.duration:g} s per cell, multipart crops")
    header = (
        "server",
        "clients",
        "req/s",
        "req/s / other commit's",
        "p50 ms",
        "p99 ms",
        "loop CPU ms",
    )
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
