"""Metrics against a hand-computed confusion matrix and AUC; threshold search; per source."""

import math

import numpy as np
import pytest

from gennet.evaluate.metrics import (
    best_threshold,
    classification_metrics,
    confusion,
    equal_recall_threshold,
    macro_f1_curve,
    roc_auc,
)
from gennet.evaluate.report import evaluation_report
from tests.support.scores import PROBS, TARGETS, samples


def test_confusion_matrix_by_hand() -> None:
    assert confusion(TARGETS, PROBS >= 0.5) == [[3, 1], [2, 4]]


def test_classification_metrics_by_hand() -> None:
    m = classification_metrics(TARGETS, PROBS, threshold=0.5)
    assert m["n"] == 10
    assert m["confusion"] == [[3, 1], [2, 4]]
    assert m["accuracy"] == pytest.approx(0.7)
    assert m["precision"] == pytest.approx({"male": 3 / 5, "female": 4 / 5})
    assert m["recall"] == pytest.approx({"male": 3 / 4, "female": 4 / 6})
    f1_male = 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)  # 2/3
    f1_female = 2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6)  # 8/11
    assert m["f1"] == pytest.approx({"male": f1_male, "female": f1_female})
    assert m["macro_f1"] == pytest.approx((2 / 3 + 8 / 11) / 2)
    # Pairs (male, female) ranked right: 6 + 6 + 4 + 4.5 (0.6 ties a female 0.6) of 24.
    assert m["auc"] == pytest.approx(20.5 / 24)


def test_threshold_is_inclusive_for_male() -> None:
    m = classification_metrics(np.array([1, 0]), np.array([0.6, 0.59]), threshold=0.6)
    assert m["confusion"] == [[1, 0], [0, 1]]


def test_auc_edge_cases() -> None:
    assert math.isnan(roc_auc(np.array([1, 1]), np.array([0.2, 0.9])))
    assert roc_auc(np.array([1, 0, 1, 0]), np.full(4, 0.5)) == 0.5
    assert roc_auc(np.array([1, 1, 0]), np.array([0.1, 0.2, 0.9])) == 0.0


def test_empty_class_gives_zero_not_an_error() -> None:
    m = classification_metrics(np.array([1, 1]), np.array([0.9, 0.8]))
    assert m["f1"]["female"] == 0.0 and m["precision"]["female"] == 0.0
    assert math.isnan(m["auc"])


def test_best_threshold_separates_the_classes() -> None:
    targets, probs = np.array([1, 1, 0, 0]), np.array([0.95, 0.9, 0.85, 0.8])
    threshold = best_threshold(targets, probs)
    assert 0.85 < threshold <= 0.9
    assert threshold == 0.86  # grid points 0.86 ... 0.90 make one decision: the lowest of them
    assert classification_metrics(targets, probs, threshold)["macro_f1"] == 1.0
    assert classification_metrics(targets, probs, 0.5)["macro_f1"] < 0.5


def test_best_threshold_takes_the_middle_of_tied_decisions() -> None:
    """Calling 0.4, 0.6 and 0.8 male, or only 0.8, both reach macro-F1 11/15 (calling 0.6 and 0.8
    male reaches 0.5): of two tied decisions the upper middle one, then its lowest cut."""
    targets, probs = np.array([1, 0, 1, 0]), np.array([0.8, 0.6, 0.4, 0.2])
    assert classification_metrics(targets, probs, 0.3)["macro_f1"] == pytest.approx(11 / 15)
    assert classification_metrics(targets, probs, 0.7)["macro_f1"] == pytest.approx(11 / 15)
    assert best_threshold(targets, probs) == 0.61  # the grid: 0.61 ... 0.80 call only 0.8 male
    assert best_threshold(targets, probs, [0.1, 0.3, 0.5, 0.7, 0.9]) == 0.7
    assert best_threshold(targets[::-1], probs[::-1], [0.1, 0.3, 0.5, 0.7, 0.9]) == 0.7
    # three tied decisions (all male, the middle split, all female; 1/3 each): the middle one
    three = (np.array([1, 1, 0, 1, 0, 0]), np.arange(1, 7) / 7)
    assert best_threshold(*three, [0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9]) == 0.5


def test_report_adds_per_source_metrics() -> None:
    report = evaluation_report(samples(["A"] * 5 + ["B"] * 5), PROBS, 0.5)
    assert report["confusion"] == [[3, 1], [2, 4]]
    assert set(report["per_source"]) == {"A", "B"}
    assert report["per_source"]["A"]["n"] == 5
    assert report["per_source"]["A"]["confusion"] == [[3, 1], [1, 0]]
    assert report["per_source"]["B"]["confusion"] == [[0, 0], [1, 4]]


def test_equal_recall_threshold_balances_the_recalls_whatever_the_male_share() -> None:
    males = np.linspace(0.3, 0.99, 70)  # overlapping, mirror-image score distributions:
    females = 1.0 - males  # male and female recall are equal at 0.5
    for copies in (1, 4):  # 50 % and 80 % male: the macro-F1 optimum moves, this does not
        targets = np.r_[np.ones(70 * copies), np.zeros(70)]
        probs = np.r_[np.tile(males, copies), females]
        threshold = equal_recall_threshold(targets, probs)
        recall = classification_metrics(targets, probs, threshold)["recall"]
        assert threshold == pytest.approx(0.5, abs=0.011)
        assert recall["male"] == pytest.approx(recall["female"], abs=0.02)
    assert best_threshold(targets, probs) < 0.45  # the 80 % male optimum calls more crops male


def test_macro_f1_curve_equals_classification_metrics() -> None:
    rng = np.random.default_rng(3)
    targets = rng.integers(0, 2, 400)
    probs = np.round(rng.random(400), 2).astype(np.float32)  # many ties
    cuts = np.r_[0.0, probs[:20], np.linspace(0.05, 0.95, 19), 1.0]
    expected = [classification_metrics(targets, probs, float(c))["macro_f1"] for c in cuts]
    assert np.array_equal(macro_f1_curve(targets, probs, cuts), np.array(expected))
