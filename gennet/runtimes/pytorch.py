"""The PyTorch backend: eager mode, FP16 autocast and channels_last on CUDA, FP32 on the CPU.

torch is imported when a predictor is built, not with this module, so that naming the backend (or
importing ``gennet.inference``) costs nothing where torch is not installed.
"""

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gennet.runtimes.base import Loaded, ModelFiles, RuntimeUnavailableError

if TYPE_CHECKING:
    from torch import nn


class TorchPredictor:
    """PyTorch eager; FP16 autocast and channels_last on CUDA, FP32 on the CPU."""

    def __init__(self, model: "nn.Module", device: str = "cpu") -> None:
        import torch

        from gennet.models.probability import ProbabilityModel

        self._torch: Any = torch
        self.device = device
        self.cuda = device.startswith("cuda")
        self.model = ProbabilityModel(model).eval().to(device)
        if self.cuda:
            # memory_format is accepted at run time but missing from torch's type stubs
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)
            if self.cuda:
                x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.float16):
                    return self.model(x).float().cpu().numpy()
            return self.model(x).numpy()


class TorchBackend:
    name: ClassVar[str] = "torch"
    devices: ClassVar[tuple[str, ...]] = ("cuda", "cpu")

    def load(self, files: ModelFiles, device: str, threads: int) -> Loaded:
        from gennet.runtimes import require

        torch: Any = require("torch", self.name, "torch")
        if files.is_graph:
            raise RuntimeUnavailableError(
                f"{files.model}: the torch runtime serves a checkpoint (.pt), not an ONNX graph"
            )
        from gennet.checkpoint import load_checkpoint

        model, meta = load_checkpoint(files.model)
        if device == "cpu":
            torch.set_num_threads(threads)
        else:
            torch.backends.cudnn.benchmark = True  # pays off: warm-up visits every batch size
        return Loaded(TorchPredictor(model, device), meta)


BACKEND = TorchBackend()
