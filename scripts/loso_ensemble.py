"""How much an ensemble of finished ``gennet loso`` runs gains on the held-out sub-sets.

It measures the headroom of distillation: what a teacher made of the candidate recipes would score
on cameras it never saw. For each fold, every run's checkpoint (trained without that sub-set)
scores the sub-set's crops and the fold's val split. The ensemble's probability is the sigmoid
of the runs' mean logit, and its threshold is the val macro-F1 optimum of the fold's val split
(the rule the fold checkpoints it was run on were trained with, before the equal-recall point). The figures are those of ``gennet loso``: macro-F1 at that
threshold, ROC AUC, macro-F1 at the best threshold.

Run from the repository root with the project's venv (gennet installed editable):

    .venv/bin/python scripts/loso_ensemble.py runs/loso/baseline runs/loso/balanced \
        runs/loso/camera runs/loso/mixstyle --out reports/loso/ensemble.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from gennet.data.manifest import Sample, read_manifest
from gennet.evaluate.ensemble import mean_probability, to_logit
from gennet.evaluate.metrics import best_threshold, classification_metrics
from gennet.evaluate.scoring import checkpoint_probs
from gennet.train.loso import add_runs_arguments, finished_sources, fold_splits


def logits(checkpoint: Path, splits: list[list[Sample]]) -> list[np.ndarray]:
    """The checkpoint's logit for every crop of each split."""
    _, probs_per_split = checkpoint_probs(checkpoint, splits)
    return [to_logit(probs) for probs in probs_per_split]


def figures(targets: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, float]:
    best = best_threshold(targets, probs)
    return {
        "threshold": threshold,
        "macro_f1": classification_metrics(targets, probs, threshold)["macro_f1"],
        "auc": classification_metrics(targets, probs)["auc"],
        "best_threshold": best,
        "best_macro_f1": classification_metrics(targets, probs, best)["macro_f1"],
    }


def ensemble_fold(runs: list[Path], source: str, samples: list[Sample]) -> dict[str, Any]:
    held_out, val = fold_splits(samples, source)
    held_targets = np.array([s.target for s in held_out])
    val_targets = np.array([s.target for s in val])
    per_run = [logits(run / source / "checkpoint.pt", [held_out, val]) for run in runs]
    held = mean_probability([held for held, _ in per_run])
    threshold = best_threshold(val_targets, mean_probability([val for _, val in per_run]))
    return {"source": source, "n": len(held_out), **figures(held_targets, held, threshold)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_runs_arguments(parser)
    args = parser.parse_args()
    folds_of = [finished_sources(run) for run in args.runs]
    sources = [s for s in folds_of[0] if all(s in folds for folds in folds_of)]
    samples = read_manifest(args.data)
    folds = [ensemble_fold(args.runs, source, samples) for source in sources]
    keys = ("macro_f1", "auc", "best_macro_f1")
    summary: dict[str, Any] = {
        "runs": [str(r) for r in args.runs],
        "combine": "sigmoid of the mean logit; threshold chosen on each fold's val split",
        "folds": folds,
        "mean": {k: float(np.mean([f[k] for f in folds])) for k in keys},
    }
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    for fold in folds:
        print(
            " ".join(
                f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in fold.items()
            )
        )
    print("mean " + " ".join(f"{k}={v:.3f}" for k, v in summary["mean"].items()))


if __name__ == "__main__":
    main()
