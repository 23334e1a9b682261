"""``POST /predict`` without FastAPI's routing, validation and dependency machinery.

It is the route every camera calls once per crop: at a few hundred requests per second on one
core, FastAPI's per-request work (matching every route, solving dependencies, validating the
query, the exception middlewares) is a measurable share of the CPU the model itself needs. This
pure ASGI layer answers ``POST /predict`` itself when it can do so without judgement: no query,
or only plain ``tta`` and ``camera`` values, and the API key (when one is set) present and right.
Anything else (a bad query value, a missing key, a duplicate parameter) goes on to the FastAPI
route, which answers with the contract's errors. Both serve the same adapter
(``app.protocols.predict.OneCrop``) through the pipeline and render errors with
``app.http.handlers``, so their answers are the same; OpenAPI documents the route as before.
"""

from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.deps import key_matches, supplied_key
from app.http.handlers import KNOWN_ERRORS, known_error_response
from app.pipeline.service import Service
from app.protocols import predict
from app.protocols.adapter import serve
from gennet.calibration import CAMERA_NAME

PATH = "/predict"
_TTA = {"true": True, "1": True, "false": False, "0": False}


def plain_query(query_string: bytes) -> tuple[bool | None, str | None] | None:
    """``(tta, camera)`` of a query the fast path takes as it is (None: not said); None for one
    it leaves to FastAPI's validation (an unusual or bad value, a repeated parameter)."""
    tta: bool | None = None
    camera = None
    if not query_string:
        return tta, camera
    seen: set[str] = set()
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in seen:
            return None
        seen.add(key)
        if key == "tta":
            if value not in _TTA:
                return None
            tta = _TTA[value]
        elif key == "camera":
            if not CAMERA_NAME.fullmatch(value):
                return None
            camera = value
    return tta, camera


class PredictFastPath:
    """Serves plain ``POST /predict`` requests; passes every other request on to ``app``."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self._service = service
        # The FastAPI route: requests served here are counted under its path, as if routed.
        self._route = next(r for r in predict.router.routes if getattr(r, "path", None) == PATH)

    def _authorised(self, scope: Scope) -> bool:
        expected = self._service.settings.api_key
        return expected is None or key_matches(expected, supplied_key(Headers(scope=scope)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = None
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            query = plain_query(scope["query_string"])
        if query is None or not self._authorised(scope):
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route
        try:
            response = await serve(predict.OneCrop(*query), self._service, scope, receive)
        except KNOWN_ERRORS as exc:
            response = known_error_response(exc, self._service.metrics, PATH)
        await response(scope, receive, send)
