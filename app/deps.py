"""Route dependencies as ``Annotated`` aliases: the service, and the API key check."""

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.errors import UnauthorizedError
from app.service import Service

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <GENNET_API_KEY>")
_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="X-API-Key: <GENNET_API_KEY>"
)


def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


def require_api_key(
    service: ServiceDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> None:
    """401 unless GENNET_API_KEY is unset or the request carries it (constant-time compare)."""
    expected = service.settings.api_key
    if expected is None:
        return
    supplied = bearer.credentials if bearer is not None else header
    if supplied is None or not hmac.compare_digest(
        supplied.encode(), expected.get_secret_value().encode()
    ):
        raise UnauthorizedError()


ApiKey = Depends(require_api_key)
