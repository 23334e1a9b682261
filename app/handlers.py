"""The one place that turns exceptions into HTTP answers: ``{"error": {"code", "message"}}``.

Unknown exceptions are logged with their traceback by ``app.middleware`` and answered with
:func:`internal_error_response`; no answer ever carries a traceback, a path or a version.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.errors import ServiceError
from app.metrics import Metrics
from app.schemas import ErrorDetail, ErrorResponse
from gennet.errors import ImageTooLargeError, InvalidImageError

_HEADERS = {
    401: {"WWW-Authenticate": 'Bearer realm="gennet"'},
    503: {"Retry-After": "1"},  # seconds
}
_GENNET_ERRORS: dict[type[Exception], tuple[int, str]] = {
    InvalidImageError: (400, "invalid_image"),
    ImageTooLargeError: (413, "image_too_large"),
}
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def describe(exc: Exception) -> tuple[int, ErrorDetail]:
    """Status and error body of a known exception (ServiceError or a gennet input error)."""
    if isinstance(exc, ServiceError):
        return exc.status, ErrorDetail(code=exc.code, message=exc.message)
    for kind, (status, code) in _GENNET_ERRORS.items():
        if isinstance(exc, kind):
            return status, ErrorDetail(code=code, message=str(exc))
    raise TypeError(f"not a known error: {type(exc).__name__}") from exc


KNOWN_ERRORS = (ServiceError, InvalidImageError, ImageTooLargeError)


def error_response(
    status: int, detail: ErrorDetail, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorResponse(error=detail).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


def internal_error_response() -> JSONResponse:
    return error_response(500, ErrorDetail(code="internal_error", message="internal server error"))


def _metrics(request: Request) -> Metrics:
    return request.app.state.service.metrics


async def _known_error(request: Request, exc: Exception) -> JSONResponse:
    status, detail = describe(exc)
    _metrics(request).reject(detail.code)
    return error_response(status, detail, _HEADERS.get(status))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "query")
    message = f"{where}: {first.get('msg', 'invalid value')}" if where else "invalid request"
    _metrics(request).reject("invalid_request")
    return error_response(422, ErrorDetail(code="invalid_request", message=message))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = ErrorDetail(code=code, message=str(exc.detail))
    return error_response(exc.status_code, detail, exc.headers)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    for kind in KNOWN_ERRORS:
        app.add_exception_handler(kind, _known_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


_DESCRIPTIONS: dict[int, str] = {
    400: "invalid_image: the upload is not a decodable image.",
    401: "unauthorized: an API key is configured and was missing or wrong.",
    413: "payload_too_large (body over GENNET_MAX_UPLOAD_BYTES) or image_too_large "
    "(declared pixels over GENNET_MAX_IMAGE_PIXELS).",
    415: "unsupported_media_type: neither multipart/form-data nor image/*.",
    422: "invalid_request: bad parameter or form (missing field, too many files, bad tta).",
    500: "inference_failed: the model failed on this request's batch.",
    503: "queue_full (overloaded; see Retry-After) or not_ready (starting or draining).",
    504: "deadline_exceeded: not answered within GENNET_REQUEST_TIMEOUT_MS.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error statuses."""
    return {s: {"model": ErrorResponse, "description": _DESCRIPTIONS[s]} for s in statuses}
