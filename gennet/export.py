"""ONNX export, and which graph may serve a checkpoint.

The graph takes float32 (N, 3, H, W) with a dynamic batch axis and outputs the probability of
``male``. Its ``metadata_props`` carry what serving needs besides the weights, so that the graph
can be served alone, without torch (the contract, also in model_store/MODEL_CARD.md):

- ``gennet_weights_sha256``: the digest of the checkpoint weights it was exported from;
- ``gennet_checkpoint_meta``: the checkpoint's ``CheckpointMeta`` as JSON (the same digest included);
- ``arch``: the architecture name (informative).

Exporting needs torch (the ``torch`` extra); reading a graph's metadata needs ONNX Runtime only.
"""

import json
import logging
import tempfile
from pathlib import Path

from gennet.checkpoint import CheckpointMeta, load_checkpoint, peek_meta, validate_meta
from gennet.errors import CheckpointError, GenNetError
from gennet.runtimes.base import ModelFiles
from gennet.runtimes.onnxrt import graph_metadata

OPSET = 18
SHA_KEY = "gennet_weights_sha256"
META_KEY = "gennet_checkpoint_meta"

log = logging.getLogger(__name__)


def missing_for_export() -> list[str]:
    """The packages an export needs that are not installed (the ``torch`` extra)."""
    from gennet.runtimes import installed

    return [name for name in ("torch", "onnx", "onnxscript") if not installed(name)]


def export_onnx(checkpoint: Path | None, out: Path) -> CheckpointMeta:
    """Export ``checkpoint`` to ``out``, its metadata and weights digest stored in the graph."""
    if missing := missing_for_export():
        raise GenNetError(
            f"exporting to ONNX needs {', '.join(missing)} (pip install 'gennet[torch]')"
        )
    import onnx
    import torch

    from gennet.models.probability import ProbabilityModel

    model, meta = load_checkpoint(checkpoint)
    example = torch.zeros(2, 3, *meta.input_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        ProbabilityModel(model).eval(),
        (example,),
        str(out),
        input_names=["image"],
        output_names=["prob_male"],
        dynamic_shapes={"x": {0: torch.export.Dim("batch", min=1, max=1024)}},
        opset_version=OPSET,
        dynamo=True,
        external_data=False,
    )
    graph = onnx.load(str(out))
    props = {SHA_KEY: meta.weights_sha256, META_KEY: meta.model_dump_json(), "arch": meta.arch}
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, str(out))
    return meta


def _read_props(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise CheckpointError(f"{path}: ONNX graph not found")
    try:
        return graph_metadata(path)
    except Exception as exc:  # ONNX Runtime raises its own types for corrupt files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise CheckpointError(f"{path}: not a readable ONNX graph ({reason})") from None


def onnx_weights_sha256(path: Path) -> str | None:
    """The checkpoint digest an exported graph was made from (None when it carries none)."""
    return _read_props(Path(path)).get(SHA_KEY)


def graph_meta(path: Path) -> CheckpointMeta:
    """The checkpoint metadata stored in a graph at export (torch-free)."""
    props = _read_props(Path(path))
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


def _digest_or_none(path: Path) -> str | None:
    try:
        return onnx_weights_sha256(path)
    except CheckpointError:  # an unreadable graph is as good as a missing one
        return None


def fresh_graph(checkpoint: Path, meta: CheckpointMeta, graph: Path, cache_dir: Path) -> Path:
    """A graph exported from exactly the checkpoint's weights: ``graph`` or a cached export.

    A graph that is missing or was exported from other weights is re-exported once into
    ``cache_dir/<weights_sha256>.onnx`` and reused from there: serving a stale graph silently would
    be wrong. Re-exporting needs torch; without it, this fails in one line.
    """
    cached = cache_dir / f"{meta.weights_sha256}.onnx"
    for candidate in (graph, cached):
        if candidate.is_file() and _digest_or_none(candidate) == meta.weights_sha256:
            return candidate
    if missing := missing_for_export():
        raise CheckpointError(
            f"{graph}: missing or exported from other weights than {checkpoint}, and re-exporting "
            f"needs {', '.join(missing)} (pip install 'gennet[torch]'; then gennet export)"
        )
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
            exported = Path(tmp) / cached.name
            export_onnx(checkpoint, exported)
            exported.replace(cached)  # atomic: concurrent starts never see half a file
    except OSError as exc:
        raise GenNetError(f"cannot write the ONNX graph to {cached.parent}: {exc}") from None
    # Logged once it worked: a checkpoint that cannot be exported fails with its error alone.
    log.warning("ONNX graph %s was missing or stale; exported %s to %s", graph, checkpoint, cached)
    return cached


def serving_graph(files: ModelFiles) -> tuple[Path, CheckpointMeta]:
    """The graph to serve ``files.model`` with, and the metadata to serve it with (no torch).

    A ``.onnx`` model is served alone, with the metadata stored in it. A checkpoint is served
    through its fresh export (:func:`fresh_graph`); its metadata is read without torch.
    """
    if files.is_graph:
        return files.model, graph_meta(files.model)
    meta = peek_meta(files.model)
    graph = files.onnx or files.model.with_suffix(".onnx")
    return fresh_graph(files.model, meta, graph, files.onnx_cache_dir), meta
