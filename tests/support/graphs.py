"""The test checkpoint's ONNX graphs: copied into a folder of their own, relabelled (serving reads
only a graph's metadata to choose it), and an export stand-in for graphs that must not be remade."""

import shutil
from pathlib import Path

import onnx


def copy_model(checkpoint: Path, graph: Path, folder: Path) -> Path:
    """``checkpoint`` and its FP32 ``graph`` copied into ``folder`` as ``gennet.pt`` and
    ``gennet.onnx``; the copied checkpoint's path."""
    shutil.copy(graph, folder / "gennet.onnx")
    return Path(shutil.copy(checkpoint, folder / "gennet.pt"))


def relabel(source: Path, out: Path, **props: str) -> Path:
    """A copy of ``source`` with some ``metadata_props`` replaced."""
    graph = onnx.load(str(source))
    onnx.helper.set_model_props(graph, {p.key: p.value for p in graph.metadata_props} | props)
    onnx.save(graph, str(out))
    return out


def no_export(checkpoint: Path, out: Path) -> None:
    """The export a fresh graph never needs: fails the test if called."""
    raise AssertionError("nothing may be re-exported")
