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

uvicorn's httptools protocol bounds neither the request line nor the headers (httptools holds a
header line, however long, until it ends). Here a URL past ``GENNET_MAX_URL_BYTES`` is answered 414
``uri_too_long``, and headers past ``GENNET_MAX_HEADER_BYTES`` (names and values together) or
``MAX_HEADERS`` of them 431 ``header_fields_too_large``, as soon as the parser passes the limit,
before the request reaches the app; the connection then closes. A parser callback stops httptools
by raising, which reaches uvicorn as a parser error: its answer to those
(:meth:`GatedProtocol.send_400_response`) writes the refusal instead of the 400. Every answer the
protocol writes itself carries the security headers of ``app.http.middleware`` and a request ID.

Everything that depends on uvicorn's internals is in this module; uvicorn and httptools are pinned
in pyproject.toml, and ``tests/app/http/test_uvicorn_hooks.py`` fails if a hooked name changes.
"""

import asyncio
import time
from collections.abc import Callable
from http import HTTPStatus
from types import FrameType
from typing import Any, ClassVar, NoReturn, cast

import uvicorn
from starlette.types import Scope
from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from app.errors import HEADER_FIELDS_TOO_LARGE, QUEUE_FULL, URI_TOO_LONG, ErrorKind
from app.http.disconnect import ON_DISCONNECT
from app.http.gate import (
    ARRIVED,
    BODY_COMPLETE,
    arrival,
    is_inference,
)
from app.http.handlers import preencoded
from app.http.middleware import (
    REQUEST_ID_HEADER,
    SECURITY_HEADERS,
    UNROUTED,
    incoming_request_id,
    new_request_id,
)
from app.pipeline.service import Service
from app.settings import MAX_HEADERS

_INFORMATIONAL = b"HTTP/1.1 1"  # a 1xx head (100 Continue): the client waits for it
_SECURITY_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()
# A head still incomplete past this many bytes is refused whatever it holds: room for both limits
# twice over (whitespace and framing around headers are legal), and a bound on what is held.
_HEAD_BYTES_FACTOR = 2


def _status_line(status: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode())


class _HeadTooLarge(Exception):
    """Raised in a parser callback: stops httptools inside a head that passed a limit."""


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

    It overrides ``_start_asgi_task``, the one place where uvicorn starts a request, pipelined
    ones included. It also bounds each request's head (the module's docstring).
    """

    service: ClassVar[Service]
    max_url_bytes: ClassVar[int]
    max_header_bytes: ClassVar[int]  # names and values together
    max_head_bytes: ClassVar[int]  # the bound on a head still incomplete (data_received)
    _writer: HeadWithBody | None = None  # the running request's (one at a time per connection)
    _header_bytes = 0  # of the request being parsed
    _head_bytes: int | None = None  # bytes of whole reads inside the head; None once it is whole
    _passed: ErrorKind | None = None  # the limit that stopped the parser

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = self._head_bytes = 0
        self.scope[ARRIVED] = time.monotonic()  # type: ignore[literal-required]
        self.scope[ON_DISCONNECT] = []  # type: ignore[literal-required]

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_url_bytes:
            self._stop(URI_TOO_LONG)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self.max_header_bytes or len(self.headers) > MAX_HEADERS:
            self._stop(HEADER_FIELDS_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        """Also bounds a head that grows inside one header line, which httptools holds without
        calling ``on_header`` until the line ends: a read that begins and ends inside the same
        request's head is all head bytes."""
        scope = self.scope if self._head_bytes is not None else None
        super().data_received(data)
        if scope is None or scope is not self.scope or self._head_bytes is None:
            return
        self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes and not self.transport.is_closing():
            self._refuse_head(HEADER_FIELDS_TOO_LARGE)

    def _stop(self, kind: ErrorKind) -> NoReturn:
        """Stop the parser: httptools reports the exception as ``HttpParserCallbackError``, a
        parser error, which uvicorn answers with :meth:`send_400_response`."""
        self._passed = kind
        raise _HeadTooLarge(kind.code)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error: the refusal when a limit stopped the parser, else
        uvicorn's plain-text 400, with the headers every answer carries."""
        if self._passed is not None:
            self._refuse_head(self._passed)
            return
        body = msg.encode("ascii")
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        headers.append((b"content-length", b"%d" % len(body)))
        self._write_answer(_status_line(400), headers, body, cast(Scope | None, self.scope), True)

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
        if self.service.admission.requests_full() and is_inference(scope["method"], scope["path"]):
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
        self._count(QUEUE_FULL, scope)
        headers, body = preencoded(QUEUE_FULL, scope["path"])
        status_line = _status_line(QUEUE_FULL.status)
        self._write_answer(status_line, headers, body, scope, close=not cycle.keep_alive)
        cycle.response_started = cycle.response_complete = True  # the body is discarded
        self.on_response_complete()

    def _refuse_head(self, kind: ErrorKind) -> None:
        """Answer a request whose head passed a limit, in the shape of its path's protocol (as
        far as the URL was read), and close: the parser stopped inside the head, so nothing
        more can be read on this connection."""
        scope = cast(Scope, self.scope)
        self._count(kind, scope)
        path = self.url.partition(b"?")[0].decode("latin-1")
        headers, body = preencoded(kind, path)
        self._write_answer(_status_line(kind.status), headers, body, scope, close=True)

    def _count(self, kind: ErrorKind, scope: Scope) -> None:
        metrics = self.service.metrics
        metrics.reject(kind.code)
        metrics.request_done(UNROUTED, kind.status, time.monotonic() - arrival(scope))

    def _write_answer(
        self,
        status_line: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        scope: Scope | None,
        close: bool,
    ) -> None:
        """Write an answer of the protocol's own, with the server's default headers, the
        security headers and the request ID (the client's, if its headers got that far)."""
        request_id = (scope is not None and incoming_request_id(scope)) or new_request_id()
        lines = [*self.server_state.default_headers, *headers, *_SECURITY_HEADERS]
        lines.append((_REQUEST_ID, request_id.encode()))
        if close:
            lines.append((b"connection", b"close"))
        head = b"".join([status_line, *(b"%s: %s\r\n" % pair for pair in lines), b"\r\n"])
        self.transport.write(head + body)
        if close:
            self.transport.close()


def gated_protocol(service: Service) -> type[GatedProtocol]:
    """The protocol class for uvicorn's ``http=``, bound to ``service`` and its head limits."""
    settings = service.settings
    limits = {
        "max_url_bytes": settings.max_url_bytes,
        "max_header_bytes": settings.max_header_bytes,
        "max_head_bytes": _HEAD_BYTES_FACTOR * (settings.max_url_bytes + settings.max_header_bytes),
    }
    return type("GatedProtocol", (GatedProtocol,), {"service": service, **limits})


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self._service = service

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._service.begin_drain()
        super().handle_exit(sig, frame)
