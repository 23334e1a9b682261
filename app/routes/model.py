"""GET /model: the served checkpoint's metadata and model card figures."""

from typing import Any

from fastapi import APIRouter

from app.http.deps import ServiceDep
from app.http.handlers import error_responses
from app.schemas import CalibrationSummary, ModelCard

router = APIRouter(tags=["model"])

# Training records where its files were; a local path is nobody's business outside.
_PATH_KEYS = frozenset({"root", "data", "out", "init_from"})


def _without_paths(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in _PATH_KEYS}


@router.get(
    "/model",
    summary="Metadata of the served checkpoint (no weights)",
    response_model=ModelCard,
    responses=error_responses(401, 503),
)
async def model(service: ServiceDep) -> ModelCard:
    meta = service.runtime.meta
    card = meta.model_dump(exclude={"format_version"})
    card["data"] = _without_paths(meta.data)
    card["recipe"] = _without_paths(meta.recipe)
    runtime = service.runtime
    card["serving"] = {
        "runtime": runtime.kind,
        "device": runtime.device,
        "precision": runtime.precision,
        "tta": service.settings.tta,
        "tta_margin": service.settings.tta_margin,
    }
    if (calibration := service.calibration) is not None:
        card["calibration"] = CalibrationSummary(
            by=calibration.by,
            mode=calibration.mode,
            default_threshold=calibration.default_threshold,
            cameras={name: group.threshold for name, group in calibration.groups.items()},
        )
    return ModelCard(**card)
