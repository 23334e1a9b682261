"""The OpenVINO backend (CPU): the same ONNX graphs as ONNX Runtime, FP32 or INT8, no torch.

OpenVINO reads the exported graph itself (no conversion step, no second file), so it serves what
the ONNX backend serves, checked the same way (``onnx_graphs.serving_graph``). The ``openvino``
extra installs it (a 59 MB wheel, so not in the base install).

Two settings, by measurement (``bench/precision.py``): the graph is compiled once per batch size it
meets (static shapes: the dynamic-batch graph took about twice as long at batch 1), and graphs run
in FP32 where they are FP32 (``INFERENCE_PRECISION_HINT``: on CPUs with AMX or AVX-512 BF16,
OpenVINO would otherwise run them in BF16 and silently change the model's answers).
"""

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from gennet.runtimes.base import Loaded, ModelFiles
from gennet.runtimes.onnx_graphs import serving_graph


class OpenVinoPredictor:
    """OpenVINO on the CPU with a fixed number of threads; one compiled model per batch shape."""

    device = "cpu"

    def __init__(self, path: Path, threads: int = 0) -> None:
        import openvino as ov

        self._core: Any = ov.Core()
        self._model: Any = self._core.read_model(str(path))
        self._config = {
            "INFERENCE_NUM_THREADS": threads,  # 0: OpenVINO's own default
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
        }
        self._requests: dict[tuple[int, ...], Any] = {}
        self._lock = threading.Lock()  # an infer request runs one call at a time

    def _request(self, shape: tuple[int, ...]) -> Any:
        if (request := self._requests.get(shape)) is None:
            model = self._model.clone()
            model.reshape(list(shape))
            compiled = self._core.compile_model(model, "CPU", self._config)
            request = self._requests[shape] = compiled.create_infer_request()
        return request

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._lock:
            request = self._request(batch.shape)
            request.infer({0: batch})
            # A copy: the request reuses its output buffer on the next call.
            return np.array(request.get_output_tensor(0).data, dtype=np.float32).reshape(-1)


class OpenVinoBackend:
    name: ClassVar[str] = "openvino"
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "int8")

    def load(self, files: ModelFiles, device: str, threads: int) -> Loaded:
        from gennet.export import export_onnx  # used only to re-export a stale FP32 graph
        from gennet.runtimes import require

        require("openvino", self.name, "openvino")
        graph, meta = serving_graph(files, export_onnx)
        return Loaded(OpenVinoPredictor(graph, threads), meta)


BACKEND = OpenVinoBackend()
