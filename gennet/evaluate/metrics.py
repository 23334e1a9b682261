"""Binary classification metrics for the male / female task (pure numpy)."""

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from gennet.decision import CLASS_NAMES, is_positive

__all__ = [
    "CLASS_NAMES",
    "best_threshold",
    "classification_metrics",
    "confusion",
    "equal_recall_threshold",
    "macro_f1_curve",
    "roc_auc",
]
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def confusion(targets: np.ndarray, predicted_male: np.ndarray) -> list[list[int]]:
    """2x2 confusion matrix, rows = true class, columns = predicted class, order (male, female)."""
    t = np.asarray(targets).astype(bool)
    p = np.asarray(predicted_male).astype(bool)
    return [
        [int(np.sum(t & p)), int(np.sum(t & ~p))],
        [int(np.sum(~t & p)), int(np.sum(~t & ~p))],
    ]


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def roc_auc(targets: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties); NaN for one class."""
    targets = np.asarray(targets).astype(bool)
    positives, negatives = int(targets.sum()), int((~targets).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores))
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        ranks[order[start : start + count]] = start + (count + 1) / 2
    u = ranks[targets].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def classification_metrics(
    targets: np.ndarray, prob_male: np.ndarray, threshold: ArrayLike = 0.5
) -> dict[str, Any]:
    """n, accuracy, per-class precision/recall/F1, macro-F1, confusion and ROC AUC.

    ``threshold`` is one value, or one per crop (per-camera thresholds); it is reported as given.
    """
    targets = np.asarray(targets).astype(int)
    predicted_male = is_positive(prob_male, threshold)
    matrix = confusion(targets, predicted_male)
    precision, recall, f1 = {}, {}, {}
    for i, name in enumerate(CLASS_NAMES):
        tp = matrix[i][i]
        predicted = matrix[0][i] + matrix[1][i]
        actual = sum(matrix[i])
        precision[name] = _safe_div(tp, predicted)
        recall[name] = _safe_div(tp, actual)
        f1[name] = _safe_div(2 * precision[name] * recall[name], precision[name] + recall[name])
    n = len(targets)
    return {
        "n": n,
        "accuracy": _safe_div(matrix[0][0] + matrix[1][1], n),
        "macro_f1": (f1["male"] + f1["female"]) / 2,
        "auc": roc_auc(targets, np.asarray(prob_male)),
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "confusion": matrix,
        "threshold": threshold,
    }


def _counts(
    targets: np.ndarray, prob_male: np.ndarray, thresholds: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(tp, fp, fn, tn) at each of ``thresholds``, male the positive class (vectorised, in
    O((n + k) log n))."""
    targets = np.asarray(targets).astype(bool)
    prob_male = np.asarray(prob_male)
    scores, male_scores = np.sort(prob_male), np.sort(prob_male[targets])
    # compare in the scores' precision, as ``prob >= threshold`` does with a Python float
    cuts = np.asarray(thresholds, dtype=scores.dtype if scores.dtype.kind == "f" else None)
    # crops at or above each threshold are called male (the decision rule): count them
    called = len(scores) - np.searchsorted(scores, cuts, side="left")
    tp = len(male_scores) - np.searchsorted(male_scores, cuts, side="left")
    fp = called - tp
    fn = len(male_scores) - tp
    tn = len(scores) - len(male_scores) - fp
    return tp, fp, fn, tn


def macro_f1_curve(targets: np.ndarray, prob_male: np.ndarray, thresholds: ArrayLike) -> np.ndarray:
    """Macro-F1 at each of ``thresholds`` (the same figures as :func:`classification_metrics`)."""
    return _macro_f1(*_counts(targets, prob_male, thresholds))


def _macro_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    return (_f1(tp, tp + fp, tp + fn) + _f1(tn, tn + fn, tn + fp)) / 2


def _f1(tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """F1 per entry, 0 where undefined, with the arithmetic of :func:`classification_metrics`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(actual > 0, tp / np.maximum(actual, 1), 0.0)
        total = precision + recall
        return np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1), 0.0)


def best_threshold(
    targets: ArrayLike, prob_male: ArrayLike, cuts: ArrayLike = THRESHOLD_GRID
) -> float:
    """The threshold among ``cuts`` (ascending) that maximises macro-F1 on these crops.

    The one macro-F1 fitter (``targets``: 1 male, 0 female). Training and the LOSO reports search
    the 0.01 grid (the default); calibration searches one cut per decision its scores allow
    (:func:`gennet.evaluate.calibration_fit.labels_threshold`).

    Ties, in two steps. Several decisions (sets of crops called male) may reach the best
    macro-F1: the middle one is taken (the upper middle of an even number), a hedge between
    equally good calls rather than the edge of them. Several cuts may make that one decision (grid
    points with no crop between them): the lowest is taken. The first step was calibration's rule
    (its cuts are one per decision), the second the grid's (it took its lowest best cut), so both
    keep the thresholds they shipped with: on the shipped model's scores of PETA val, test, each
    sub-set and each GRID camera, whole and in 200 random halves, all 3,216 calibration fits and
    every whole-group grid fit are unchanged, where the middle grid cut would move 8 of 16 groups.
    """
    cuts = np.asarray(cuts)
    tp, fp, fn, tn = _counts(np.asarray(targets), np.asarray(prob_male), cuts)
    curve = _macro_f1(tp, fp, fn, tn)
    best = np.flatnonzero(curve == curve.max())
    called = (tp + fp)[best]  # how many crops each best cut calls male: one count per decision
    decisions = np.unique(called)[::-1]  # in cut order (higher cuts call fewer crops male)
    chosen = decisions[len(decisions) // 2]
    return float(cuts[best[np.flatnonzero(called == chosen)[0]]])


def equal_recall_threshold(targets: np.ndarray, prob_male: np.ndarray) -> float:
    """The decision threshold at which male and female recall are closest (the equal-error
    point; on the 0.01 grid, lowest on ties). The checkpoint's default threshold.

    Unlike the macro-F1 optimum, it does not depend on the male share of the crops it is chosen
    on, and it is not pulled to the edge of a flat optimum: chosen on val, it scored higher on
    PETA test and, on the leave-one-source-out folds, on cameras the model never saw (model card,
    "The equal-recall point on val", and ``scripts/threshold_rules.py``).
    """
    tp, fp, fn, tn = _counts(targets, prob_male, THRESHOLD_GRID)
    male_recall = tp / np.maximum(tp + fn, 1)
    female_recall = tn / np.maximum(tn + fp, 1)
    return float(THRESHOLD_GRID[int(np.argmin(np.abs(male_recall - female_recall)))])
