"""Which rule, applied on val, gives the default threshold that holds up on unseen cameras.

For every fold of finished ``gennet loso`` runs, the fold's checkpoint (trained without the held-out
sub-set) scores the fold's val split and the held-out sub-set's crops. Each rule picks a threshold
on val; the figure is the held-out macro-F1 at it. The rules: the macro-F1 optimum on val (the rule
of the checkpoints up to 2026-11-30) and the equal-recall point (the rule since).

Run from the repository root with the project's venv (gennet installed editable):

    .venv/bin/python scripts/threshold_rules.py runs/loso/baseline runs/loso/balanced \
        runs/loso/camera runs/loso/mixstyle runs/loso/camera_aug runs/loso/baseline_seed1 \
        --out reports/loso/threshold_rules.json
"""

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from gennet.data.manifest import Sample, read_manifest
from gennet.evaluate.metrics import best_threshold, classification_metrics, equal_recall_threshold
from gennet.evaluate.scoring import checkpoint_probs
from gennet.train.loso import add_runs_arguments, finished_sources, fold_splits

RULES = {"val_macro_f1_optimum": best_threshold, "val_equal_recall": equal_recall_threshold}


def fold_figures(run: Path, source: str, samples: list[Sample]) -> dict[str, Any]:
    held_out, val = fold_splits(samples, source)
    _, (held_probs, val_probs) = checkpoint_probs(run / source / "checkpoint.pt", [held_out, val])
    held_targets = np.array([s.target for s in held_out])
    val_targets = np.array([s.target for s in val])
    figures: dict[str, Any] = {"source": source, "n": len(held_out)}
    for name, rule in RULES.items():
        threshold = rule(val_targets, val_probs)
        f1 = classification_metrics(held_targets, held_probs, threshold)["macro_f1"]
        figures[name] = {"threshold": threshold, "macro_f1": f1}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_runs_arguments(parser)
    args = parser.parse_args()
    samples = read_manifest(args.data)
    report: dict[str, Any] = {"rules": list(RULES), "runs": {}}
    print("| run | folds | " + " | ".join(RULES) + " |\n|---|---|" + "---|" * len(RULES))
    for run in args.runs:
        sources = finished_sources(run)
        folds = [fold_figures(run, source, samples) for source in sources]
        mean = {name: float(np.mean([f[name]["macro_f1"] for f in folds])) for name in RULES}
        report["runs"][str(run)] = {"folds": folds, "mean_macro_f1": mean}
        cells = " | ".join(f"{mean[name]:.3f}" for name in RULES)
        print(f"| {run.name} | {', '.join(sources)} | {cells} |", flush=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
