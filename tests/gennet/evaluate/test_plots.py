"""ROC / precision-recall curve points and the PNG plots (gennet.evaluate.plots)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gennet.commands.evaluate import tta_effect
from gennet.evaluate.metrics import roc_auc
from gennet.evaluate.plots import pr_curve, roc_curve, write_plots
from tests.support.scores import PROBS, TARGETS, report


def test_curves_by_hand() -> None:
    targets, scores = np.array([1, 0, 1]), np.array([0.9, 0.8, 0.3])
    fpr, tpr = roc_curve(targets, scores)
    np.testing.assert_allclose(fpr, [0, 0, 1, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1])
    recall, precision = pr_curve(targets, scores)
    np.testing.assert_allclose(recall, [0, 0.5, 0.5, 1])
    np.testing.assert_allclose(precision, [1, 1, 0.5, 2 / 3])


def test_roc_area_equals_auc_with_ties() -> None:
    fpr, tpr = roc_curve(TARGETS, PROBS)
    assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(TARGETS, PROBS))
    rng = np.random.default_rng(0)
    targets, scores = rng.integers(0, 2, 500), rng.integers(0, 20, 500) / 20
    fpr, tpr = roc_curve(targets, scores)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(targets, scores))


def test_write_plots_draws_four_pngs(tmp_path: Path) -> None:
    evaluated = report()
    evaluated["tta"] = {"without": report(), "effect": tta_effect(report(), evaluated)}
    paths = write_plots(tmp_path / "plots", evaluated, TARGETS, PROBS)
    assert sorted(p.name for p in paths) == [
        "confusion_matrix.png",
        "per_source.png",
        "precision_recall.png",
        "roc_curve.png",
    ]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 200 and image.height > 200
