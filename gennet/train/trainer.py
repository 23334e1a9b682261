"""The training loop: cached decoded crops, batch augmentation, AdamW with a learning-rate schedule
(``gennet.train.schedule``: warm-up, then plateau cuts or a cosine decay), an EMA of the weights,
early stopping on val macro-F1, and a checkpoint that carries the chosen threshold and val/test
metrics."""

import csv
import json
import logging
import platform
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from gennet.checkpoint import IMAGENET_MEAN, IMAGENET_STD, CheckpointMeta, save_checkpoint
from gennet.data.augment import augment_batch
from gennet.data.cache import decode_samples
from gennet.data.manifest import Sample, read_manifest, select
from gennet.data.sampling import EpochSampler
from gennet.evaluate.metrics import (
    best_threshold,
    classification_metrics,
    equal_recall_threshold,
)
from gennet.evaluate.report import evaluation_report
from gennet.inference import TorchPredictor, predict_images
from gennet.models import create_model
from gennet.models.complexity import count_gflops, count_parameters
from gennet.models.transfer import load_partial
from gennet.preprocess import PreprocessSpec
from gennet.train.config import TrainConfig
from gennet.train.losses import build_loss
from gennet.train.schedule import LearningRate

log = logging.getLogger(__name__)


@dataclass
class SplitData:
    samples: list[Sample]
    images: np.ndarray  # uint8 (N, H, W, 3)
    targets: np.ndarray  # 1 = male

    @classmethod
    def load(cls, samples: list[Sample], spec: PreprocessSpec) -> "SplitData":
        return cls(samples, decode_samples(samples, spec), np.array([s.target for s in samples]))


def _provenance(cfg: TrainConfig, splits: dict[str, SplitData]) -> dict[str, Any]:
    return {
        "dataset": "PETA (8 sub-sets), identity-disjoint split",
        "root": str(cfg.data),
        "licence": "PETA: research purposes only, not for commercial use; sub-sets carry their own terms",
        "exclude_sources": list(cfg.exclude_sources),
        "counts": {
            name: {
                "n": len(s.samples),
                **Counter(("male" if t else "female") for t in s.targets.tolist()),
            }
            for name, s in splits.items()
        },
    }


