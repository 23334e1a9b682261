"""The model runtime: the checkpoint loaded once, a predictor chosen for the device, warmed up.

CPU: ONNX Runtime on the exported graph (much faster than PyTorch eager there). A graph that is
missing or was exported from other weights (its stored digest differs from the checkpoint's) is
re-exported once into ``onnx_cache_dir/<weights_sha256>.onnx`` and reused from there: serving a
stale graph silently would be wrong, and falling back to torch would be several times slower.
GPU: PyTorch on CUDA with FP16 autocast and channels_last (``gennet.inference.TorchPredictor``).
"""

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from app.errors import StartupError
from app.settings import Settings
from gennet.checkpoint import CheckpointMeta, load_checkpoint
from gennet.export import export_onnx, onnx_weights_sha256
from gennet.inference import OnnxPredictor, Predictor, TorchPredictor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """A ready predictor and what it serves."""

    predictor: Predictor
    meta: CheckpointMeta
    kind: str  # "torch" or "onnx"
    device: str
    threads: int


RuntimeBuilder = Callable[[Settings], Runtime]


def usable_cpus() -> int:
    """Cores this process may run on (honours ``taskset``), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def resolve_device(requested: str) -> str:
    has_cuda = torch.cuda.is_available()
    if requested == "auto":
        return "cuda" if has_cuda else "cpu"
    if requested == "cuda" and not has_cuda:
        raise StartupError("GENNET_DEVICE=cuda but torch sees no CUDA device")
    return requested


def resolve_kind(requested: str, device: str) -> str:
    if requested == "auto":
        return "torch" if device == "cuda" else "onnx"
    if requested == "onnx" and device != "cpu":
        raise StartupError("GENNET_RUNTIME=onnx runs on the CPU only; set GENNET_DEVICE=cpu")
    return requested


def _graph_digest(path: Path) -> str | None:
    try:
        return onnx_weights_sha256(path)
    except Exception:  # an unreadable graph is as good as a missing one
        return None


def ensure_onnx(settings: Settings, meta: CheckpointMeta) -> Path:
    """An ONNX graph exported from exactly the checkpoint's weights, exporting one if needed."""
    path = settings.onnx_path or settings.model_path.with_suffix(".onnx")
    cached = settings.onnx_cache_dir / f"{meta.weights_sha256}.onnx"
    for candidate in (path, cached):
        if candidate.is_file() and _graph_digest(candidate) == meta.weights_sha256:
            return candidate
    log.warning(
        "ONNX graph %s is missing or stale; exporting the checkpoint to %s", path.name, cached
    )
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
            exported = Path(tmp) / cached.name
            export_onnx(settings.model_path, exported)
            exported.replace(cached)  # atomic: concurrent starts never see half a file
    except OSError as exc:
        raise StartupError(f"cannot write the ONNX graph to {cached.parent}: {exc}") from None
    return cached


def build_runtime(settings: Settings) -> Runtime:
    """Load the checkpoint once and build the predictor the settings ask for."""
    model, meta = load_checkpoint(settings.model_path)
    device = resolve_device(settings.device)
    kind = resolve_kind(settings.runtime, device)
    threads = settings.threads or usable_cpus()
    predictor: Predictor
    if kind == "onnx":
        predictor = OnnxPredictor(ensure_onnx(settings, meta), threads)
    else:
        if device == "cpu":
            torch.set_num_threads(threads)
        else:
            torch.backends.cudnn.benchmark = True  # pays off: warm-up visits every batch size
        predictor = TorchPredictor(model, device)
    log.info("serving %s %s (%s) with %s on %s", meta.name, meta.version, meta.arch, kind, device)
    return Runtime(predictor, meta, kind, device, threads)


def warm_up(predictor: Predictor, input_size: tuple[int, int], max_rows: int) -> None:
    """Run every batch size the batcher can produce once, so no request pays a first-call cost."""
    height, width = input_size
    for rows in range(1, max_rows + 1):
        predictor(np.zeros((rows, 3, height, width), dtype=np.float32))
