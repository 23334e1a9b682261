"""Open Inference Protocol (KServe v2) REST routes: a second thin protocol over the same service.

Inference takes the one request path (``app.protocols.adapter.serve``): readiness and admission,
the request deadline, the byte cap on the body, the pipeline for every element (so the
micro-batcher batches the elements of a tensor with everything else in flight), the camera's
calibrated threshold, the metrics and the API key; :class:`Infer` only parses the protocol's
messages (``messages``) and renders its answer. Errors come from the app's one error table
(``app.errors``), rendered by ``app.http.handlers`` in the protocol's ``{"error": "..."}`` shape.
"""

import asyncio
import functools
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import Receive, Scope

from app.errors import UnsupportedMediaTypeError
from app.http.deps import ServiceDep
from app.http.handlers import error_responses
from app.http.uploads import read_body
from app.pipeline.job import Decision, Options, Outcome
from app.pipeline.service import Service
from app.protocols.adapter import Parsed, serve
from app.protocols.v2 import messages as oip
from gennet.calibration import CAMERA_PATTERN

PREFIX = "/v2"
_TAG = "open inference protocol"
_PARSE_IN_THREAD_BYTES = 64 * 1024  # a large JSON tensor would hold the event loop for ms
# Large bodies are parsed one at a time: a parse's memory is a multiple of its body (the JSON
# tape), so parsing a burst of them at once would multiply it; they wait their turn instead.
_PARSER = ThreadPoolExecutor(1, thread_name_prefix="gennet-v2-parse")


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(*statuses, model=oip.ErrorBody)


# Open like /health: probes and discovery.
router = APIRouter(prefix=PREFIX, tags=[_TAG])
# Behind the API key like /predict and /model.
models = APIRouter(prefix=PREFIX, tags=[_TAG])


def _server_version() -> str:
    try:
        return version("gennet")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@router.get("", summary="Server metadata", response_model=oip.ServerMetadata)
async def server_metadata() -> dict[str, Any]:
    return oip.server_metadata(_server_version())


@router.get("/health/live", summary="The server is live", response_model=oip.Live)
async def live() -> oip.Live:
    return oip.Live(live=True)


@router.get(
    "/health/ready",
    summary="The server is ready for inference",
    response_model=oip.Ready,
    responses={503: {"model": oip.Ready, "description": "Starting or draining."}},
)
async def ready(service: ServiceDep) -> JSONResponse:
    is_ready = service.state == "ready"
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


def _versioned(path: str) -> tuple[str, str]:
    return (
        f"/models/{{model_name}}{path}",
        f"/models/{{model_name}}/versions/{{model_version}}{path}",
    )


