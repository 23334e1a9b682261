"""The ONNX Runtime backend (CPU): the exported graph, FP32 or INT8, no torch.

It serves a checkpoint's graph of the precision asked for (checked to carry the checkpoint's
weights digest; a stale FP32 graph is re-exported: ``onnx_graphs.serving_graph``) or a graph
alone, with the metadata stored in it. INT8 is a property of this backend: the QDQ graph that
``gennet export --precision int8`` writes runs here with INT8 kernels.
"""

from pathlib import Path
from typing import ClassVar

import numpy as np

from gennet.runtimes.base import Loaded, ModelFiles
from gennet.runtimes.onnx_graphs import serving_graph


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


class OnnxRuntimeBackend:
    name: ClassVar[str] = "onnx"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "int8")

    def load(self, files: ModelFiles, device: str, threads: int) -> Loaded:
        from gennet.export import export_onnx  # used only to re-export a stale FP32 graph

        graph, meta = serving_graph(files, export_onnx)
        return Loaded(OnnxPredictor(graph, threads), meta)


BACKEND = OnnxRuntimeBackend()
