"""The gate in front of the app: arrival time for every request, and the bound on inference
requests in flight (``app.pipeline.admission``), enforced before routing, parsing or reading the
body.

Refusing must cost far less than answering, or overload turns into collapse: a refused request
here costs a counter, one pre-encoded 503 in its protocol's shape and no log line (the service
logs a periodic summary). Its position: inside ``RequestContextMiddleware`` (so even a refusal
carries an ``X-Request-ID`` and is counted by status), outside FastAPI. Under ``gennet serve`` most
refusals happen earlier still, in the HTTP protocol (``app.http.server``), against the same
:class:`~app.pipeline.admission.Admission`; this gate is the bound for any other ASGI server and
for what passes the protocol's check at the same moment.
"""

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import QUEUE_FULL
from app.http.handlers import preencoded
from app.pipeline.admission import Admission

ARRIVED = "gennet.arrived"  # scope key: time.monotonic() when the server received the request
BODY_COMPLETE = "gennet.body_complete"  # scope key: True once the server holds the whole body


def arrival(scope: Scope) -> float:
    """When the request arrived (stamped by the HTTP protocol or by the gate), monotonic."""
    return scope.get(ARRIVED) or time.monotonic()


def body_complete(scope: Scope) -> bool:
    """Whether the whole request body has arrived (said by ``gennet serve``'s HTTP protocol;
    False under other servers, which then read it under the deadline guard)."""
    return scope.get(BODY_COMPLETE, False)


def is_inference(method: str, path: str) -> bool:
    """Requests that do model work: POST /predict, /predict/batch and /v2/.../infer."""
    return method == "POST" and (path.startswith("/predict") or path.endswith("/infer"))


class AdmissionGate:
    """Stamps the arrival time; answers 503 ``queue_full`` at once when the inference requests
    in flight are at their limit (the refused request's body is never read)."""

    def __init__(self, app: ASGIApp, admission: Admission, on_refusal: Callable[[], None]) -> None:
        self.app = app
        self.admission = admission
        self._on_refusal = on_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault(ARRIVED, time.monotonic())
        if not is_inference(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        admission = self.admission
        declared = _declared_length(scope)
        if admission.requests_full() or not admission.room_for_body(declared or 0):
            self._on_refusal()
            headers, body = preencoded(QUEUE_FULL, scope["path"])  # a fresh header list
            await send(
                {"type": "http.response.start", "status": QUEUE_FULL.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})
            return
        admission.requests += 1
        held, counted = 0, None
        if declared is not None and declared <= admission.capacity.body_bytes:
            admission.take_body_bytes(declared, declared)  # it fits: room_for_body said so
            held = declared
        else:  # chunked, or over the budget (then over the body limit, refused as it arrives)
            receive = counted = _Counted(admission, receive)
        try:
            await self.app(scope, receive, send)
        finally:
            admission.requests -= 1
            admission.release_body_bytes(held + (counted.held if counted else 0))


class _Counted:
    """A request's ``receive`` that counts the body bytes it holds against the budget as they
    arrive (for a body without a Content-Length)."""

    __slots__ = ("_admission", "_receive", "held")

    def __init__(self, admission: Admission, receive: Receive) -> None:
        self._admission = admission
        self._receive = receive
        self.held = 0

    async def __call__(self) -> Message:
        message = await self._receive()
        size = len(message.get("body", b""))
        if size:
            self._admission.take_body_bytes(size, self.held + size)
            self.held += size
        return message


def _declared_length(scope: Scope) -> int | None:
    """The body's Content-Length; None when not declared or not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
