"""POST /predict and POST /predict/batch."""

import asyncio
import copy
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic_core import to_json
from starlette.types import Receive, Scope

from app.http.deps import ServiceDep
from app.http.disconnect import while_connected
from app.http.gate import arrival
from app.http.handlers import KNOWN_ERRORS, describe, error_responses
from app.http.uploads import MULTIPART, read_image, read_images
from app.pipeline.service import Service
from app.schemas import BatchResponse, Prediction
from gennet.calibration import CAMERA_PATTERN
from gennet.decision import decide_with_probability, probabilities

router = APIRouter(tags=["predict"])

TTA = Annotated[
    bool, Query(description="Also predict the mirrored crop and average the two probabilities.")
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


def _scores(service: Service, prob: float, camera: str | None) -> dict[str, Any]:
    names = service.runtime.meta.class_names
    label, score = decide_with_probability(prob, service.threshold_for(camera), names)
    return {"label": label, "score": score, "probabilities": probabilities(prob, names)}


def _answer(
    service: Service, body: dict[str, Any], tta: bool, camera: str | None, arrived: float
) -> Response:
    """The JSON answer, serialised once, by pydantic-core's encoder (a fifth of the stdlib's
    cost, on the event loop): built as plain data (the response models document it)."""
    body["tta"] = tta
    body["camera"] = camera
    body["threshold"] = service.threshold_for(camera)
    body["model"] = service.model_ref_data
    body["latency_ms"] = round((time.monotonic() - arrived) * 1000, 3)
    return Response(to_json(body), media_type="application/json")


async def classify_one(
    service: Service, scope: Scope, receive: Receive, tta: bool, camera: str | None
) -> Response:
    """POST /predict once its query is validated: admit, read the crop, wait for its batch.

    Shared by the FastAPI route and the pure ASGI ``app.http.fastpath`` that serves most requests.
    """
    arrived = arrival(scope)
    deadline = service.admit_request(arrived)
    data = await read_image(scope, receive, service.settings.max_upload_bytes, deadline)
    prob = await while_connected(scope, receive, service.submit(data, tta, deadline, camera))
    return _answer(service, _scores(service, prob, camera), tta, camera, arrived)


@router.post(
    "/predict",
    summary="Classify one person crop",
    response_model=Prediction,
    responses=error_responses(400, 401, 413, 415, 422, 500, 503, 504),
    openapi_extra=_ONE_IMAGE,
)
async def predict(
    request: Request, service: ServiceDep, tta: TTA = False, camera: Camera = None
) -> Response:
    return await classify_one(service, request.scope, request.receive, tta, camera)


def _item_result(
    service: Service, index: int, outcome: float | BaseException, camera: str | None
) -> dict[str, Any]:
    if isinstance(outcome, KNOWN_ERRORS):
        _, detail = describe(outcome)
        service.metrics.reject(detail.code)
        return {"index": index, "error": detail.model_dump()}
    if isinstance(outcome, BaseException):
        raise outcome
    return {**_scores(service, outcome, camera), "index": index}


def _submit_each(
    service: Service, images: list[bytes], tta: bool, deadline: float, camera: str | None
) -> list[asyncio.Future[float]]:
    """One future per image; an image refused at admission gets a future holding its error."""
    futures = []
    for data in images:
        try:
            futures.append(service.submit(data, tta, deadline, camera))
        except KNOWN_ERRORS as exc:
            refused: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            refused.set_exception(exc)
            futures.append(refused)
    return futures


@router.post(
    "/predict/batch",
    summary="Classify many person crops (e.g. every person in a frame)",
    response_model=BatchResponse,
    responses=error_responses(401, 413, 415, 422, 503, 504),
    openapi_extra=_MANY_IMAGES,
)
async def predict_batch(
    request: Request, service: ServiceDep, tta: TTA = False, camera: Camera = None
) -> Response:
    arrived = arrival(request.scope)
    deadline = service.admit_request(arrived)
    s = service.settings
    images = await read_images(
        request.scope, request.receive, s.max_upload_bytes, s.max_batch_items, deadline
    )
    futures = _submit_each(service, images, tta, deadline, camera)
    outcomes = await while_connected(
        request.scope, request.receive, asyncio.gather(*futures, return_exceptions=True)
    )
    results = [_item_result(service, i, o, camera) for i, o in enumerate(outcomes)]
    return _answer(service, {"results": results}, tta, camera, arrived)
