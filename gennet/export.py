"""ONNX export with a dynamic batch axis; the graph outputs the probability of ``male``."""

from pathlib import Path

import onnx
import torch

from gennet.checkpoint import CheckpointMeta, load_checkpoint
from gennet.inference import ProbabilityModel

OPSET = 18
SHA_KEY = "gennet_weights_sha256"


def export_onnx(checkpoint: Path | None, out: Path) -> CheckpointMeta:
    """Export ``checkpoint`` to ``out``; the weights' SHA-256 is stored in the graph metadata."""
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
    onnx.helper.set_model_props(graph, {SHA_KEY: meta.weights_sha256, "arch": meta.arch})
    onnx.save(graph, str(out))
    return meta


def onnx_weights_sha256(path: Path) -> str | None:
    """The checkpoint digest an exported graph was made from (None when it carries none)."""
    graph = onnx.load(str(path), load_external_data=False)
    return next((p.value for p in graph.metadata_props if p.key == SHA_KEY), None)
