"""Fitting per-camera thresholds (synthetic scores, known answers): with labels, by male share,
per group and into a calibration file."""

import re
from pathlib import Path

import numpy as np
import pytest

from gennet.data.manifest import Sample
from gennet.errors import CalibrationError
from gennet.evaluate.calibration_fit import (
    every_cut,
    fit_calibration,
    fit_group,
    group_key,
    labels_threshold,
    male_share_threshold,
    rows_by_group,
)
from gennet.evaluate.metrics import classification_metrics
from tests.support.cameras import UNTELLABLE_CAMERAS

DIGEST = "ab" * 32


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_crops_group_by_camera_else_source_or_by_source() -> None:
    crops = [
        Sample(path=Path("a.png"), target=1, source="GRID", camera="GRID:cam2"),
        Sample(path=Path("b.png"), target=0, source="MIT", camera=""),
        Sample(path=Path("c.png"), target=0, source="GRID", camera="GRID:cam1"),
        Sample(path=Path("d.png"), target=1, source="GRID", camera="GRID:cam2"),
    ]
    by_camera = np.array([group_key(s, "camera") for s in crops])
    assert by_camera.tolist() == ["GRID:cam2", "MIT", "GRID:cam1", "GRID:cam2"]
    rows = rows_by_group(by_camera)
    assert list(rows) == ["GRID:cam1", "GRID:cam2", "MIT"]  # name order
    assert [r.tolist() for r in rows.values()] == [[2], [0, 3], [1]]
    assert [group_key(s, "source") for s in crops] == ["GRID", "MIT", "GRID", "GRID"]


def test_every_cut_is_one_threshold_per_decision_between_crops() -> None:
    scores = np.array([0.2, 0.6, 0.2, 0.9], dtype=np.float32)
    cuts = every_cut(scores)
    assert np.all(np.diff(cuts) > 0)
    called = [int(np.sum(scores.astype(np.float64) >= c)) for c in cuts]
    assert called == [4, 2, 1, 0]  # every decision once, from all male to none
    assert not np.any(np.isin(cuts, scores.astype(np.float64)))
    # a crop scored 1.0 is male at any threshold: no cut above it, and none repeats a decision
    assert every_cut([0.3, 1.0]).tolist() == pytest.approx([0.2995, 0.65])
    with pytest.raises(ValueError, match="no scores"):
        every_cut([])


def test_labels_threshold_separates_separable_scores_midway() -> None:
    females = np.array([0.10, 0.15, 0.20, 0.25])
    males = np.array([0.35, 0.40, 0.45, 0.50])
    scores = np.r_[females, males]
    labels = np.r_[np.zeros(4), np.ones(4)]
    assert labels_threshold(scores, labels) == pytest.approx(0.30)
    assert labels_threshold(scores[::-1], labels[::-1]) == pytest.approx(0.30)


@pytest.mark.parametrize("bias", [-1.0, 0.0, 1.0])
def test_labels_threshold_recovers_a_shifted_cameras_optimum(bias: float) -> None:
    """Logits N(bias -/+ 1, 1) per class, balanced: the macro-F1 optimum is sigmoid(bias)."""
    rng = np.random.default_rng(int(bias) + 10)
    n = 20_000
    labels = rng.integers(0, 2, n)
    scores = sigmoid(rng.normal(bias + np.where(labels == 1, 1.0, -1.0), 1.0))
    found = labels_threshold(scores, labels)
    assert found == pytest.approx(sigmoid(np.array(bias)), abs=0.03)
    assert abs(found - 0.5) > 0.15 or bias == 0.0  # a shifted camera really moves it


def test_labels_threshold_is_the_best_of_every_possible_cut() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 60)
    scores = np.clip(0.5 + 0.2 * (labels - 0.5) + rng.normal(0, 0.25, 60), 0, 1)
    found = labels_threshold(scores, labels)
    every = [classification_metrics(labels, scores, float(t))["macro_f1"] for t in scores]
    assert classification_metrics(labels, scores, found)["macro_f1"] == pytest.approx(max(every))
    assert not np.any(scores == found)  # it sits between crops, not on one


