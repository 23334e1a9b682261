"""Binary classification metrics for the male / female task (pure numpy)."""

from typing import Any

import numpy as np

CLASS_NAMES = ("male", "female")


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
    targets: np.ndarray, prob_male: np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """n, accuracy, per-class precision/recall/F1, macro-F1, confusion and ROC AUC."""
    targets = np.asarray(targets).astype(int)
    predicted_male = np.asarray(prob_male) >= threshold
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


def best_threshold(targets: np.ndarray, prob_male: np.ndarray) -> float:
    """The decision threshold that maximises macro-F1 (searched on a 0.01 grid)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    scores = [classification_metrics(targets, prob_male, float(t))["macro_f1"] for t in grid]
    return float(grid[int(np.argmax(scores))])
