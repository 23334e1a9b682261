"""The single-file checkpoint: weights plus everything needed to use them, validated on load.

A checkpoint is ``torch.save({"meta": <CheckpointMeta as plain data>, "state_dict": ...})`` and is
read back with ``torch.load(weights_only=True)``, so loading never executes pickled code.

This module imports torch only inside the functions that need tensors: serving with ONNX Runtime
reads a checkpoint's metadata with :func:`peek_meta`, which needs no torch.
"""

from __future__ import annotations

import collections
import hashlib
import os
import pickle
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError

from gennet.decision import CLASS_NAMES
from gennet.errors import CheckpointError, GenNetError
from gennet.preprocess import DEFAULT_INPUT_SIZE, PreprocessSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

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
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    class_names: tuple[str, str] = CLASS_NAMES
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
    import torch

    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous().reshape(-1)
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def save_checkpoint(path: Path, model: nn.Module, meta: CheckpointMeta) -> CheckpointMeta:
    """Write ``model``'s weights and ``meta`` (with the weights' digest filled in) to ``path``."""
    import torch

    state_dict = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    meta = meta.model_copy(update={"weights_sha256": weights_sha256(state_dict)})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"meta": meta.model_dump(mode="json"), "state_dict": state_dict}, tmp)
    tmp.replace(path)
    return meta


def _import_torch() -> Any:
    """torch, or a one-line error for a serving install (which reads metadata with peek_meta)."""
    try:
        import torch
    except ImportError:
        raise GenNetError(
            "reading a checkpoint's weights needs torch, which is not installed "
            "(pip install 'gennet[torch]')"
        ) from None
    return torch


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    torch = _import_torch()
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(exc)})") from None
    if not isinstance(payload, dict) or not {"meta", "state_dict"} <= payload.keys():
        raise CheckpointError(f"{path}: not a GenNet checkpoint (no 'meta' and 'state_dict')")
    return payload


def validate_meta(raw: Any, source: Path) -> CheckpointMeta:
    """``raw`` metadata (plain data) as a :class:`CheckpointMeta`; one-line errors naming ``source``."""
    try:
        meta = CheckpointMeta.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise CheckpointError(
            f"{source}: invalid metadata field {field!r}: {first['msg']}"
        ) from None
    if meta.format_version != FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: format version {meta.format_version} is not supported "
            f"(expected {FORMAT_VERSION})"
        )
    return meta


def read_meta(path: Path) -> tuple[CheckpointMeta, dict[str, torch.Tensor]]:
    """A checkpoint's validated metadata and its weights, checked against their SHA-256 digest
    (no model is built)."""
    payload = _read(path)
    meta = validate_meta(payload["meta"], path)
    state_dict = payload["state_dict"]
    if weights_sha256(state_dict) != meta.weights_sha256:
        raise CheckpointError(
            f"{path}: weights do not match their SHA-256 (file tampered or corrupt)"
        )
    return meta, state_dict


def load_checkpoint(path: Path | None = None) -> tuple[nn.Module, CheckpointMeta]:
    """Load, validate and build the model of a checkpoint, in eval mode on the CPU."""
    path = Path(path) if path is not None else default_checkpoint_path()
    meta, state_dict = read_meta(path)  # first: a one-line error where torch is missing
    from gennet.models import create_model

    try:
        model = create_model(meta.arch, **meta.arch_kwargs)
        model.load_state_dict(state_dict, strict=True)
    except (GenNetError, TypeError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())  # torch's first line alone says nothing
        raise CheckpointError(
            f"{path}: weights do not fit architecture {meta.arch!r}: {reason[:200]}"
        ) from None
    return model.eval(), meta


class _MetaOnlyUnpickler(pickle.Unpickler):
    """Reads a ``torch.save`` pickle with every tensor replaced by None: no torch, no code run.

    Only ``collections.OrderedDict`` and torch's tensor/storage rebuild functions may be named;
    the latter become a function that returns None, so the weights are never materialised.
    """

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" or module.startswith("torch."):
            return _no_tensor
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    def persistent_load(self, pid: Any) -> None:
        return None


def _no_tensor(*args: Any, **kwargs: Any) -> None:
    return None


def peek_meta(path: Path) -> CheckpointMeta:
    """A checkpoint's validated metadata, read without torch (the weights are not read).

    The weights digest it returns is the one the checkpoint claims; :func:`read_meta` (torch)
    also checks it against the tensors. Enough to tell whether an ONNX graph was exported from
    this checkpoint, which is all that serving the graph needs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            with archive.open(name) as pickled:
                payload = _MetaOnlyUnpickler(pickled).load()
    except (OSError, zipfile.BadZipFile, StopIteration, pickle.UnpicklingError, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(exc)})") from None
    if not isinstance(payload, dict) or not {"meta", "state_dict"} <= payload.keys():
        raise CheckpointError(f"{path}: not a GenNet checkpoint (no 'meta' and 'state_dict')")
    return validate_meta(payload["meta"], path)
