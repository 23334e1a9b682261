"""Predicting over a normalised batch, whatever the runtime, and flip test-time augmentation.

A predictor maps float32 (N, 3, H, W) to float32 (N,): the probability of ``male`` for each row.
The predictors themselves live with their runtime (``gennet.runtimes``); they are importable from
here too. Nothing here imports torch: ``TorchPredictor`` imports it when built.
"""

from typing import Any

import numpy as np

from gennet.preprocess import PreprocessSpec, normalise
from gennet.runtimes.base import Predictor
from gennet.runtimes.onnxrt import OnnxPredictor
from gennet.runtimes.pytorch import TorchPredictor

# Served answers average a crop with its mirror unless a request says otherwise: the service's
# default (GENNET_TTA), here so that `gennet info` states it too. Only where the mirror can change
# the answer: a crop whose single-pass P(male) is within DEFAULT_TTA_MARGIN of its threshold
# (GENNET_TTA_MARGIN; 1 mirrors every crop). 0.25 is the smallest margin at which the shipped INT8
# graph's val decisions are those of mirroring every crop; it mirrors 15 % of the val crops
# (model_store/MODEL_CARD.md, "Precision").
DEFAULT_TTA = True
DEFAULT_TTA_MARGIN = 0.25

__all__ = [
    "DEFAULT_TTA",
    "DEFAULT_TTA_MARGIN",
    "OnnxPredictor",
    "Predictor",
    "TorchPredictor",
    "merge_flips",
    "needs_mirror",
    "predict",
    "predict_images",
    "with_flips",
]


def __getattr__(name: str) -> Any:
    if name == "ProbabilityModel":  # a torch module: imported on first use only
        from gennet.models.probability import ProbabilityModel

        return ProbabilityModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def with_flips(batch: np.ndarray, tta: np.ndarray) -> np.ndarray:
    """Append the mirrored copy of every row whose ``tta`` flag is set, after all rows."""
    return np.concatenate([batch, batch[tta][..., ::-1]], axis=0)


def merge_flips(probs: np.ndarray, tta: np.ndarray) -> np.ndarray:
    """Undo :func:`with_flips`: average each flagged row with its mirror's probability."""
    n = len(tta)
    merged = probs[:n].copy()
    merged[tta] = (merged[tta] + probs[n:]) / 2
    return merged


def needs_mirror(prob_male: float, threshold: float | None, margin: float) -> bool:
    """Whether a crop answered ``prob_male`` on one pass gets a second, mirrored look: it asked
    for TTA (``threshold`` is its decision threshold, None without TTA) and is within ``margin``
    of that threshold."""
    return threshold is not None and abs(prob_male - threshold) < margin


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
