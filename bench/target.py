"""The service under test, as ``serve.py`` and ``overload.py`` configure it: options, env, start."""

import argparse
import os
from pathlib import Path

import service
from crops import PETA_ROOT, REPO

SERVER_CORE, CLIENT_CORE = "1", 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=REPO / "model_store" / "gennet.pt")
    parser.add_argument(
        "--onnx",
        type=Path,
        help="ONNX graph (default: the checkpoint's graph of the precision served)",
    )
    parser.add_argument("--data", type=Path, default=PETA_ROOT, help="PETA folder (real crops)")
    parser.add_argument("--crops", type=int, default=256, help="distinct crops posted in turn")
    parser.add_argument("--unpinned", action="store_true", help="no taskset: share every core")
    parser.add_argument(
        "--threads", type=int, help="GENNET_THREADS (default: 1 pinned, else cores)"
    )
    parser.add_argument(
        "--app", default="gennet serve", help="service under test: gennet serve, or a uvicorn app"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the service (repeatable)",
    )


def finish(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the defaults that depend on other options (``device`` is cpu unless an option says)."""
    args.device = device = getattr(args, "device", "cpu")
    args.unpinned = args.unpinned or device == "cuda"
    if args.threads is None:
        args.threads = os.cpu_count() if args.unpinned else 1
    args.mode = "cuda" if device == "cuda" else "unpinned" if args.unpinned else "pinned"
    return args


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = {
        "GENNET_MODEL_PATH": str(args.checkpoint),
        "GENNET_THREADS": str(args.threads),
        "GENNET_DEVICE": args.device,
        "GENNET_RUNTIME": "torch" if args.device == "cuda" else "onnx",
    }
    if args.onnx:  # else each service serves the checkpoint's graph of its precision
        env["GENNET_ONNX_PATH"] = str(args.onnx)
    return env | dict(item.split("=", 1) for item in args.env)


def server_cores(args: argparse.Namespace) -> str | None:
    return None if args.unpinned else SERVER_CORE


def pin_client(args: argparse.Namespace) -> None:
    """Pin this process, which runs the load generator, to the other core (unless unpinned)."""
    service.pin_self(None if args.unpinned else CLIENT_CORE)


def start(app: str, env: dict[str, str], args: argparse.Namespace) -> tuple[service.Server, str]:
    """Start ``app`` under uvicorn on a free port (pinned unless ``--unpinned``); wait for ready."""
    port = service.free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = service.pinned(service.server_cmd(app, port), server_cores(args))
    return service.start(cmd, env, lambda: service.http_ok(base + service.READY_PATH)), base
