"""The single-file checkpoint: weights plus everything needed to use them, validated on load.

A checkpoint is ``torch.save({"meta": <CheckpointMeta as plain data>, "state_dict": ...})`` and is
read back with ``torch.load(weights_only=True)``, so loading never executes pickled code.
"""

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field, ValidationError
from torch import nn

from gennet.errors import CheckpointError, GenNetError
from gennet.models import create_model
from gennet.preprocess import PreprocessSpec

FORMAT_VERSION = 1
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "model_store" / "gennet.pt"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointMeta(BaseModel):
    """Everything a checkpoint says besides its weights."""

    format_version: int = FORMAT_VERSION
    name: str = "gennet"
    version: str = "1.0.0"
    arch: str
    arch_kwargs: dict[str, Any] = Field(default_factory=dict)
    input_size: tuple[int, int] = (256, 128)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    class_names: tuple[str, str] = ("male", "female")
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    metrics: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    recipe: dict[str, Any] = Field(default_factory=dict)
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    weights_sha256: str = ""

    @property
    def preprocess_spec(self) -> PreprocessSpec:
        return PreprocessSpec(self.input_size, self.mean, self.std)


def default_checkpoint_path() -> Path:
    """``GENNET_MODEL_PATH`` when set, else the shipped ``model_store/gennet.pt``."""
    return Path(os.environ.get("GENNET_MODEL_PATH") or DEFAULT_CHECKPOINT)


def weights_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """A digest of names, dtypes, shapes and bytes of every tensor, in name order."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_checkpoint(path: Path, model: nn.Module, meta: CheckpointMeta) -> CheckpointMeta:
    """Write ``model``'s weights and ``meta`` (with the weights' digest filled in) to ``path``."""
    state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    meta = meta.model_copy(update={"weights_sha256": weights_sha256(state_dict)})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"meta": meta.model_dump(mode="json"), "state_dict": state_dict}, tmp)
    tmp.replace(path)
    return meta


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason[:160]})") from None
    if not isinstance(payload, dict) or not {"meta", "state_dict"} <= payload.keys():
        raise CheckpointError(f"{path}: not a GenNet checkpoint (no 'meta' and 'state_dict')")
    return payload


def read_meta(path: Path) -> tuple[CheckpointMeta, dict[str, torch.Tensor]]:
    """Read and validate a checkpoint's metadata and weights digest (no model is built)."""
    payload = _read(path)
    try:
        meta = CheckpointMeta.model_validate(payload["meta"])
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise CheckpointError(f"{path}: invalid metadata field {field!r}: {first['msg']}") from None
    if meta.format_version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {meta.format_version} is not supported (expected {FORMAT_VERSION})"
        )
    state_dict = payload["state_dict"]
    if weights_sha256(state_dict) != meta.weights_sha256:
        raise CheckpointError(
            f"{path}: weights do not match their SHA-256 (file tampered or corrupt)"
        )
    return meta, state_dict


def load_checkpoint(path: Path | None = None) -> tuple[nn.Module, CheckpointMeta]:
    """Load, validate and build the model of a checkpoint, in eval mode on the CPU."""
    path = Path(path) if path is not None else default_checkpoint_path()
    meta, state_dict = read_meta(path)
    try:
        model = create_model(meta.arch, **meta.arch_kwargs)
        model.load_state_dict(state_dict, strict=True)
    except (GenNetError, TypeError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())  # torch's first line alone says nothing
        raise CheckpointError(
            f"{path}: weights do not fit architecture {meta.arch!r}: {reason[:200]}"
        ) from None
    return model.eval(), meta
