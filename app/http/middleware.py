"""Pure ASGI middleware: request ID and security headers, access log, request metrics, the
last-resort 500, and a one-line start-up failure.
"""

import itertools
import logging
import os
import re
import time
from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import StartupError
from app.http.handlers import internal_error_response
from app.logging import request_id
from app.metrics import Metrics

log = logging.getLogger(__name__)
access_log = logging.getLogger("app.access")

REQUEST_ID_HEADER = "X-Request-ID"
# On every answer, the ones the HTTP protocol writes itself included (app.http.server): a browser
# must not run an answer as a type other than the one declared (an upload echoed back as HTML).
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff"}
_RAW_SECURITY_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
_RAW_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # anything else is replaced, never logged
# New IDs: a random per-process prefix and a counter, unique without a uuid4 per request.
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"  # 32 characters, like a uuid4 hex


def incoming_request_id(scope: Scope) -> str | None:
    """The client's X-Request-ID when it is a safe one (else a new one is made)."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _VALID_ID.fullmatch(text) else None
    return None


def _log_path(scope: Scope) -> str:
    """The path percent-encoded, so a %0A in a URL cannot forge a line in a plain-text log."""
    return quote(scope["path"], safe="/!$&'()*+,;=:@-._~")


UNROUTED = "other"  # the route label of every request no route took: a bounded label set


def _route_label(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or UNROUTED


class RequestContextMiddleware:
    """Per HTTP request: X-Request-ID (echoed or generated) on the response and in every log
    line, the security headers, in-flight gauge, latency and count by route and status, one
    access log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = incoming_request_id(scope) or new_request_id()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                # Appended as raw pairs: no answer of the app sets these itself, and a
                # MutableHeaders update would scan the list once per header.
                headers = list(message.get("headers", ()))
                headers.append((_RAW_REQUEST_ID, rid.encode("latin-1")))
                headers += _RAW_SECURITY_HEADERS
                message["headers"] = headers
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], _log_path(scope))
            if response_started:
                raise
            await internal_error_response(scope["path"])(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, status, time.perf_counter() - started)
            request_id.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        self.metrics.request_done(_route_label(scope), status, seconds)
        # Refusals under overload are counted in /metrics and summarised by the service, not
        # logged one by one: a log line per refusal would cost as much as the refusal.
        level = logging.DEBUG if status == 503 else logging.INFO
        if access_log.isEnabledFor(level):
            path = _log_path(scope)
            access_log.log(
                level,
                "%s %s %d %.1fms",
                scope["method"],
                path,
                status,
                seconds * 1000,
                extra={"method": scope["method"], "path": path, "status": status},
            )


class OneLineStartupFailure:
    """Turns the traceback Starlette reports for a known start-up failure into one line.

    Starlette sends the whole traceback in ``lifespan.startup.failed`` and uvicorn logs it; for a
    ``StartupError`` (bad checkpoint, bad settings) the last line says everything.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_short(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                last = message.get("message", "").strip().splitlines()[-1:] or [""]
                prefix = f"{StartupError.__module__}.{StartupError.__qualname__}: "
                if last[0].startswith(prefix):
                    message = {**message, "message": "startup failed: " + last[0][len(prefix) :]}
            await send(message)

        await self.app(scope, receive, send_short)
