"""Predictors over a normalised batch (PyTorch or ONNX Runtime) and flip test-time augmentation.

A predictor maps float32 (N, 3, H, W) to float32 (N,): the probability of ``male`` for each row.
"""

from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from gennet.preprocess import PreprocessSpec, normalise


class Predictor(Protocol):
    device: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class ProbabilityModel(nn.Module):
    """Wraps a logit model so that it returns probabilities (what the ONNX graph exports)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(x))


class TorchPredictor:
    """PyTorch eager; FP16 autocast and channels_last on CUDA, FP32 on the CPU."""

    def __init__(self, model: nn.Module, device: str = "cpu") -> None:
        self.device = device
        self.cuda = device.startswith("cuda")
        self.model = ProbabilityModel(model).eval().to(device)
        if self.cuda:
            # memory_format is accepted at run time but missing from torch's type stubs
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)
        if self.cuda:
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.float16):
                return self.model(x).float().cpu().numpy()
        return self.model(x).numpy()


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


def with_flips(batch: np.ndarray, tta: np.ndarray) -> np.ndarray:
    """Append the mirrored copy of every row whose ``tta`` flag is set, after all rows."""
    return np.concatenate([batch, batch[tta][..., ::-1]], axis=0)


def merge_flips(probs: np.ndarray, tta: np.ndarray) -> np.ndarray:
    """Undo :func:`with_flips`: average each flagged row with its mirror's probability."""
    n = len(tta)
    merged = probs[:n].copy()
    merged[tta] = (merged[tta] + probs[n:]) / 2
    return merged


def predict(
    predictor: Predictor, batch: np.ndarray, tta: bool = False, batch_size: int = 128
) -> np.ndarray:
    """Probabilities of ``male`` for a normalised batch, in chunks, with optional flip TTA."""
    outputs = []
    for start in range(0, len(batch), batch_size):
        chunk = batch[start : start + batch_size]
        flags = np.full(len(chunk), tta)
        outputs.append(merge_flips(predictor(with_flips(chunk, flags)), flags))
    return np.concatenate(outputs) if outputs else np.zeros(0, dtype=np.float32)


def predict_images(
    predictor: Predictor,
    images: np.ndarray,
    spec: PreprocessSpec,
    tta: bool = False,
    batch_size: int = 128,
) -> np.ndarray:
    """Probabilities of ``male`` for uint8 (N, H, W, 3) images at the input size."""
    outputs = [
        predict(predictor, normalise(np.asarray(images[i : i + batch_size]), spec), tta, batch_size)
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(outputs) if outputs else np.zeros(0, dtype=np.float32)
