"""Scoring a checkpoint on manifest rows (gennet.evaluate.scoring: the LOSO reports and scripts);
combining runs: ``test_ensemble.py``."""

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gennet.checkpoint import load_checkpoint
from gennet.data.manifest import Sample
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
