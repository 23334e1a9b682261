"""The server ``gennet serve`` runs: uvicorn, with readiness that turns 503 the moment a stop
signal arrives.

Plain uvicorn marks the app as stopping only once every in-flight request is answered (the
lifespan shutdown); until it notices the signal (up to 0.1 s) it keeps taking new requests. Here
the signal handler itself flips the service to draining: new requests get 503 ``not_ready`` with
``Retry-After`` and readiness answers 503, while the accepted requests run to completion.
"""

import time
from types import FrameType

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.main import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.admission import ARRIVED
from app.main import create_app
from app.runtime import RuntimeBuilder, build_runtime
from app.service import Service
from app.settings import Settings


class ArrivalStampingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, stamping each request's arrival when its first bytes are
    parsed: the deadline then also covers the time the request waited for the event loop."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[ARRIVED] = time.monotonic()  # type: ignore[literal-required]


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self._service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._service.begin_drain()
        super().handle_exit(sig, frame)


def serve(
    settings: Settings, host: str, port: int, runtime_builder: RuntimeBuilder = build_runtime
) -> None:
    """Serve until SIGTERM/SIGINT, then drain: refuse new work, answer the accepted, exit."""
    app = create_app(settings, runtime_builder=runtime_builder)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        # JSON logs: keep the handler create_app gave uvicorn's loggers instead of its plain one.
        log_config=None if settings.log_json else LOGGING_CONFIG,
        access_log=False,  # the app logs each request itself, with its request ID
        server_header=False,
        http=ArrivalStampingProtocol,
    )
    server = DrainingServer(config, app.state.service)
    server.run()
    if not server.started:  # uvicorn logged why (one line, app.middleware.OneLineStartupFailure)
        raise SystemExit(STARTUP_FAILURE)
