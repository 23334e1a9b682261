"""The one place that turns exceptions into HTTP answers: ``{"error": {"code", "message"}}``.

Unknown exceptions are logged with their traceback by ``app.http.middleware`` and answered with
:func:`internal_error_response`; no answer ever carries a traceback, a path or a version.
"""

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from app.errors import (
    ERROR_KINDS,
    GENNET_ERROR_KINDS,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    ServiceError,
    kind_of,
)
from app.metrics import Metrics
from app.schemas import ErrorDetail, ErrorResponse


def describe(exc: Exception) -> tuple[int, ErrorDetail]:
    """Status and error body of a known exception (ServiceError or a gennet input error)."""
    kind = kind_of(exc)
    if kind is None:
        raise TypeError(f"not a known error: {type(exc).__name__}") from exc
    message = exc.message if isinstance(exc, ServiceError) else str(exc)
    return kind.status, ErrorDetail(code=kind.code, message=message)


KNOWN_ERRORS: tuple[type[Exception], ...] = (ServiceError, *GENNET_ERROR_KINDS)
_BY_STATUS = {kind.status: kind for kind in (NOT_FOUND, METHOD_NOT_ALLOWED)}


def error_response(
    status: int, detail: ErrorDetail, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorResponse(error=detail).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


def internal_error_response() -> JSONResponse:
    return error_response(
        500, ErrorDetail(code=INTERNAL_ERROR.code, message=INTERNAL_ERROR.message)
    )


def _metrics(request: Request) -> Metrics:
    return request.app.state.service.metrics


def known_error_response(exc: Exception, metrics: Metrics) -> JSONResponse:
    """The answer to a known error (counted as a refusal by its code)."""
    status, detail = describe(exc)
    metrics.reject(detail.code)
    kind = kind_of(exc)
    return error_response(status, detail, kind.headers if kind else None)


async def _known_error(request: Request, exc: Exception) -> JSONResponse:
    return known_error_response(exc, _metrics(request))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "query")
    message = f"{where}: {first.get('msg', 'invalid value')}" if where else "invalid request"
    _metrics(request).reject(INVALID_REQUEST.code)
    return error_response(
        INVALID_REQUEST.status, ErrorDetail(code=INVALID_REQUEST.code, message=message)
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kind = _BY_STATUS.get(exc.status_code)
    code = kind.code if kind else "http_error"
    detail = ErrorDetail(code=code, message=str(exc.detail))
    return error_response(exc.status_code, detail, exc.headers)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    for kind in KNOWN_ERRORS:
        app.add_exception_handler(kind, _known_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


def error_responses(
    *statuses: int, model: type[BaseModel] = ErrorResponse
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the given error statuses: each code of the contract
    with that status, and when it happens."""
    return {
        status: {
            "model": model,
            "description": " ".join(
                f"{kind.code}: {kind.when}." for kind in ERROR_KINDS if kind.status == status
            ),
        }
        for status in statuses
    }
