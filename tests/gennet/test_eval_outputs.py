"""ROC / precision-recall curve points, the PNG plots and the text report."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from gennet.commands.evaluate import tta_effect
from gennet.data.manifest import Sample
from gennet.evaluate.metrics import roc_auc
from gennet.evaluate.plots import pr_curve, roc_curve, write_plots
from gennet.evaluate.report import evaluation_report
from gennet.evaluate.text_report import format_report

TARGETS = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
PROBS = np.array([0.9, 0.8, 0.4, 0.6, 0.7, 0.3, 0.2, 0.1, 0.6, 0.05])


def _report(probs: np.ndarray = PROBS) -> dict[str, Any]:
    sources = ["GRID"] * 5 + ["MIT"] * 5
    samples = [
        Sample(path=Path(f"{i}.png"), target=int(t), source=s)
        for i, (t, s) in enumerate(zip(TARGETS, sources, strict=True))
    ]
    return evaluation_report(samples, probs, 0.5)


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
    report = _report()
    report["tta"] = {"without": _report(), "effect": tta_effect(_report(), report)}
    paths = write_plots(tmp_path / "plots", report, TARGETS, PROBS)
    assert sorted(p.name for p in paths) == [
        "confusion_matrix.png",
        "per_source.png",
        "precision_recall.png",
        "roc_curve.png",
    ]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 200 and image.height > 200


def test_text_report_shows_every_section() -> None:
    report = _report()
    without = _report(np.where(TARGETS == 1, 0.9, 0.1))  # a perfect run to compare with
    report["tta"] = {"without": without, "effect": tta_effect(without, report)}
    text = format_report(report)
    rows = [line.split() for line in text.splitlines()]
    assert "n 10   accuracy 0.7000   macro-F1 0.6970   ROC AUC 0.8542" in text
    assert ["male", "0.6000", "0.7500", "0.6667", "4"] in rows  # precision, recall, F1, support
    assert ["female", "2", "4"] in rows  # confusion matrix row
    # GRID: 4 male (one missed) and 1 female (called male); MIT: 5 female, one called male.
    assert ["GRID", "5", "0.6000", "0.3750", "0.5000", "0.7500", "0.0000"] in rows
    assert ["MIT", "5", "0.8000", "0.4444", "n/a", "0.0000", "0.8889"] in rows  # one class: no AUC
    assert ["accuracy", "1.0000", "0.7000", "-0.3000"] in rows  # TTA effect
