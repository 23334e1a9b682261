"""POST /predict and POST /predict/batch."""

import asyncio
import copy
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.deps import ServiceDep
from app.disconnect import while_connected
from app.handlers import KNOWN_ERRORS, describe, error_responses
from app.schemas import (
    BatchItemError,
    BatchPrediction,
    BatchResponse,
    Prediction,
    Probabilities,
)
from app.service import Service, within
from app.uploads import MULTIPART, read_image, read_images

router = APIRouter(tags=["predict"])

TTA = Annotated[
    bool, Query(description="Also predict the mirrored crop and average the two probabilities.")
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


def _scores(service: Service, prob: float) -> dict[str, Any]:
    label = service.label(prob)
    return {
        "label": label,
        "score": prob if label == "male" else 1.0 - prob,
        "probabilities": Probabilities(male=prob, female=1.0 - prob),
    }


def _elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)


@router.post(
    "/predict",
    summary="Classify one person crop",
    response_model=Prediction,
    responses=error_responses(400, 401, 413, 415, 422, 500, 503, 504),
    openapi_extra=_ONE_IMAGE,
)
async def predict(request: Request, service: ServiceDep, tta: TTA = False) -> Prediction:
    started = time.monotonic()
    service.ensure_ready()
    service.ensure_room()  # full: refuse before reading the upload
    deadline = service.deadline(started)
    async with within(deadline):  # a slow upload is answered 504 too
        data = await read_image(request, service.settings.max_upload_bytes)
    prob = await while_connected(request.receive, service.predict(data, tta, deadline))
    return Prediction(
        **_scores(service, prob), tta=tta, model=service.model_ref, latency_ms=_elapsed_ms(started)
    )


async def _batch_item(
    service: Service, index: int, data: bytes, tta: bool, deadline: float
) -> BatchPrediction | BatchItemError:
    try:
        prob = await service.predict(data, tta, deadline)
    except KNOWN_ERRORS as exc:
        _, detail = describe(exc)
        service.metrics.reject(detail.code)
        return BatchItemError(index=index, error=detail)
    return BatchPrediction(index=index, **_scores(service, prob))


@router.post(
    "/predict/batch",
    summary="Classify many person crops (e.g. every person in a frame)",
    response_model=BatchResponse,
    responses=error_responses(401, 413, 415, 422, 503, 504),
    openapi_extra=_MANY_IMAGES,
)
async def predict_batch(request: Request, service: ServiceDep, tta: TTA = False) -> BatchResponse:
    started = time.monotonic()
    service.ensure_ready()
    service.ensure_room()
    s = service.settings
    deadline = service.deadline(started)
    async with within(deadline):
        images = await read_images(request, s.max_upload_bytes, s.max_batch_items)
    work = asyncio.gather(
        *(_batch_item(service, i, d, tta, deadline) for i, d in enumerate(images))
    )
    results = await while_connected(request.receive, work)
    return BatchResponse(
        results=list(results), tta=tta, model=service.model_ref, latency_ms=_elapsed_ms(started)
    )
