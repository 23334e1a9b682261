"""Which ONNX graph may serve a checkpoint: the graph's metadata contract, read without torch.

``gennet export`` writes a graph's ``metadata_props`` (``gennet.export`` for FP32,
``gennet.quantize`` for INT8); the backends that run graphs read them here before serving one (the
contract, also in model_store/MODEL_CARD.md):

- ``gennet_weights_sha256``: the digest of the checkpoint weights the graph was made from (for an
  INT8 graph, the FP32 weights it was quantised from);
- ``gennet_checkpoint_meta``: the checkpoint's ``CheckpointMeta`` as JSON (the same digest included);
- ``gennet_precision``: ``int8`` for a quantised graph; absent (every FP32 export) means ``fp32``;
- ``gennet_calibration``, ``gennet_accuracy_gate`` (INT8 only, JSON): the crops it was calibrated
  on and the validation figures it was admitted with;
- ``arch``: the architecture name (informative).

A missing or stale FP32 graph is re-exported at start-up (that needs torch only). An INT8 graph is
never made at start-up, since quantising needs calibration data: serving a missing or stale one
fails in one line that names the command making it.
"""

import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gennet.checkpoint import CheckpointMeta, peek_meta, validate_meta
from gennet.errors import CheckpointError, GenNetError
from gennet.runtimes.base import DEFAULT_PRECISION, ModelFiles

SHA_KEY = "gennet_weights_sha256"
META_KEY = "gennet_checkpoint_meta"
PRECISION_KEY = "gennet_precision"
CALIBRATION_KEY = "gennet_calibration"
GATE_KEY = "gennet_accuracy_gate"

# (checkpoint, out): writes the checkpoint's FP32 graph (gennet.export.export_onnx). Passed in by
# the backend, so that this module never imports the torch-side writer.
Exporter = Callable[[Path, Path], object]

log = logging.getLogger(__name__)


def default_graph(checkpoint: Path, precision: str) -> Path:
    """The graph of ``precision`` beside ``checkpoint``: ``gennet.onnx``, ``gennet.int8.onnx``."""
    suffix = ".onnx" if precision == DEFAULT_PRECISION else f".{precision}.onnx"
    return checkpoint.with_suffix(suffix)


def cached_graph(cache_dir: Path, weights_sha256: str) -> Path:
    """Where a missing or stale FP32 graph of these weights is re-exported to."""
    return cache_dir / f"{weights_sha256}.onnx"


def export_command(precision: str) -> str:
    """The command that writes a checkpoint's graph of ``precision``."""
    if precision == DEFAULT_PRECISION:
        return "gennet export"
    return f"gennet export --precision {precision} --data DIR"


def graph_metadata(path: Path) -> dict[str, str]:
    """The graph's ``metadata_props`` (read by ONNX Runtime: no ``onnx`` package needed)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session: Any = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def read_props(path: Path) -> dict[str, str]:
    """The graph's ``metadata_props``; a missing or corrupt file is a one-line CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"{path}: ONNX graph not found")
    try:
        return graph_metadata(path)
    except Exception as exc:  # ONNX Runtime raises its own types for corrupt files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: not a readable ONNX graph ({reason})") from None


def graph_precision(props: dict[str, str]) -> str:
    return props.get(PRECISION_KEY, DEFAULT_PRECISION)


def onnx_weights_sha256(path: Path) -> str | None:
    """The checkpoint digest a graph was made from (None when it carries none)."""
    return read_props(Path(path)).get(SHA_KEY)


def graph_meta(path: Path) -> CheckpointMeta:
    """The checkpoint metadata stored in a graph when it was made (torch-free)."""
    props = read_props(Path(path))
    if META_KEY not in props:
        raise CheckpointError(
            f"{path}: the graph carries no GenNet metadata (exported by an older version); "
            "re-export it with `gennet export`"
        )
    try:
        raw = json.loads(props[META_KEY])
    except ValueError:
        raise CheckpointError(f"{path}: the graph's {META_KEY} is not JSON") from None
    meta = validate_meta(raw, path)
    if meta.weights_sha256 != props.get(SHA_KEY):
        raise CheckpointError(f"{path}: {META_KEY} and {SHA_KEY} name different weights")
    return meta


def graph_problem(graph: Path, weights_sha256: str, precision: str) -> str | None:
    """Why ``graph`` cannot serve the weights ``weights_sha256`` at ``precision`` (None: it can)."""
    if not graph.is_file():
        return "missing"
    try:
        props = read_props(graph)
    except CheckpointError:
        return "unreadable"
    if (found := graph_precision(props)) != precision:
        return f"an {found} graph, not {precision}"
    if props.get(SHA_KEY) != weights_sha256:
        return "stale: made from other weights"
    return None


def fresh_graph(
    checkpoint: Path, meta: CheckpointMeta, graph: Path, cache_dir: Path, export: Exporter
) -> Path:
    """An FP32 graph of exactly the checkpoint's weights: ``graph`` or a cached export.

    A graph that is missing or was exported from other weights is re-exported once into
    ``cache_dir/<weights_sha256>.onnx`` and reused from there: serving a stale graph silently would
    be wrong. Re-exporting needs torch; without it, this fails in one line.
    """
    cached = cached_graph(cache_dir, meta.weights_sha256)
    for candidate in (graph, cached):
        if graph_problem(candidate, meta.weights_sha256, DEFAULT_PRECISION) is None:
            return candidate
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
            exported = Path(tmp) / cached.name
            export(checkpoint, exported)
            exported.replace(cached)  # atomic: concurrent starts never see half a file
    except OSError as exc:
        raise GenNetError(f"cannot write the ONNX graph to {cached.parent}: {exc}") from None
    except GenNetError as exc:
        raise type(exc)(f"{graph}: missing or stale, and re-exporting it failed: {exc}") from None
    # Logged once it worked: a checkpoint that cannot be exported fails with its error alone.
    log.warning("ONNX graph %s was missing or stale; exported %s to %s", graph, checkpoint, cached)
    return cached


def serving_graph(files: ModelFiles, export: Exporter) -> tuple[Path, CheckpointMeta]:
    """The graph to serve ``files.model`` at ``files.precision``, and its metadata (no torch).

    A ``.onnx`` model is served alone, with the metadata stored in it, if it has the precision
    asked for. A checkpoint is served through its graph of that precision: a fresh FP32 export
    (:func:`fresh_graph`), or the INT8 graph beside it, which must come from its weights.
    """
    if files.is_graph:
        found = graph_precision(read_props(files.model))
        if found != files.precision:
            raise CheckpointError(
                f"{files.model}: an {found} graph, but precision {files.precision} was asked for"
            )
        return files.model, graph_meta(files.model)
    meta = peek_meta(files.model)
    graph = files.onnx or default_graph(files.model, files.precision)
    if files.precision == DEFAULT_PRECISION:
        return fresh_graph(files.model, meta, graph, files.onnx_cache_dir, export), meta
    if problem := graph_problem(graph, meta.weights_sha256, files.precision):
        raise CheckpointError(
            f"{graph}: no {files.precision} graph of {files.model} ({problem}); make it with "
            f"`{export_command(files.precision)}` (it needs calibration data, so it is never "
            "made at start-up)"
        )
    return graph, meta
