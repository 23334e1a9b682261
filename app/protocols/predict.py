"""POST /predict and POST /predict/batch: the service's own protocol, as adapters of the pipeline.

``/predict`` takes one crop (a multipart field ``file`` or a raw ``image/*`` body) and answers its
decision or its error; ``/predict/batch`` takes many (``files``) and answers each one's decision
or error in order. Everything else (admission, deadline, batching, decision) is the pipeline's
(``app.protocols.adapter.serve``).
"""

import copy
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic_core import to_json
from starlette.types import Receive, Scope

from app.http.deps import ServiceDep
from app.http.handlers import KNOWN_ERRORS, describe, error_responses
from app.http.uploads import MULTIPART, read_image, read_images
from app.pipeline.job import Decision, Options, Outcome
from app.pipeline.service import Service
from app.protocols.adapter import Parsed, serve
from app.schemas import BatchResponse, Prediction
from gennet.calibration import CAMERA_PATTERN
from gennet.decision import probabilities

QUERY_PARAMETERS = ("tta", "camera")


def _said_once(request: Request) -> None:
    """A query parameter said more than once is refused (422), not settled by keeping one value."""
    keys = [key for key, _ in request.query_params.multi_items()]
    for name in QUERY_PARAMETERS:
        if keys.count(name) > 1:
            error = {"type": "value_error", "loc": ("query", name), "input": None}
            raise RequestValidationError([{**error, "msg": f"{name} given more than once"}])


router = APIRouter(tags=["predict"], dependencies=[Depends(_said_once)])

TTA = Annotated[
    bool | None,
    Query(
        description="Also predict the mirrored crop and average the two probabilities "
        "(default: GENNET_TTA)."
    ),
]
Camera = Annotated[
    str | None,
    Query(
        description="The camera the crop comes from: its calibrated threshold applies "
        "(GENNET_CALIBRATION_PATH); an unknown camera gets the default threshold.",
        pattern=CAMERA_PATTERN,
    ),
]
_BINARY = {"type": "string", "format": "binary"}
_ONE_IMAGE = {
    "requestBody": {
        "required": True,
        "description": "One person crop (JPEG, PNG, WebP, BMP, TIFF, GIF: any mode).",
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": _BINARY}, "required": ["file"]}
            },
            "image/*": {"schema": _BINARY},
        },
    }
}
_MANY_IMAGES = {
    "requestBody": {
        "required": True,
        "description": "Person crops as repeated 'files' parts (at most GENNET_MAX_BATCH_ITEMS).",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"files": {"type": "array", "items": _BINARY, "minItems": 1}},
                    "required": ["files"],
                }
            }
        },
    }
}


def document_limits(schema: dict[str, Any], max_items: int) -> None:
    """Write the configured most files per batch request into the app's OpenAPI ``schema``."""
    operation = schema["paths"]["/predict/batch"]["post"]
    body = copy.deepcopy(operation["requestBody"])  # FastAPI shares _MANY_IMAGES between apps
    body["content"][MULTIPART]["schema"]["properties"]["files"]["maxItems"] = max_items
    operation["requestBody"] = body


def _scored(decision: Decision, class_names: tuple[str, str]) -> dict[str, Any]:
    probs = probabilities(decision.prob_male, class_names)
    return {"label": decision.label, "score": decision.score, "probabilities": probs}


def _answer(
    service: Service, body: dict[str, Any], options: Options, threshold: float, arrived: float
) -> Response:
    """The JSON answer, serialised once, by pydantic-core's encoder (a fifth of the stdlib's
    cost, on the event loop): built as plain data (the response models document it)."""
    body["tta"] = options.tta
    body["camera"] = options.camera
    body["threshold"] = threshold
    body["model"] = service.model_ref_data
    body["latency_ms"] = round((time.monotonic() - arrived) * 1000, 3)
    return Response(to_json(body), media_type="application/json")


@dataclass(frozen=True, slots=True)
class _Query:
    """What both routes take in their query."""

    tta: bool | None  # None: not said, the service's default (GENNET_TTA) applies
    camera: str | None

    def options(self, service: Service) -> Options:
        return Options(service.settings.tta if self.tta is None else self.tta, self.camera)


@dataclass(frozen=True, slots=True)
class OneCrop(_Query):
    """``POST /predict``: its crop's decision, or its error as the answer's."""

    fail_fast = True

    async def parse(
        self, service: Service, scope: Scope, receive: Receive, deadline: float
    ) -> Parsed[None]:
        data = await read_image(scope, receive, service.settings.max_upload_bytes, deadline)
        return Parsed((data,), self.options(service), None)

    def render(
        self, service: Service, parsed: Parsed[None], outcomes: list[Outcome], arrived: float
    ) -> Response:
        (decision,) = outcomes  # fail_fast: an error was raised instead
        assert isinstance(decision, Decision)
        body = _scored(decision, service.runtime.meta.class_names)
        return _answer(service, body, parsed.options, decision.threshold, arrived)


@router.post(
    "/predict",
    summary="Classify one person crop",
    response_model=Prediction,
    responses=error_responses(400, 401, 413, 415, 422, 500, 503, 504),
    openapi_extra=_ONE_IMAGE,
)
async def predict(
    request: Request, service: ServiceDep, tta: TTA = None, camera: Camera = None
) -> Response:
    return await serve(OneCrop(tta, camera), service, request.scope, request.receive)


@dataclass(frozen=True, slots=True)
class ManyCrops(_Query):
    """``POST /predict/batch``: every crop's decision or error, in order."""

    fail_fast = False

    async def parse(
        self, service: Service, scope: Scope, receive: Receive, deadline: float
    ) -> Parsed[None]:
        s = service.settings
        images = await read_images(scope, receive, s.max_upload_bytes, s.max_batch_items, deadline)
        return Parsed(images, self.options(service), None)

    def render(
        self, service: Service, parsed: Parsed[None], outcomes: list[Outcome], arrived: float
    ) -> Response:
        names = service.runtime.meta.class_names
        results = [_item(service, i, outcome, names) for i, outcome in enumerate(outcomes)]
        threshold = service.threshold_for(parsed.options.camera)
        return _answer(service, {"results": results}, parsed.options, threshold, arrived)


def _item(
    service: Service, index: int, outcome: Outcome, class_names: tuple[str, str]
) -> dict[str, Any]:
    if isinstance(outcome, Decision):
        return {**_scored(outcome, class_names), "index": index}
    if isinstance(outcome, KNOWN_ERRORS):
        _, detail = describe(outcome)
        service.metrics.reject(detail.code)
        return {"index": index, "error": detail.model_dump()}
    raise outcome  # unknown: the last-resort 500


@router.post(
    "/predict/batch",
    summary="Classify many person crops (e.g. every person in a frame)",
    response_model=BatchResponse,
    responses=error_responses(401, 413, 415, 422, 503, 504),
    openapi_extra=_MANY_IMAGES,
)
async def predict_batch(
    request: Request, service: ServiceDep, tta: TTA = None, camera: Camera = None
) -> Response:
    return await serve(ManyCrops(tta, camera), service, request.scope, request.receive)
