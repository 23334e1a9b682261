"""``gennet serve``: run the inference service (``app``) under uvicorn."""

import argparse
import signal
from types import FrameType
from typing import Any

from pydantic import ValidationError

from gennet.errors import GenNetError


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the model over HTTP",
        description="Serve the model over HTTP. Every other setting is a GENNET_* environment "
        "variable (see the README).",
    )
    parser.add_argument("--host", help="bind address (default: GENNET_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: GENNET_PORT or 8000)")
    parser.set_defaults(handler=run)


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def run(args: argparse.Namespace) -> int:
    # Imported here so that the other commands never load the web stack.
    from app.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "GENNET_" + "_".join(str(part) for part in first["loc"]).upper()
        raise GenNetError(f"invalid setting {name}: {first['msg']}") from None
    # Load the model before uvicorn starts: a bad model file, an impossible runtime choice or a
    # calibration file for other weights fails here, with the CLI's one-line error, and the server
    # serves what was loaded.
    from app.logging import configure_logging
    from app.runtime import build_runtime

    configure_logging(settings.log_level, settings.log_json)  # the load's log lines, as JSON too
    runtime = build_runtime(settings)
    if settings.calibration_path is not None:
        from gennet.calibration import load_calibration

        load_calibration(
            settings.calibration_path, runtime.meta.weights_sha256, runtime.meta.threshold
        )
    from app.http.server import serve  # after the checks: importing app.main builds its module-level app

    # The server drains on SIGTERM/SIGINT, then re-raises the signal to the handler it found: make
    # that a clean exit (status 0) instead of death by signal or a KeyboardInterrupt traceback.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stopped)
    serve(settings, args.host or settings.host, args.port or settings.port, lambda _: runtime)
    return 0
