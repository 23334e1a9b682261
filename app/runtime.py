"""The model runtime the service serves: chosen by name from ``gennet.runtimes``, loaded, warmed up.

``GENNET_RUNTIME`` / ``GENNET_DEVICE`` ``auto``: ONNX Runtime on the CPU (the exported graph; torch
is never imported), PyTorch on CUDA; ``GENNET_PRECISION`` picks the graph (``fp32``, ``int8``).
Which graph may serve a checkpoint, and how each runtime loads it, is model-side knowledge
(``gennet.runtimes``); this module only maps the settings onto it.
"""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.settings import Settings
from gennet.checkpoint import CheckpointMeta
from gennet.runtimes import (
    AUTO_PRECISION,
    DEFAULT_PRECISION,
    ModelFiles,
    Predictor,
    choose_precision,
    get_backend,
    resolve,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """A ready predictor and what it serves."""

    predictor: Predictor
    meta: CheckpointMeta
    kind: str  # the runtime's name in gennet.runtimes.BACKENDS ("onnx", "torch")
    device: str
    threads: int
    precision: str = DEFAULT_PRECISION  # a precision the runtime declares ("fp32", "int8")


RuntimeBuilder = Callable[[Settings], Runtime]


def usable_cpus() -> int:
    """Cores this process may run on (honours ``taskset``), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def model_files(settings: Settings, precision: str) -> ModelFiles:
    return ModelFiles(settings.model_path, settings.onnx_path, settings.onnx_cache_dir, precision)


def build_runtime(settings: Settings) -> Runtime:
    """Load the model once with the runtime, device and precision the settings ask for
    (``auto`` precision: ``gennet.runtimes.choose_precision``).

    Raises a ``GenNetError`` (one line) for a bad model file or an impossible runtime choice.
    """
    asked = settings.precision
    first = DEFAULT_PRECISION if asked == AUTO_PRECISION else asked
    kind, device = resolve(settings.runtime, settings.device, first)
    precision = choose_precision(asked, kind, model_files(settings, first))
    threads = settings.threads or usable_cpus()
    loaded = get_backend(kind).load(model_files(settings, precision), device, threads)
    meta = loaded.meta
    what = f"{meta.name} {meta.version} ({meta.arch})"
    log.info("serving %s with %s on %s in %s", what, kind, device, precision)
    return Runtime(loaded.predictor, meta, kind, device, threads, precision)


def warm_up(predictor: Predictor, input_size: tuple[int, int], max_rows: int) -> None:
    """Run every batch size the batcher can produce once, so no request pays a first-call cost."""
    height, width = input_size
    for rows in range(1, max_rows + 1):
        predictor(np.zeros((rows, 3, height, width), dtype=np.float32))
