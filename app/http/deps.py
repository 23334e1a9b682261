"""Route dependencies as ``Annotated`` aliases: the service, and the API key check.

Both are ``async``: FastAPI runs a plain ``def`` dependency on its thread pool, a thread hop per
request for nothing.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import SecretStr
from starlette.datastructures import Headers

from app.errors import UnauthorizedError
from app.pipeline.service import Service

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <GENNET_API_KEY>")
_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="X-API-Key: <GENNET_API_KEY>"
)


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def require_api_key(
    service: ServiceDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> None:
    """401 unless the request carries GENNET_API_KEY (constant-time compare).

    ``app.main`` mounts it only when a key is set, so that the OpenAPI schema declares security
    exactly when the deployment enforces it.
    """
    supplied = bearer.credentials if bearer is not None else header
    if not key_matches(service.settings.api_key, supplied):
        raise UnauthorizedError()


def supplied_key(headers: Headers) -> str | None:
    """The key as the two schemes above read it, for code outside FastAPI's dependency system
    (``app.protocols.fastpath``): a Bearer token, else X-API-Key."""
    authorization = headers.get("authorization")
    scheme, credentials = get_authorization_scheme_param(authorization)
    if authorization and scheme and credentials and scheme.lower() == "bearer":
        return credentials
    return headers.get("x-api-key") or None  # empty: none, as APIKeyHeader reads it


def key_matches(expected: SecretStr | None, supplied: str | None) -> bool:
    """Whether ``supplied`` is the API key (constant-time compare); never without a key set."""
    return (
        expected is not None  # mounted without a key: fail closed
        and supplied is not None
        and hmac.compare_digest(supplied.encode(), expected.get_secret_value().encode())
    )


ApiKey = Depends(require_api_key)