def _environment() -> dict[str, str]:
    """What the weights' bits depend on besides the recipe and the data: the same recipe gives
    other weights under another Pillow release (the decoded pixels) or CPU kernel set (the
    arithmetic)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def _val_probs(
    model: nn.Module, data: SplitData, spec: PreprocessSpec, tta: bool = False
) -> np.ndarray:
    was_training = model.training
    device = str(next(model.parameters()).device)
    probs = predict_images(TorchPredictor(model, device), data.images, spec, tta=tta)
    model.train(was_training)
    return probs


def _bce(probs: np.ndarray, targets: np.ndarray) -> float:
    p = torch.from_numpy(probs).double().clamp(1e-7, 1 - 1e-7)
    return float(F.binary_cross_entropy(p, torch.from_numpy(targets).double()))


def _build_model(cfg: TrainConfig) -> tuple[nn.Module, set[str]]:
    """The model, and the names of the tensors loaded from ``cfg.init_from``."""
    model = create_model(cfg.arch, **cfg.arch_kwargs)
    if cfg.init_from is None:
        return model, set()
    report = load_partial(model, cfg.init_from)
    log.info("init from %s: %s", cfg.init_from, report.summary())
    if report.missing:
        log.info("not initialised from it: %s", ", ".join(report.missing))
    return model, set(report.loaded)


def _param_groups(model: nn.Module, pretrained: set[str], cfg: TrainConfig) -> list[dict[str, Any]]:
    """The optimiser's groups: the pretrained parameters at ``pretrained_lr_factor`` x the rate and
    the rest at the rate (``lr_scale`` is read by :class:`LearningRate`); one group at factor 1."""
    factor = cfg.pretrained_lr_factor
    named = list(model.named_parameters())
    if factor == 1.0 or not pretrained:
        return [{"params": [p for _, p in named], "lr": cfg.optimizer_lr, "lr_scale": 1.0}]
    return [
        {
            "params": [p for n, p in named if n in pretrained],
            "lr": cfg.optimizer_lr * factor,
            "lr_scale": factor,
        },
        {
            "params": [p for n, p in named if n not in pretrained],
            "lr": cfg.optimizer_lr,
            "lr_scale": 1.0,
        },
    ]


class EpochLog:
    """Per-epoch rows to ``history.csv`` and ``history.json`` in the run folder."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.rows: list[dict[str, float]] = []

    def add(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        with (self.out / "history.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            writer.writeheader()
            writer.writerows(self.rows)
        (self.out / "history.json").write_text(json.dumps(self.rows, indent=2))


class _Run:
    """The state of one training run: model, its EMA, optimiser, schedules and random stream."""

    def __init__(self, cfg: TrainConfig, spec: PreprocessSpec, train_data: SplitData) -> None:
        self.cfg = cfg
        self.spec = spec
        self.train_data = train_data
        self.sampler = EpochSampler.from_samples(train_data.samples, cfg.sampling)
        model, pretrained = _build_model(cfg)
        self.model = model.to(cfg.device)
        self.ema = AveragedModel(
            self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True
        )
        positive_ratio = float(train_data.targets.mean())
        self.criterion = build_loss(cfg.loss, positive_ratio, cfg.label_smoothing)
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.model, pretrained, cfg), weight_decay=cfg.weight_decay
        )
        self.lr = LearningRate(
            self.optimizer,
            cfg.lr_schedule,
            peak=cfg.optimizer_lr,
            warmup_steps=cfg.warmup_steps,
            total_steps=self.planned_steps,
            floor=cfg.lr_min_factor,
            plateau_factor=cfg.plateau_factor,
            plateau_patience=cfg.plateau_patience,
        )
        self.mean = torch.tensor(spec.mean).view(1, 3, 1, 1).to(cfg.device)
        self.std = torch.tensor(spec.std).view(1, 3, 1, 1).to(cfg.device)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.step = 0

    @property
    def planned_steps(self) -> int:
        """Optimiser steps if the run lasts ``max_epochs`` (or stops at ``max_steps``)."""
        planned = self.cfg.max_epochs * (self.sampler.epoch_size // self.cfg.batch_size)
        return min(planned, self.cfg.max_steps) if self.cfg.max_steps else planned

    @property
    def out_of_steps(self) -> bool:
        return bool(self.cfg.max_steps) and self.step >= self.cfg.max_steps

    def _batch(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.cfg
        images = torch.from_numpy(np.asarray(self.train_data.images[index]))
        x = (augment_batch(images, cfg.augment, self.generator, cfg.device) - self.mean) / self.std
        y = torch.from_numpy(self.train_data.targets[index]).float().to(cfg.device)
        return x, y

    def train_epoch(self, epoch: int) -> float:
        """One epoch of the sampler's draw (by default every crop once, in a fresh random order);
        the mean training loss."""
        self.model.train()
        size = self.cfg.batch_size
        order = self.sampler.indices(self.generator)
        losses: list[float] = []
        bar = tqdm(range(0, len(order) - size + 1, size), desc=f"epoch {epoch}", leave=False)
        for start in bar:
            x, y = self._batch(np.sort(order[start : start + size]))
            self.lr.before_step(self.step)
            loss = self.criterion(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.ema.update_parameters(self.model)
            losses.append(loss.item())
            self.step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
            if self.out_of_steps:
                break
        return float(np.mean(losses))

    def validate(self, val_data: SplitData) -> dict[str, float]:
        """Val loss, the best threshold and the macro-F1 at it, for the EMA weights; ends the
        epoch for the learning-rate schedule."""
        probs = _val_probs(self.ema.module, val_data, self.spec)
        val_loss = _bce(probs, val_data.targets)
        threshold = best_threshold(val_data.targets, probs)
        val_f1 = classification_metrics(val_data.targets, probs, threshold)["macro_f1"]
        self.lr.after_epoch(val_loss)
        return {"val_loss": val_loss, "val_macro_f1": val_f1, "val_threshold": threshold}


def tail_config(cfg: TrainConfig, start: Path) -> TrainConfig:
    """The low-rate tail of ``cfg``: a run of ``tail_epochs`` from the main run's checkpoint
    ``start`` (every tensor, so one optimiser group) at the rate ``tail_lr``, no warm-up."""
    return cfg.model_copy(
        update={
            "init_from": start,
            "optimizer_lr": cfg.tail_lr,
            "pretrained_lr_factor": 1.0,
            "warmup_steps": 0,
            "min_epochs": 1,
            "max_epochs": cfg.tail_epochs,
            "patience": cfg.tail_epochs,
            "tail_epochs": 0,
        }
    )


def train(cfg: TrainConfig) -> tuple[Path, CheckpointMeta]:
    """Train per ``cfg`` and write ``cfg.out/checkpoint.pt`` plus logs; returns its path and meta.

    With ``tail_epochs``, the main run (the same recipe without the tail) goes to ``cfg.out/main``
    and the tail starts from its checkpoint. The plateau schedule and early stopping end the main run
    an epoch or two after its first cut of the rate, before a lower rate has paid; the tail gives
    the best epoch that lower rate, with a fresh optimiser and EMA. The main run's checkpoint is
    only the tail's start, so it skips the flip-TTA figures.
    """
    if not cfg.tail_epochs:
        return _train_run(cfg, cfg)
    main = cfg.model_copy(update={"tail_epochs": 0, "out": cfg.out / "main", "final_tta": False})
    start, main_meta = _train_run(main, main)
    spent = (float(main_meta.recipe["train_minutes"]), int(main_meta.recipe["epochs_run"]))
    return _train_run(tail_config(cfg, start), cfg, spent)


def _train_run(
    cfg: TrainConfig, recipe: TrainConfig, spent: tuple[float, int] = (0.0, 0)
) -> tuple[Path, CheckpointMeta]:
    """One run of ``cfg``; its checkpoint records ``recipe`` and the minutes and epochs of the
    runs before it (``spent``) besides its own."""
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    cfg.out.mkdir(parents=True, exist_ok=True)
    spec = PreprocessSpec(cfg.input_size, IMAGENET_MEAN, IMAGENET_STD)
    samples = read_manifest(cfg.data)
    splits = {
        name: SplitData.load(select(samples, name, exclude_sources=cfg.exclude_sources), spec)
        for name in ("train", "val", "test")
    }
    run = _Run(cfg, spec, splits["train"])
    history = EpochLog(cfg.out)
    best_f1, best_state, stale = -1.0, None, 0
    started = time.monotonic()
    for epoch in range(1, cfg.max_epochs + 1):
        train_loss = run.train_epoch(epoch)
        row = {"epoch": epoch, "step": run.step, "train_loss": train_loss}
        row |= run.validate(splits["val"])
        row |= {
            "lr": run.lr.current,
            "minutes": (time.monotonic() - started) / 60,
        }
        history.add(row)
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in row.items()))
        if row["val_macro_f1"] > best_f1:
            best_f1, stale = row["val_macro_f1"], 0
            best_state = {k: v.detach().clone() for k, v in run.ema.module.state_dict().items()}
        else:
            stale += 1
        stop_early = run.lr.allows_early_stop and epoch >= cfg.min_epochs and stale >= cfg.patience
        if run.out_of_steps or stop_early:
            break
    assert best_state is not None
    run.model.load_state_dict(best_state)
    recorded = {
        **recipe.to_dict(),
        "train_minutes": round(spent[0] + (time.monotonic() - started) / 60, 1),
        "epochs_run": spent[1] + len(history.rows),
        "environment": _environment(),
    }
    return _finish(cfg, run.model.eval(), spec, splits, recorded)


def _held_out_report(
    cfg: TrainConfig, model: nn.Module, spec: PreprocessSpec, threshold: float
) -> dict[str, Any]:
    """Metrics on the left-out sources: their test rows (comparable with an in-domain model) and
    all their rows (a larger sample of the unseen cameras)."""
    rows = select(read_manifest(cfg.data), "all", only_sources=cfg.exclude_sources)
    data = SplitData.load(rows, spec)
    probs = _val_probs(model, data, spec)
    test = np.array([s.split == "test" for s in rows])
    return {
        "sources": list(cfg.exclude_sources),
        "all": evaluation_report(rows, probs, threshold),
        "test": evaluation_report(
            [s for s, t in zip(rows, test, strict=True) if t], probs[test], threshold
        ),
    }


def _headline(report: dict[str, Any]) -> dict[str, float]:
    return {key: report[key] for key in ("macro_f1", "accuracy", "auc")}


def _finish(
    cfg: TrainConfig,
    model: nn.Module,
    spec: PreprocessSpec,
    splits: dict[str, SplitData],
    recipe: dict[str, Any],
) -> tuple[Path, CheckpointMeta]:
    val = splits["val"]
    threshold = equal_recall_threshold(val.targets, _val_probs(model, val, spec))
    metrics: dict[str, Any] = {}
    for name in ("val", "test"):
        for tta in (False, True) if cfg.final_tta else (False,):
            probs = _val_probs(model, splits[name], spec, tta=tta)
            metrics[f"{name}{'_tta' if tta else ''}"] = evaluation_report(
                splits[name].samples, probs, threshold
            )
    if cfg.exclude_sources:
        metrics["held_out"] = _held_out_report(cfg, model, spec, threshold)
    meta = CheckpointMeta(
        name=cfg.arch,
        arch=cfg.arch,
        arch_kwargs=cfg.arch_kwargs,
        input_size=cfg.input_size,
        mean=spec.mean,
        std=spec.std,
        threshold=threshold,
        metrics={
            **metrics,
            "params": count_parameters(model),
            "gflops": round(count_gflops(model, cfg.input_size), 4),
        },
        data=_provenance(cfg, splits),
        recipe=recipe,
    )
    path = cfg.out / "checkpoint.pt"
    meta = save_checkpoint(path, model, meta)
    summary = {k: _headline(v) for k, v in metrics.items() if k != "held_out"}
    if "held_out" in metrics:
        summary["held_out_test"] = _headline(metrics["held_out"]["test"])
        summary["held_out_all"] = _headline(metrics["held_out"]["all"])
    (cfg.out / "metrics.json").write_text(json.dumps(summary, indent=2))
    (cfg.out / "report.json").write_text(json.dumps(meta.model_dump(mode="json"), indent=2))
    return path, meta
