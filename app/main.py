"""The app factory. ``uvicorn app.main:app`` serves the module-level app, which loads nothing at
import time: the checkpoint is loaded once, in the lifespan, before the first request.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import handlers
from app.errors import StartupError
from app.logging import configure_logging
from app.middleware import OneLineStartupFailure, RequestContextMiddleware
from app.routes import health, metrics, model, predict
from app.runtime import RuntimeBuilder, build_runtime
from app.service import Service
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
    )
    app.state.service = service
    for module in (predict, health, model, metrics):
        app.include_router(module.router)
    handlers.install(app)
    app.add_middleware(RequestContextMiddleware, metrics=service.metrics)
    app.add_middleware(OneLineStartupFailure)
    return app


app = create_app()
