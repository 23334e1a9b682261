"""The server ``gennet serve`` runs: uvicorn, with the admission gate in the HTTP protocol, and
readiness that turns 503 the moment a stop signal arrives.

Under a flood, a request refused by the ASGI gate still costs an asyncio task, the middleware
stack and uvicorn's response writer. Here the protocol checks the same inference slots as soon as
a request's headers are parsed and, when they are all taken, writes the pre-encoded 503 itself:
no task, no ASGI call, and the body (if any) is discarded as it arrives. Counting, the request ID
and ``Retry-After`` are as the gate's.

The protocol also reports a lost connection to the request in progress (``app.http.disconnect``), so
a request needs no task of its own listening for ``http.disconnect``, and it sends each answer's
head and body in one write (:class:`HeadWithBody`).

Plain uvicorn marks the app as stopping only once every in-flight request is answered (the
lifespan shutdown); until it notices the signal (up to 0.1 s) it keeps taking new requests. Here
the signal handler itself flips the service to draining: new requests get 503 ``not_ready`` with
``Retry-After`` and readiness answers 503, while the accepted requests run to completion.
"""

import asyncio
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, ClassVar, cast

import uvicorn
from starlette.types import Scope
from uvicorn._types import ASGI3Application
from uvicorn.config import LOGGING_CONFIG
from uvicorn.main import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from app.errors import QUEUE_FULL
from app.http.disconnect import ON_DISCONNECT
from app.http.gate import (
    ARRIVED,
    BODY_COMPLETE,
    REFUSAL_BODY,
    REFUSAL_HEADERS,
    arrival,
    is_inference,
)
from app.http.middleware import REQUEST_ID_HEADER, UNROUTED, incoming_request_id, new_request_id
from app.main import create_app
from app.pipeline.service import Service
from app.runtime import RuntimeBuilder, build_runtime
from app.settings import Settings

_REFUSAL_STATUS_LINE = b"HTTP/1.1 %d Service Unavailable\r\n" % QUEUE_FULL.status
_INFORMATIONAL = b"HTTP/1.1 1"  # a 1xx head (100 Continue): the client waits for it


class HeadWithBody:
    """The transport one request's ``RequestResponseCycle`` writes to: the response's status
    line and headers are held back and sent with the first body bytes.

    uvicorn writes the head and the body with two ``transport.write`` calls, and uvloop sends each
    at once: two TCP segments and two wake-ups of the client per answer. On loopback one send costs
    about 30 us of the server's core, a tenth of the event loop's work per answer
    (``bench/README.md``). A 1xx head goes out at once; a head without body bytes (``HEAD``) goes
    out when the response completes (:meth:`flush`) or the connection closes.
    """

    __slots__ = ("_fresh", "_head", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._fresh = True  # no final head written or held yet

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif self._fresh and not data.startswith(_INFORMATIONAL):
            self._fresh, self._head = False, data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:  # anything else a cycle may use
        return getattr(self._transport, name)


class GatedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, stamping each request's arrival when its first bytes are
    parsed (the deadline then also covers the time it waited for the event loop), and refusing
    inference requests when the service's slots are full, before any ASGI work.

    It overrides ``_start_asgi_task``, the one place where uvicorn (bounded in pyproject.toml)
    starts a request, pipelined ones included; ``tests/e2e/test_server.py`` fails if that changes.
    """

    service: ClassVar[Service]
    _writer: HeadWithBody | None = None  # the running request's (one at a time per connection)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[ARRIVED] = time.monotonic()  # type: ignore[literal-required]
        self.scope[ON_DISCONNECT] = []  # type: ignore[literal-required]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.scope[BODY_COMPLETE] = True  # type: ignore[literal-required]

    def connection_lost(self, exc: Exception | None) -> None:
        """Also tells the request in progress, through its ``app.http.disconnect`` hooks. They are
        taken out of its scope: if it has not awaited its answer yet, it will listen on
        ``receive``, which uvicorn now answers with ``http.disconnect`` at once."""
        cycle = self.cycle
        super().connection_lost(exc)
        if cycle is not None and cycle.disconnected:
            gone = cycle.scope.pop(ON_DISCONNECT, [])  # type: ignore[misc]
            for hook in cast(list[Callable[[], None]], gone):
                hook()  # cancels a future; the request takes its hook back later, in its task

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        scope = cycle.scope
        if self.service.slots.full() and is_inference(scope["method"], scope["path"]):
            self._refuse(cycle)
        else:
            self._writer = HeadWithBody(self.transport)
            cycle.transport = cast(asyncio.Transport, self._writer)
            super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer = None
        super().on_response_complete()  # may start a pipelined request

    def _refuse(self, cycle: RequestResponseCycle) -> None:
        scope = cast(Scope, cycle.scope)
        metrics = self.service.metrics
        metrics.reject(QUEUE_FULL.code)
        metrics.request_done(UNROUTED, QUEUE_FULL.status, time.monotonic() - arrival(scope))
        request_id = incoming_request_id(scope) or new_request_id()
        headers = [
            *self.server_state.default_headers,
            *REFUSAL_HEADERS,
            (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
        ]
        if not cycle.keep_alive:
            headers.append((b"connection", b"close"))
        lines = [_REFUSAL_STATUS_LINE, *(b"%s: %s\r\n" % pair for pair in headers), b"\r\n"]
        self.transport.write(b"".join(lines) + REFUSAL_BODY)
        cycle.response_started = cycle.response_complete = True  # the body is discarded
        if not cycle.keep_alive:
            self.transport.close()
        self.on_response_complete()


def gated_protocol(service: Service) -> type[GatedProtocol]:
    """The protocol class for uvicorn's ``http=``, bound to ``service``."""
    return type("GatedProtocol", (GatedProtocol,), {"service": service})


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
        http=gated_protocol(app.state.service),
        proxy_headers=False,  # the app reads no client address; a proxy's X-Forwarded-* is unused
    )
    server = DrainingServer(config, app.state.service)
    server.run()
    if (
        not server.started
    ):  # uvicorn logged why (one line, app.http.middleware.OneLineStartupFailure)
        raise SystemExit(STARTUP_FAILURE)
