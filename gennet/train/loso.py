"""Leave-one-source-out (LOSO): how a recipe holds up on cameras it never saw.

For each held-out PETA sub-set, train the recipe without it (``exclude_sources``: out of train, val
and test) and score the fold's checkpoint on all of that sub-set's crops: macro-F1 at the
checkpoint's threshold (chosen on the fold's own val split, as shipped), ROC AUC, and macro-F1 at
the best threshold for those crops (what per-camera calibration could recover), so representation
and calibration are told apart. A fold whose run folder already holds a checkpoint is only scored
again, so an interrupted run resumes; one trained with another recipe is refused. The summary covers
every finished fold of the run folder, so folds trained by separate ``--holdout`` invocations (side
by side) end up in one ``loso.json``.
"""

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel

from gennet.checkpoint import read_meta
from gennet.data.manifest import Sample, read_manifest, select
from gennet.errors import ConfigError
from gennet.evaluate.metrics import best_threshold, classification_metrics
from gennet.evaluate.scoring import checkpoint_probs
from gennet.train.config import TrainConfig
from gennet.train.trainer import train

DEFAULT_HOLDOUTS = ("GRID", "CAVIAR4REID", "MIT", "i-LID")
FOLD_FILE = "fold.json"  # wall time and machine of the fold's training run
MEAN_KEYS = ("macro_f1", "auc", "best_macro_f1", "in_domain_test_macro_f1", "wall_minutes")
# how a fold ran and what it reported besides, not what it learned
RUN_ONLY_FIELDS = ("out", "threads", "device", "final_tta")


class FoldResult(BaseModel):
    source: str
    n: int
    n_male: int
    n_female: int
    threshold: float  # the checkpoint's, chosen on the fold's val split
    macro_f1: float
    auc: float
    best_threshold: float
    best_macro_f1: float
    in_domain_test_macro_f1: float  # the other sub-sets' test split
    steps: int
    epochs: int
    train_minutes: float  # the training loop
    wall_minutes: float  # the whole fold: decoding, training, final evaluation
    machine: str


def fold_config(cfg: TrainConfig, source: str) -> TrainConfig:
    """The fold's recipe; flip TTA is not reported (it does not pay for this model, and the
    folds run on a busy CPU)."""
    update = {"exclude_sources": (source,), "out": cfg.out / source, "final_tta": False}
    return cfg.model_copy(update=update)


def machine_description(cfg: TrainConfig) -> str:
    if cfg.device.startswith("cuda"):
        return torch.cuda.get_device_name()
    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s)"


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _comparable(cfg: TrainConfig) -> dict[str, Any]:
    values = _flatten(cfg.to_dict())
    values["data"] = str(Path(values["data"]).resolve())
    return {k: v for k, v in values.items() if k not in RUN_ONLY_FIELDS}


def check_fold_recipe(saved: dict[str, Any], cfg: TrainConfig) -> None:
    """Refuse a fold trained with another recipe than ``cfg`` (a checkpoint's ``recipe``).

    Fields added to the recipe after the fold was trained take their defaults, which is what that
    fold trained with; the thread count, device, run folder and flip-TTA report do not count.
    """
    trained = _comparable(
        TrainConfig.from_dict({k: v for k, v in saved.items() if k in TrainConfig.model_fields})
    )
    wanted = _comparable(cfg)
    differences = [
        f"{key}: {trained.get(key)!r} there, {wanted.get(key)!r} asked"
        for key in sorted(wanted.keys() | trained.keys())
        if trained.get(key) != wanted.get(key)
    ]
    if differences:
        raise ConfigError(
            f"{cfg.out} holds a fold trained with another recipe ({'; '.join(differences)}); "
            "pass --retrain or another --out"
        )


def finished_folds(run: Path) -> list[str]:
    """The held-out sub-sets whose fold in the run folder finished (checkpoint and wall time)."""
    if not run.is_dir():
        return []
    return sorted(
        d.name
        for d in run.iterdir()
        if (d / FOLD_FILE).is_file() and (d / "checkpoint.pt").is_file()
    )


def train_fold(cfg: TrainConfig, retrain: bool = False) -> Path:
    """Train one fold (unless it finished before with the same recipe); record its wall time."""
    path = cfg.out / "checkpoint.pt"
    if path.is_file() and not retrain:
        meta, _ = read_meta(path)
        check_fold_recipe(meta.recipe, cfg)
        return path
    started = time.monotonic()
    path, _ = train(cfg)
    record = {"wall_s": time.monotonic() - started, "machine": machine_description(cfg)}
    (cfg.out / FOLD_FILE).write_text(json.dumps(record, indent=2))
    return path


def fold_splits(samples: Sequence[Sample], source: str) -> tuple[list[Sample], list[Sample]]:
    """A fold's crops: all of the held-out ``source``, and the val split of the other sub-sets."""
    held_out = select(samples, "all", only_sources=(source,))
    return held_out, select(samples, "val", exclude_sources=(source,))


def read_summary(run: Path) -> dict[str, Any]:
    """A finished ``gennet loso`` run's summary, its ``loso.json`` (see :func:`run_loso`)."""
    summary: dict[str, Any] = json.loads((run / "loso.json").read_text())
    return summary


def finished_sources(run: Path) -> list[str]:
    """The held-out sub-sets of a finished ``gennet loso`` run."""
    return [fold["source"] for fold in read_summary(run)["folds"]]


