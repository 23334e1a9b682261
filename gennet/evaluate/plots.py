"""Evaluation plots as PNG files: confusion matrix, ROC and precision-recall curves, per source.

Figures are built with matplotlib's object API on the Agg canvas (no pyplot, no display, no global
state), so plotting is safe in tests, servers and threads.
"""

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gennet.evaluate.metrics import CLASS_NAMES


def _cumulative_counts(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives when calling positive every score >= each distinct score."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    sorted_scores = np.asarray(scores, dtype=np.float64)[order]
    hits = np.asarray(targets).astype(bool)[order]
    last_of_each = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    tps = np.cumsum(hits)[last_of_each]
    return tps, last_of_each + 1 - tps


def roc_curve(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) from (0, 0) to (1, 1), one point per score."""
    tps, fps = _cumulative_counts(targets, scores)
    return np.r_[0.0, fps / max(fps[-1], 1)], np.r_[0.0, tps / max(tps[-1], 1)]


def pr_curve(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision), starting at recall 0 with precision 1, one point per score."""
    tps, fps = _cumulative_counts(targets, scores)
    return np.r_[0.0, tps / max(tps[-1], 1)], np.r_[1.0, tps / (tps + fps)]


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def plot_confusion(matrix: list[list[int]], path: Path) -> Path:
    counts = np.asarray(matrix, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(4.2, 3.6))
    ax = figure.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(counts):
        colour = "white" if shares[row, col] > 0.5 else "black"
        text = f"{int(count)}\n{shares[row, col]:.1%}"
        ax.text(col, row, text, ha="center", va="center", color=colour)
    ax.set_xticks([0, 1], CLASS_NAMES)
    ax.set_yticks([0, 1], CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (row share)")
    figure.colorbar(image, ax=ax, fraction=0.046)
    return _save(figure, path)


def plot_roc(targets: np.ndarray, prob_male: np.ndarray, auc: float, path: Path) -> Path:
    fpr, tpr = roc_curve(targets, prob_male)
    figure = Figure(figsize=(4.5, 4.2))
    ax = figure.add_subplot()
    ax.plot(fpr, tpr, label=f"male vs female (AUC {auc:.4f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return _save(figure, path)


def plot_pr(targets: np.ndarray, prob_male: np.ndarray, path: Path) -> Path:
    """One precision-recall curve per class (female scored by 1 - P(male))."""
    targets = np.asarray(targets).astype(bool)
    figure = Figure(figsize=(4.5, 4.2))
    ax = figure.add_subplot()
    for name, hits, scores in (
        ("male", targets, prob_male),
        ("female", ~targets, 1.0 - np.asarray(prob_male)),
    ):
        recall, precision = pr_curve(hits, scores)
        ax.plot(recall, precision, label=name)
    ax.set(xlabel="recall", ylabel="precision", title="precision-recall curves")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left")
    return _save(figure, path)


def plot_per_source(report: dict[str, Any], path: Path) -> Path:
    """Macro-F1 overall and per source; with a TTA section, bars without and with TTA."""
    names = ["all", *report["per_source"]]
    rows = [report, *report["per_source"].values()]
    series = {"macro-F1": [r["macro_f1"] for r in rows]}
    if "tta" in report:
        without = report["tta"]["without"]
        plain = [without, *(without["per_source"][s] for s in report["per_source"])]
        series = {"without TTA": [r["macro_f1"] for r in plain], "with TTA": series["macro-F1"]}
    figure = Figure(figsize=(max(4.5, 0.9 * len(names) + 1.5), 3.8))
    ax = figure.add_subplot()
    width = 0.8 / len(series)
    positions = np.arange(len(names))
    for i, (label, values) in enumerate(series.items()):
        offset = (i - (len(series) - 1) / 2) * width
        bars = ax.bar(positions + offset, values, width, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(positions, [f"{n}\n(n={r['n']})" for n, r in zip(names, rows, strict=True)])
    ax.set(ylim=(0, 1.18), ylabel="macro-F1", title="macro-F1 per source")
    ax.legend(loc="upper right", ncol=len(series), fontsize=8)
    return _save(figure, path)


def write_plots(
    out_dir: Path, report: dict[str, Any], targets: np.ndarray, prob_male: np.ndarray
) -> list[Path]:
    """All four plots of one evaluation into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        plot_confusion(report["confusion"], out_dir / "confusion_matrix.png"),
        plot_roc(targets, prob_male, report["auc"], out_dir / "roc_curve.png"),
        plot_pr(targets, prob_male, out_dir / "precision_recall.png"),
        plot_per_source(report, out_dir / "per_source.png"),
    ]