@pytest.mark.parametrize("share", [0.0, 0.1, 0.3, 0.5, 0.7, 1.0])
def test_male_share_threshold_calls_that_share_male(share: float) -> None:
    scores = np.random.default_rng(7).random(1000)
    threshold = male_share_threshold(scores, share)
    assert np.mean(scores >= threshold) == pytest.approx(share)
    assert 0.0 <= threshold <= 1.0


def test_male_share_threshold_is_the_known_quantile() -> None:
    scores = np.arange(100) / 100  # 0.00 ... 0.99
    assert male_share_threshold(scores, 0.3) == pytest.approx(0.695)  # 0.70 ... 0.99 are male
    assert male_share_threshold(scores[::-1], 0.5) == pytest.approx(0.495)
    with pytest.raises(ValueError, match="within"):
        male_share_threshold(scores, 1.2)


def test_fit_group_keeps_the_default_below_min_per_label() -> None:
    scores = np.r_[np.full(9, 0.2), np.full(30, 0.9)]
    labels = np.r_[np.zeros(9), np.ones(30)]
    kept = fit_group(scores, labels, default_threshold=0.47, min_per_label=10)
    assert kept.threshold == 0.47 and not kept.fitted
    assert kept.note is not None and "30 male and 9 female" in kept.note and "10" in kept.note
    assert kept.macro_f1_before == kept.macro_f1_after == 1.0

    fitted = fit_group(scores, labels, default_threshold=0.47, min_per_label=9)
    assert fitted.fitted and fitted.note is None
    assert fitted.threshold == pytest.approx(0.55)
    assert (fitted.n_male, fitted.n_female, fitted.n) == (30, 9, 39)


def test_fit_group_by_share_never_reads_labels() -> None:
    rng = np.random.default_rng(11)
    scores = rng.random(200)
    labels = (scores > 0.6).astype(int)
    with_labels = fit_group(scores, labels, 0.5, male_share=0.4)
    shuffled = fit_group(scores, rng.permutation(labels), 0.5, male_share=0.4)
    without = fit_group(scores, None, 0.5, male_share=0.4)
    assert with_labels.threshold == shuffled.threshold == without.threshold
    assert with_labels.threshold == pytest.approx(0.6, abs=0.02)  # 40 % are above 0.6
    assert with_labels.macro_f1_after is not None and with_labels.macro_f1_before is not None
    assert with_labels.macro_f1_after > with_labels.macro_f1_before  # labels say it helped
    assert without.macro_f1_before is None and (without.n_male, without.n_female) == (0, 0)
    small = fit_group(scores[:19], None, 0.5, male_share=0.4, min_per_label=10)
    assert not small.fitted and small.threshold == 0.5 and "fewer than 20" in (small.note or "")


def test_fit_calibration_builds_a_file_per_group() -> None:
    rng = np.random.default_rng(2)
    low = rng.random(40) * 0.4, None
    high = 0.6 + rng.random(40) * 0.4, None
    calibration = fit_calibration(
        {"cam2": high, "cam1": low}, DIGEST, default_threshold=0.5, male_share=0.5
    )
    assert list(calibration.groups) == ["cam1", "cam2"]
    assert calibration.mode == "male_share" and calibration.male_share == 0.5
    assert calibration.threshold_for("cam1") < 0.4 < 0.6 < calibration.threshold_for("cam2")


@pytest.mark.parametrize(
    ("name", "reason"),
    UNTELLABLE_CAMERAS,
)
def test_a_camera_the_service_could_not_tell_apart_is_not_fitted(name: str, reason: str) -> None:
    """The names the file refuses (``tests/gennet/test_calibration.py``) are refused before fitting, too."""
    with pytest.raises(CalibrationError, match=re.escape(reason)):
        fit_calibration({name: (np.linspace(0, 1, 40), None)}, DIGEST, 0.5, male_share=0.5)
