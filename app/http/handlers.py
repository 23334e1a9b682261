"""The one place that turns exceptions into HTTP answers, in the shape of the caller's protocol.

Status, code, message, headers and metric label come from ``app.errors``' table; only the body's
shape depends on the protocol, chosen by the request's path: ``{"error": {"code", "message"}}``,
or ``{"error": "<message>"}`` on the Open Inference Protocol's ``/v2`` paths (what its clients,
``tritonclient`` among them, read). Whoever answers an error (a route, the API key check, the
router's 404/405, the last-resort 500, the refusal at the connection) renders it here.

Unknown exceptions are logged with their traceback by ``app.http.middleware`` and answered with
:func:`internal_error_response`; no answer ever carries a traceback, a path or a version.
"""

import json
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
    ErrorKind,
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


V2_PREFIX = "/v2"


def speaks_v2(path: str) -> bool:
    """Whether ``path`` is one of the Open Inference Protocol's."""
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def error_body(path: str, detail: ErrorDetail) -> dict[str, Any]:
    """The error body in the shape of ``path``'s protocol."""
    if speaks_v2(path):
        return {"error": detail.message}
    return ErrorResponse(error=detail).model_dump()


def error_response(
    path: str, status: int, detail: ErrorDetail, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(path, detail), status_code=status, headers=headers)


def internal_error_response(path: str) -> JSONResponse:
    detail = ErrorDetail(code=INTERNAL_ERROR.code, message=INTERNAL_ERROR.message)
    return error_response(path, INTERNAL_ERROR.status, detail)


def preencoded(kind: ErrorKind, path: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of ``kind``'s answer with its default message, for code that writes
    answers itself (the refusals at the connection and at the gate), encoded once per kind and
    protocol."""
    body = _PREENCODED[kind.code, speaks_v2(path)]
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in kind.headers.items()),
    ]
    return headers, body


_PREENCODED = {
    (kind.code, v2): json.dumps(
        error_body(V2_PREFIX if v2 else "/", ErrorDetail(code=kind.code, message=kind.message)),
        separators=(",", ":"),
    ).encode()
    for kind in ERROR_KINDS
    for v2 in (False, True)
}


def _metrics(request: Request) -> Metrics:
    return request.app.state.service.metrics


def known_error_response(exc: Exception, metrics: Metrics, path: str) -> JSONResponse:
    """The answer to a known error (counted as a refusal by its code)."""
    status, detail = describe(exc)
    metrics.reject(detail.code)
    kind = kind_of(exc)
    return error_response(path, status, detail, kind.headers if kind else None)


async def _known_error(request: Request, exc: Exception) -> JSONResponse:
    return known_error_response(exc, _metrics(request), request.scope["path"])


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "query")
    message = f"{where}: {first.get('msg', 'invalid value')}" if where else "invalid request"
    _metrics(request).reject(INVALID_REQUEST.code)
    detail = ErrorDetail(code=INVALID_REQUEST.code, message=message)
    return error_response(request.scope["path"], INVALID_REQUEST.status, detail)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kind = _BY_STATUS.get(exc.status_code)
    code = kind.code if kind else "http_error"
    detail = ErrorDetail(code=code, message=str(exc.detail))
    return error_response(request.scope["path"], exc.status_code, detail, exc.headers)


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
