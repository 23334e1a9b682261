"""The ONNX Runtime backend (CPU): the exported graph, no torch.

It serves a checkpoint's ONNX export (checked to carry the checkpoint's weights digest, re-exported
when stale: ``gennet.export.serving_graph``) or a graph alone, with the metadata stored in it.
"""

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gennet.runtimes.base import Loaded, ModelFiles


class OnnxPredictor:
    """ONNX Runtime on the CPU with a fixed number of intra-op threads."""

    device = "cpu"

    def __init__(self, path: Path, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32).reshape(-1)


def graph_metadata(path: Path) -> dict[str, str]:
    """The graph's ``metadata_props`` (read by ONNX Runtime: no ``onnx`` package needed)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session: Any = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


class OnnxRuntimeBackend:
    name: ClassVar[str] = "onnx"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)

    def load(self, files: ModelFiles, device: str, threads: int) -> Loaded:
        from gennet.export import serving_graph

        graph, meta = serving_graph(files)
        return Loaded(OnnxPredictor(graph, threads), meta)


BACKEND = OnnxRuntimeBackend()
