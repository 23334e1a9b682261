"""The app factory: ``create_app`` builds the app when asked (``gennet serve``, or
``uvicorn --factory app.main:create_app``), from the environment's settings; importing this module
builds nothing. The checkpoint is loaded once, in the lifespan, before the first request.
"""

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app.errors import QUEUE_FULL, StartupError
from app.http import handlers
from app.http.deps import ApiKey
from app.http.gate import AdmissionGate
from app.http.middleware import OneLineStartupFailure, RequestContextMiddleware
from app.logging import configure_logging
from app.pipeline.service import Service
from app.protocols import predict
from app.protocols.fastpath import PredictFastPath
from app.protocols.v2 import routes as v2
from app.routes import demo, health, metrics, model
from app.runtime import RuntimeBuilder, build_runtime
from app.settings import Settings
from gennet.errors import GenNetError

DESCRIPTION = """Gender classification (male / female) of person crops, micro-batched.

Errors always have the shape `{"error": {"code": "...", "message": "..."}}`; every response
carries an `X-Request-ID` header (the one sent, or a new one).
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    service: Service = app.state.service
    try:
        await service.start()
    except GenNetError as exc:  # a bad checkpoint: one line, not a traceback
        raise StartupError(str(exc)) from None
    try:
        yield
    finally:
        await service.stop()


def create_app(
    settings: Settings | None = None, *, runtime_builder: RuntimeBuilder = build_runtime
) -> FastAPI:
    """Build the app; ``runtime_builder`` lets tests serve a fake predictor."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)
    service = Service(settings, runtime_builder)
    app = FastAPI(
        title="GenNet",
        summary="Gender classification of person crops",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        docs_url=None,  # app.routes.demo serves /docs with Swagger UI from app/static
        redoc_url=None,
        # Prometheus (/metrics) is the service's telemetry; FastAPI's OpenTelemetry bridge would
        # look up OTel providers on every request, for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = service
    # The key check is mounted only when a key is set, so /docs declares security exactly then.
    protected = [ApiKey] if settings.api_key is not None else []
    for router in (predict.router, model.router, v2.models):
        app.include_router(router, dependencies=protected)
    for router in (health.router, metrics.router, v2.router):
        app.include_router(router)
    demo.install(app)
    app.openapi = _openapi_with_limits(app, settings)  # type: ignore[method-assign]
    handlers.install(app)
    app.add_middleware(PredictFastPath, service=service)
    refused = functools.partial(service.metrics.reject, QUEUE_FULL.code)
    app.add_middleware(AdmissionGate, admission=service.admission, on_refusal=refused)
    app.add_middleware(RequestContextMiddleware, metrics=service.metrics)
    app.add_middleware(OneLineStartupFailure)
    return app


def _openapi_with_limits(app: FastAPI, settings: Settings) -> Callable[[], dict[str, Any]]:
    """The generated schema, plus the limits that are settings (files per batch request)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = app.openapi_schema
        if schema is None:
            schema = generate()  # FastAPI caches it in app.openapi_schema
            predict.document_limits(schema, settings.max_batch_items)
        return schema

    return openapi
