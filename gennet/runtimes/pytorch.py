"""The PyTorch backend: eager mode, FP32 on CUDA and on the CPU.

FP32 on CUDA by measurement: on an H200, FP16 autocast with channels_last was 10-20 % slower than
FP32 at every batch size up to 128 (``bench/results/gpu/gpu_bench.md``; the model is launch-bound
there), and the service's batches are at most twice ``GENNET_MAX_BATCH_SIZE`` rows.

torch is imported when a predictor is built, not with this module, so that naming the backend (or
importing ``gennet.inference``) costs nothing where torch is not installed.
"""

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gennet.runtimes.base import Loaded, ModelFiles, RuntimeUnavailableError

if TYPE_CHECKING:
    from torch import nn


class TorchPredictor:
    """PyTorch eager, FP32."""

    def __init__(self, model: "nn.Module", device: str = "cpu") -> None:
        import torch

        from gennet.models.probability import ProbabilityModel

        self._torch: Any = torch
        self.device = device
        self.model = ProbabilityModel(model).eval().to(device)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)
            return self.model(x).cpu().numpy()


class TorchBackend:
    name: ClassVar[str] = "torch"
    devices: ClassVar[tuple[str, ...]] = ("cuda", "cpu")
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)

    def load(self, files: ModelFiles, device: str, threads: int) -> Loaded:
        from gennet.runtimes import require

        torch: Any = require("torch", self.name, "torch")
        if files.is_graph:
            raise RuntimeUnavailableError(
                f"{files.model}: the torch runtime serves a checkpoint (.pt), not an ONNX graph"
            )
        from gennet.checkpoint import load_checkpoint

        model, meta = load_checkpoint(files.model)
        if device != "cpu":
            torch.backends.cudnn.benchmark = True  # pays off: warm-up visits every batch size
        elif threads:  # 0: torch's own default
            torch.set_num_threads(threads)
        return Loaded(TorchPredictor(model, device), meta)


BACKEND = TorchBackend()
