"""A checkpoint's P(male) on manifest rows: what the LOSO reports and the evaluation scripts score.

The crops are decoded as serving decodes them (:func:`gennet.data.cache.decode_samples`, cached on
disk like training's) and run by the checkpoint itself in torch on the CPU, so the figures are
those of ``gennet evaluate`` with its default runtime.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gennet.checkpoint import CheckpointMeta, load_checkpoint
from gennet.data.cache import decode_samples
from gennet.data.manifest import Sample
from gennet.inference import TorchPredictor, predict_images


def checkpoint_probs(
    checkpoint: Path, splits: Sequence[list[Sample]]
) -> tuple[CheckpointMeta, list[np.ndarray]]:
    """The checkpoint's metadata, and its P(male) for every crop of each split (loaded once)."""
    model, meta = load_checkpoint(checkpoint)
    spec = meta.preprocess_spec
    predictor = TorchPredictor(model, "cpu")
    return meta, [predict_images(predictor, decode_samples(rows, spec), spec) for rows in splits]
