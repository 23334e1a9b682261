"""Health probes: liveness, readiness (503 until warmed up and while draining), a summary."""

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.http.deps import ServiceDep
from app.schemas import Health, Probe

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", summary="The process is up", response_model=Probe)
async def live() -> Probe:
    return Probe(status="alive")


@router.get(
    "/ready",
    summary="The model is loaded and warmed up",
    response_model=Probe,
    responses={503: {"model": Probe, "description": "Starting or draining: send no traffic."}},
)
async def ready(service: ServiceDep) -> JSONResponse:
    status = 200 if service.state == "ready" else 503
    return JSONResponse(Probe(status=service.state).model_dump(), status_code=status)


@router.get("", summary="Service summary", response_model=Health)
async def health(service: ServiceDep) -> Health:
    loaded = service.state != "starting"
    runtime = service.runtime if loaded else None
    return Health(
        status=service.state,
        model=service.model_ref if loaded else None,
        device=runtime.device if runtime else None,
        runtime=runtime.kind if runtime else None,
        precision=runtime.precision if runtime else None,
        tta=service.settings.tta,
        tta_margin=service.settings.tta_margin,
        queue_depth=service.queue_depth,
        uptime_s=round(time.monotonic() - service.created, 3),
    )
