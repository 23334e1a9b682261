"""Runtimes: the engines that run the model, one small backend module each, chosen by name.

A backend says which devices it runs on and which precisions it serves, and turns the model files
into a predictor plus the metadata it serves with (``base.Backend``). Backends are imported only
when chosen, and import their engine only when loading, so serving with ONNX Runtime never imports
torch. Adding a runtime (OpenVINO, TensorRT) is one module with a ``BACKEND`` object and one line
in ``BACKENDS``: the CLI's choices and the service's checks are derived from them. (An OpenVINO
backend was that one file, measured and dropped: model_store/MODEL_CARD.md, "Precision".)
"""

import importlib
import importlib.util
import os
from pathlib import Path

from gennet.runtimes.base import (
    DEFAULT_PRECISION,
    Backend,
    Loaded,
    ModelFiles,
    Predictor,
    RuntimeUnavailableError,
)

# name -> module holding its BACKEND
BACKENDS: dict[str, str] = {
    "onnx": "gennet.runtimes.onnxrt",
    "torch": "gennet.runtimes.pytorch",
}
# What "auto" picks: devices in order of preference, and the runtime for each device.
DEVICE_PREFERENCE = ("cuda", "cpu")
DEFAULT_RUNTIME = {"cpu": "onnx", "cuda": "torch"}
# Device nodes of an NVIDIA driver (Linux, WSL): without one, CUDA is not probed (no torch import).
_GPU_NODES = ("/dev/nvidiactl", "/dev/dxg")

__all__ = [
    "AUTO_PRECISION",
    "BACKENDS",
    "DEFAULT_PRECISION",
    "DEVICE_PREFERENCE",
    "Backend",
    "Loaded",
    "ModelFiles",
    "Predictor",
    "RuntimeUnavailableError",
    "check_precision",
    "choose_precision",
    "default_precision",
    "get_backend",
    "installed",
    "known_precisions",
    "resolve",
    "resolve_device",
    "resolve_kind",
]


def get_backend(name: str) -> Backend:
    """The backend registered as ``name`` (its engine is not imported yet)."""
    if name not in BACKENDS:
        known = ", ".join(sorted(BACKENDS))
        raise RuntimeUnavailableError(f"unknown runtime {name!r} (known: {known})")
    backend: Backend = importlib.import_module(BACKENDS[name]).BACKEND
    return backend


def known_precisions() -> tuple[str, ...]:
    """Every precision some backend serves, the default first."""
    served = {p for name in BACKENDS for p in get_backend(name).precisions}
    return (DEFAULT_PRECISION, *sorted(served - {DEFAULT_PRECISION}))


AUTO_PRECISION = "auto"
INT8 = "int8"


def default_precision() -> str:
    """``GENNET_PRECISION`` when set (the service's setting), else ``auto``: the CLI's default."""
    return os.environ.get("GENNET_PRECISION") or AUTO_PRECISION


def choose_precision(requested: str, runtime: str, files: ModelFiles) -> str:
    """The precision to serve: as asked; for ``auto``, INT8 where ``runtime`` serves it and the
    model comes with its INT8 graph, fresh (``gennet export --precision int8``), else FP32. A graph
    served alone is served at its own precision."""
    if requested != AUTO_PRECISION:
        return requested
    if INT8 not in get_backend(runtime).precisions:
        return DEFAULT_PRECISION
    from gennet.checkpoint import peek_meta
    from gennet.runtimes.onnx_graphs import (
        default_graph,
        graph_precision,
        graph_problem,
        read_props,
    )

    if files.is_graph:
        return graph_precision(read_props(files.model))
    graph = files.onnx or default_graph(files.model, INT8)
    fresh = graph_problem(graph, peek_meta(files.model).weights_sha256, INT8) is None
    return INT8 if fresh else DEFAULT_PRECISION


def check_precision(precision: str, runtime: str = "auto") -> None:
    """Fail in one line unless ``precision`` is known and served by ``runtime`` (``auto``: any);
    ``auto`` precision is chosen later, by :func:`choose_precision`."""
    if precision == AUTO_PRECISION:
        return
    known = known_precisions()
    if precision not in known:
        raise RuntimeUnavailableError(
            f"unknown precision {precision!r} (known: {', '.join(known)})"
        )
    served = get_backend(runtime).precisions if runtime != "auto" else known
    if precision not in served:
        others = [name for name in BACKENDS if precision in get_backend(name).precisions]
        raise RuntimeUnavailableError(
            f"runtime {runtime!r} serves {', '.join(served)} only, not {precision} "
            f"(runtimes that serve {precision}: {', '.join(others)})"
        )


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def cuda_available() -> bool:
    """Whether torch sees a CUDA device; torch is imported only where a driver is present."""
    if not installed("torch"):
        return False
    if not any(Path(node).exists() for node in _GPU_NODES):
        return False
    import torch

    return bool(torch.cuda.is_available())


def device_available(device: str) -> bool:
    return device == "cpu" or (device == "cuda" and cuda_available())


def resolve_device(requested: str, candidates: tuple[str, ...] = DEVICE_PREFERENCE) -> str:
    """``auto``: the first available device of ``candidates`` (CUDA before the CPU)."""
    if requested == "auto":
        ordered = [d for d in DEVICE_PREFERENCE if d in candidates]
        return next((d for d in ordered if device_available(d)), ordered[-1] if ordered else "cpu")
    if not device_available(requested):
        why = "torch sees none" if installed("torch") else "torch is not installed"
        raise RuntimeUnavailableError(f"device {requested!r} was asked for, but {why}")
    return requested


def resolve_kind(requested: str, device: str) -> str:
    """``auto``: the default runtime of ``device``; otherwise one that runs there."""
    name = DEFAULT_RUNTIME[device] if requested == "auto" else requested
    backend = get_backend(name)
    if device not in backend.devices:
        where = ", ".join(backend.devices)
        raise RuntimeUnavailableError(
            f"runtime {name!r} runs on {where} only, not on {device}; choose another device"
        )
    return name


def resolve(runtime: str, device: str, precision: str = DEFAULT_PRECISION) -> tuple[str, str]:
    """(runtime, device) for the requested pair and precision.

    An ``auto`` device fits an explicit runtime, or with an ``auto`` runtime the precision (INT8:
    the CPU, even where a GPU is present); the chosen runtime must serve the precision.
    """
    if runtime == "auto":
        candidates = tuple(
            d for d in DEVICE_PREFERENCE if precision in get_backend(DEFAULT_RUNTIME[d]).precisions
        )
    else:
        candidates = get_backend(runtime).devices
    chosen = resolve_device(device, candidates)
    kind = resolve_kind(runtime, chosen)
    check_precision(precision, kind)
    return kind, chosen


def require(module: str, runtime: str, extra: str) -> object:
    """Import an engine, or fail in one line saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise RuntimeUnavailableError(
            f"the {runtime} runtime needs the {module!r} package, which is not installed "
            f"(pip install 'gennet[{extra}]')"
        ) from None
