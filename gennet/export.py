"""ONNX export of a checkpoint: the torch-side writer of the FP32 graph.

The graph takes float32 (N, 3, H, W) with a dynamic batch axis and outputs the probability of
``male``. Its ``metadata_props`` carry what serving needs besides the weights, so that the graph
can be served alone, without torch (the contract and its reader: ``gennet.runtimes.onnx_graphs``).
An FP32 graph carries no ``gennet_precision`` (absent means FP32), so that this writer still
makes the shipped graph byte for byte.

Exporting needs torch (the ``torch`` extra); reading a graph's metadata needs ONNX Runtime only.
"""

from pathlib import Path

from gennet.checkpoint import CheckpointMeta, load_checkpoint
from gennet.errors import GenNetError
from gennet.runtimes import installed
from gennet.runtimes.onnx_graphs import META_KEY, SHA_KEY

OPSET = 18


def missing_for_export() -> list[str]:
    """The packages an export needs that are not installed (the ``torch`` extra)."""
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
