"""What every runtime backend shares: the predictor contract, the model files, the backend interface."""

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

from gennet.checkpoint import DEFAULT_CHECKPOINT, CheckpointMeta
from gennet.errors import GenNetError

DEFAULT_PRECISION = "fp32"
# The service's default too (GENNET_ONNX_CACHE_DIR), so the CLI's onnx runtime reuses its graphs.
DEFAULT_ONNX_CACHE_DIR = DEFAULT_CHECKPOINT.parent.parent / ".cache" / "onnx"


class Predictor(Protocol):
    """Maps float32 (N, 3, H, W) to float32 (N,): the probability of ``male`` for each row."""

    device: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class RuntimeUnavailableError(GenNetError):
    """The runtime or device asked for is unknown, not installed or not present."""


@dataclass(frozen=True)
class ModelFiles:
    """Where the model is: a checkpoint (.pt) or an ONNX graph (.onnx) to serve alone.

    ``precision``: the numerics to serve (``fp32``, ``int8``; what a backend runs is in its
    ``precisions``); ``onnx``: the checkpoint's graph of that precision (default: beside it,
    ``gennet.onnx`` or ``gennet.int8.onnx``, see ``onnx_graphs.default_graph``);
    ``onnx_cache_dir``: where a missing or stale FP32 graph is re-exported to.
    """

    model: Path
    onnx: Path | None = None
    onnx_cache_dir: Path = DEFAULT_ONNX_CACHE_DIR
    precision: str = DEFAULT_PRECISION

    @property
    def is_graph(self) -> bool:
        return self.model.suffix == ".onnx"


@dataclass(frozen=True)
class Loaded:
    """A ready predictor and the metadata it serves with."""

    predictor: Predictor
    meta: CheckpointMeta


class Backend(Protocol):
    """One runtime. Its module imports its engine only in :meth:`load`, so naming it is free."""

    name: ClassVar[str]
    devices: ClassVar[tuple[str, ...]]  # where it runs
    precisions: ClassVar[tuple[str, ...]]  # the ModelFiles.precision values it serves

    def load(self, files: ModelFiles, device: str, threads: int) -> Loaded: ...
