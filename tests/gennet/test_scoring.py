"""Scoring a checkpoint on manifest rows (the LOSO reports and scripts), and combining runs."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gennet.checkpoint import load_checkpoint
from gennet.data.manifest import Sample
from gennet.evaluate.ensemble import mean_probability, to_logit
from gennet.evaluate.scoring import checkpoint_probs
from gennet.inference import TorchPredictor
from gennet.preprocess import preprocess_bytes


def test_checkpoint_probs_are_the_serving_paths_per_split(
    checkpoint_path: Path,
    tmp_path: Path,
    image_file: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GENNET_CACHE_DIR", str(tmp_path / "cache"))
    paths = [
        image_file(tmp_path / f"{i}.{ext}", seed=i) for i, ext in enumerate(["jpg", "png", "jpg"])
    ]
    rows = [Sample(path=p, target=i % 2, source="A") for i, p in enumerate(paths)]
    meta, (first, second) = checkpoint_probs(checkpoint_path, [rows[:2], rows[2:]])
    model, expected_meta = load_checkpoint(checkpoint_path)
    assert meta == expected_meta
    batch = np.stack([preprocess_bytes(p.read_bytes(), meta.preprocess_spec) for p in paths])
    expected = TorchPredictor(model)(batch)
    assert (len(first), len(second)) == (2, 1)
    assert np.allclose(np.r_[first, second], expected, atol=1e-6)


def test_the_ensemble_is_the_sigmoid_of_the_mean_logit() -> None:
    probs = np.array([0.1, 0.5, 0.8], dtype=np.float32)
    assert np.allclose(mean_probability([to_logit(probs)] * 3), probs, atol=1e-6)
    # logit(0.2) and logit(0.8) average to 0; logit(0.9) = ln 9 and logit(0.5) = 0 to ln 3
    pair = [to_logit(np.array([0.2, 0.9])), to_logit(np.array([0.8, 0.5]))]
    assert mean_probability(pair) == pytest.approx([0.5, 0.75], rel=1e-6)
    assert np.isfinite(to_logit(np.array([0.0, 1.0]))).all()  # clipped, not infinite