def add_runs_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of the scripts that re-score finished runs (``scripts/loso_*.py``)."""
    parser.add_argument("runs", nargs="+", type=Path, help="finished gennet loso run folders")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/peta"))
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")


def score_fold(cfg: TrainConfig, source: str) -> FoldResult:
    """The fold's checkpoint on every crop of the held-out ``source``."""
    rows = select(read_manifest(cfg.data), "all", only_sources=(source,))
    meta, (probs,) = checkpoint_probs(cfg.out / "checkpoint.pt", [rows])
    check_fold_recipe(meta.recipe, cfg)
    targets = np.array([s.target for s in rows])
    best = best_threshold(targets, probs)
    history = json.loads((cfg.out / "history.json").read_text())
    record = json.loads((cfg.out / FOLD_FILE).read_text())
    return FoldResult(
        source=source,
        n=len(rows),
        n_male=int(targets.sum()),
        n_female=int(len(targets) - targets.sum()),
        threshold=meta.threshold,
        macro_f1=classification_metrics(targets, probs, meta.threshold)["macro_f1"],
        auc=classification_metrics(targets, probs)["auc"],
        best_threshold=best,
        best_macro_f1=classification_metrics(targets, probs, best)["macro_f1"],
        in_domain_test_macro_f1=meta.metrics["test"]["macro_f1"],
        steps=int(history[-1]["step"]),
        epochs=len(history),
        train_minutes=float(meta.recipe["train_minutes"]),
        wall_minutes=record["wall_s"] / 60,
        machine=record["machine"],
    )


def run_loso(
    cfg: TrainConfig, sources: Sequence[str] = DEFAULT_HOLDOUTS, retrain: bool = False
) -> dict[str, Any]:
    """Train the ``sources``' folds in turn, then score them and every other finished fold of
    ``cfg.out``; writes ``cfg.out/loso.json`` and ``cfg.out/loso.md`` (each replaced whole)."""
    for source in sources:
        train_fold(fold_config(cfg, source), retrain)
    others = [s for s in finished_folds(cfg.out) if s not in sources]
    folds = [score_fold(fold_config(cfg, source), source) for source in [*sources, *others]]
    summary = {
        "recipe": cfg.to_dict(),
        "folds": [f.model_dump() for f in folds],
        "mean": {k: float(np.mean([getattr(f, k) for f in folds])) for k in MEAN_KEYS},
    }
    cfg.out.mkdir(parents=True, exist_ok=True)
    _replace_text(cfg.out / "loso.json", json.dumps(summary, indent=2))
    _replace_text(cfg.out / "loso.md", markdown_table(folds))
    return summary


def _replace_text(path: Path, text: str) -> None:
    """Write through a temporary file, so a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.replace(path)


def markdown_table(folds: Sequence[FoldResult]) -> str:
    lines = [
        "| held out | crops (m / f) | macro-F1 (threshold) | ROC AUC | best-threshold macro-F1 "
        "(threshold) | in-domain test macro-F1 | steps (epochs) | fold wall min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in folds:
        lines.append(
            f"| {f.source} | {f.n:,} ({f.n_male} / {f.n_female}) | {f.macro_f1:.3f} "
            f"({f.threshold:.2f}) | {f.auc:.3f} | {f.best_macro_f1:.3f} ({f.best_threshold:.2f}) "
            f"| {f.in_domain_test_macro_f1:.3f} | {f.steps} ({f.epochs}) | {f.wall_minutes:.1f} |"
        )
    mean = {k: np.mean([getattr(f, k) for f in folds]) for k in MEAN_KEYS}
    lines.append(
        f"| **mean** | | **{mean['macro_f1']:.3f}** | **{mean['auc']:.3f}** | "
        f"**{mean['best_macro_f1']:.3f}** | {mean['in_domain_test_macro_f1']:.3f} | | "
        f"{mean['wall_minutes']:.1f} |"
    )
    return "\n".join(lines) + "\n"


def comparison_table(summaries: dict[str, dict[str, Any]]) -> str:
    """Recipes side by side (``{name: loso.json contents}``): per fold and the mean over the folds
    that every run has, macro-F1 / ROC AUC / best-threshold macro-F1 and the fold's wall time."""
    names = list(summaries)
    folds = {n: {f["source"]: f for f in s["folds"]} for n, s in summaries.items()}
    sources = [src for src in folds[names[0]] if all(src in folds[n] for n in names)]
    keys = ("macro_f1", "auc", "best_macro_f1", "wall_minutes")
    header = "| held out | " + " | ".join(
        f"{n}: macro-F1 / AUC / best-thr F1 / wall min" for n in names
    )
    lines = [header + " |", "|---|" + "---|" * len(names)]

    def cells(rows: list[dict[str, Any]]) -> str:
        return " | ".join(
            f"{r['macro_f1']:.3f} / {r['auc']:.3f} / {r['best_macro_f1']:.3f} / "
            f"{r['wall_minutes']:.0f}"
            for r in rows
        )

    for source in sources:
        lines.append(f"| {source} | {cells([folds[n][source] for n in names])} |")
    means = [{k: np.mean([folds[n][s][k] for s in sources]) for k in keys} for n in names]
    lines.append(f"| **mean** | {cells(means)} |")
    return "\n".join(lines) + "\n"
