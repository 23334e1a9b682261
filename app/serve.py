"""The service's entry point: ``gennet serve``, and the uvicorn server it runs.

The service owns it; the ``gennet`` command line offers it as a plug-in (the ``gennet.commands``
entry point group in pyproject.toml), so the model side never imports the service. The module
imports only the standard library and pydantic at import time: building the CLI's parser loads
no web stack.
"""

import argparse
import signal
from types import FrameType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from gennet.errors import GenNetError

if TYPE_CHECKING:
    from app.runtime import RuntimeBuilder
    from app.settings import Settings


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

    # The server drains on SIGTERM/SIGINT, then re-raises the signal to the handler it found: make
    # that a clean exit (status 0) instead of death by signal or a KeyboardInterrupt traceback.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _stopped)
    serve(settings, args.host or settings.host, args.port or settings.port, lambda _: runtime)
    return 0


def serve(
    settings: "Settings", host: str, port: int, runtime_builder: "RuntimeBuilder | None" = None
) -> None:
    """Serve until SIGTERM/SIGINT, then drain: refuse new work, answer the accepted, exit."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG
    from uvicorn.main import STARTUP_FAILURE

    from app.http.server import DrainingServer, gated_protocol
    from app.main import create_app
    from app.runtime import build_runtime

    app = create_app(settings, runtime_builder=runtime_builder or build_runtime)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        # JSON logs: keep the handler create_app gave uvicorn's loggers instead of its plain one.
        log_config=None if settings.log_json else LOGGING_CONFIG,
        access_log=False,  # the app logs each request itself, with its request ID
        server_header=False,
        http=gated_protocol(app.state.service),
        proxy_headers=False,  # the app reads no client address; a proxy's X-Forwarded-* is unused
    )
    server = DrainingServer(config, app.state.service)
    server.run()
    if not server.started:  # uvicorn logged why (one line: app.http.middleware)
        raise SystemExit(STARTUP_FAILURE)