def _both(
    attach: Callable[..., Callable[[Callable[..., Any]], Any]], path: str, **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an endpoint on the model's path and on its /versions/{v} path."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        plain, versioned = _versioned(path)
        attach(plain, **kwargs)(_without_version(endpoint))
        attach(versioned, **kwargs)(endpoint)
        return endpoint

    return register


def _without_version(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` with ``model_version`` fixed to None, so FastAPI sees no such parameter."""
    signature = inspect.signature(endpoint)

    @functools.wraps(endpoint)
    async def plain(**kwargs: Any) -> Any:
        return await endpoint(model_version=None, **kwargs)

    params = [p for p in signature.parameters.values() if p.name != "model_version"]
    plain.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return plain


@_both(
    router.get,
    "/ready",
    summary="The model is ready for inference",
    response_model=oip.ModelReady,
    responses={503: {"model": oip.Ready, "description": "Starting or draining."}, **_errors(404)},
)
async def model_ready(service: ServiceDep, model_name: str, model_version: str | None) -> Response:
    if service.state == "starting":  # the model (and so its name) is not known yet
        return JSONResponse({"ready": False}, status_code=503)
    oip.check_model(service.runtime.meta, model_name, model_version)
    is_ready = service.state == "ready"
    body = oip.ModelReady(name=model_name, ready=is_ready).model_dump()
    return JSONResponse(body, status_code=200 if is_ready else 503)


@_both(
    models.get,
    "",
    summary="Model metadata: inputs, outputs, threshold, normalisation",
    response_model=oip.ModelMetadata,
    responses=_errors(401, 404, 503),
)
async def model_metadata(
    service: ServiceDep, model_name: str, model_version: str | None
) -> dict[str, Any]:
    runtime = service.runtime
    oip.check_model(runtime.meta, model_name, model_version)
    return oip.model_metadata(runtime.meta, runtime.kind)


_TENSOR_DOC = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string", "enum": [oip.ENCODED, oip.PREPROCESSED]},
        "datatype": {"type": "string", "enum": ["BYTES", "FP32"]},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "data": {"type": "array", "description": "base64 strings (BYTES) or numbers (FP32)"},
        "parameters": {"type": "object"},
    },
}
_INFER_BODY = {
    "requestBody": {
        "required": True,
        "description": (
            f"One input: {oip.ENCODED} (BYTES [N], base64 strings in JSON) or {oip.PREPROCESSED} "
            "(FP32 [N, 3, H, W]). With the binary tensor data extension, the JSON header is "
            f"followed by raw tensors and its length is sent in {oip.BINARY_HEADER}."
        ),
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "tta": {"type": "boolean"},
                                "binary_data_output": {"type": "boolean"},
                                "camera": {"type": "string", "pattern": CAMERA_PATTERN},
                            },
                        },
                        "inputs": {
                            "type": "array",
                            "items": _TENSOR_DOC,
                            "minItems": 1,
                            "maxItems": 1,
                        },
                        "outputs": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "enum": list(oip.OUTPUTS)},
                                    "parameters": {
                                        "type": "object",
                                        "properties": {"binary_data": {"type": "boolean"}},
                                    },
                                },
                            },
                        },
                    },
                }
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "parameters": [
        {
            "name": oip.BINARY_HEADER,
            "in": "header",
            "required": False,
            "description": "Length of the JSON header when binary tensor data follows it.",
            "schema": {"type": "integer", "minimum": 0},
        }
    ],
}
_BINARY_ANSWER = {
    200: {
        "description": (
            f"The outputs; when any is binary, {oip.BINARY_HEADER} gives the JSON header's length"
        ),
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@_both(
    models.post,
    "/infer",
    summary="Classify person crops (BYTES or FP32 tensor, JSON or binary data)",
    response_model=oip.InferResponse,
    responses={**_BINARY_ANSWER, **_errors(400, 401, 404, 413, 415, 500, 503, 504)},
    openapi_extra=_INFER_BODY,
)
async def infer(
    request: Request, service: ServiceDep, model_name: str, model_version: str | None
) -> Response:
    service.ensure_ready()
    oip.check_model(service.runtime.meta, model_name, model_version)
    if request.headers.get("content-encoding", "identity").lower() != "identity":
        raise UnsupportedMediaTypeError("compressed request bodies are not supported")
    return await serve(INFER, service, request.scope, request.receive)


class Infer:
    """``POST .../infer``: a BYTES or FP32 tensor in, ``prob_male`` and ``label`` out; the
    request is answered with its first error (the protocol has no per-element errors)."""

    fail_fast = True

    async def parse(
        self, service: Service, scope: Scope, receive: Receive, deadline: float
    ) -> Parsed[oip.InferRequest]:
        settings = service.settings
        body = await read_body(scope, receive, settings.max_upload_bytes, deadline)
        header_length = Headers(scope=scope).get(oip.BINARY_HEADER)
        spec = service.runtime.meta.preprocess_spec

        def parse() -> oip.InferRequest:
            return oip.parse_infer_request(body, header_length, spec, settings.max_batch_items)

        if len(body) < _PARSE_IN_THREAD_BYTES:
            message = parse()
        else:
            message = await asyncio.get_running_loop().run_in_executor(_PARSER, parse)
        crops = (
            message.images
            if message.images is not None
            else list(message.arrays)
            if message.arrays is not None
            else []
        )
        tta = settings.tta if message.tta is None else message.tta
        return Parsed(crops, Options(tta, message.camera), message)

    def render(
        self,
        service: Service,
        parsed: Parsed[oip.InferRequest],
        outcomes: list[Outcome],
        arrived: float,
    ) -> Response:
        decisions = [d for d in outcomes if isinstance(d, Decision)]  # fail_fast: all are
        options = parsed.options
        content, header_length = oip.encode_infer_response(
            service.runtime.meta,
            parsed.message,
            [d.prob_male for d in decisions],
            [d.label for d in decisions],
            service.threshold_for(options.camera),
            options.tta,
        )
        if header_length is None:
            return Response(content, media_type="application/json")
        headers = {oip.BINARY_HEADER: str(header_length)}
        return Response(content, media_type="application/octet-stream", headers=headers)


INFER = Infer()
