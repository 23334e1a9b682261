"""The training loop: cached decoded crops, batch augmentation, AdamW + warm-up +
ReduceLROnPlateau on val loss, an EMA of the weights, early stopping on val macro-F1, and a
checkpoint that carries the chosen threshold and val/test metrics."""

import csv
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from gennet.checkpoint import IMAGENET_MEAN, IMAGENET_STD, CheckpointMeta, save_checkpoint
from gennet.data.augment import augment_batch
from gennet.data.cache import decode_samples
from gennet.data.manifest import Sample, read_manifest, select
from gennet.evaluate.metrics import best_threshold, classification_metrics
from gennet.evaluate.report import evaluation_report
from gennet.inference import TorchPredictor, predict_images
from gennet.models import create_model
from gennet.models.complexity import count_gflops, count_parameters
from gennet.models.transfer import load_partial
from gennet.preprocess import PreprocessSpec
from gennet.train.config import TrainConfig
from gennet.train.losses import build_loss

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


def _build_model(cfg: TrainConfig) -> nn.Module:
    model = create_model(cfg.arch, **cfg.arch_kwargs)
    if cfg.init_from is not None:
        report = load_partial(model, cfg.init_from)
        log.info("init from %s: %s", cfg.init_from, report.summary())
        if report.missing:
            log.info("not initialised from it: %s", ", ".join(report.missing))
    return model


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


def train(cfg: TrainConfig) -> tuple[Path, CheckpointMeta]:
    """Train per ``cfg`` and write ``cfg.out/checkpoint.pt`` plus logs; returns its path and meta."""
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
    train_data, val_data = splits["train"], splits["val"]

    model = _build_model(cfg).to(cfg.device)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
    criterion = build_loss(cfg.loss, float(train_data.targets.mean()), cfg.label_smoothing)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.optimizer_lr, weight_decay=cfg.weight_decay
    )
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience
    )
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1).to(cfg.device)
    std = torch.tensor(spec.std).view(1, 3, 1, 1).to(cfg.device)
    generator = torch.Generator().manual_seed(cfg.seed)
    history = EpochLog(cfg.out)
    best_f1, best_state, stale, step = -1.0, None, 0, 0
    started = time.monotonic()

    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        order = torch.randperm(len(train_data.targets), generator=generator).numpy()
        batches = range(0, len(order) - cfg.batch_size + 1, cfg.batch_size)
        losses = []
        bar = tqdm(batches, desc=f"epoch {epoch}", leave=False)
        for start in bar:
            index = np.sort(order[start : start + cfg.batch_size])
            images = torch.from_numpy(np.asarray(train_data.images[index]))
            x = (augment_batch(images, cfg.augment, generator, cfg.device) - mean) / std
            y = torch.from_numpy(train_data.targets[index]).float().to(cfg.device)
            if step < cfg.warmup_steps:
                for group in optimizer.param_groups:
                    group["lr"] = cfg.optimizer_lr * (step + 1) / cfg.warmup_steps
            loss = criterion(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            ema.update_parameters(model)
            losses.append(loss.item())
            step += 1
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
            if cfg.max_steps and step >= cfg.max_steps:
                break

        probs = _val_probs(ema.module, val_data, spec)
        val_loss = _bce(probs, val_data.targets)
        threshold = best_threshold(val_data.targets, probs)
        val_f1 = classification_metrics(val_data.targets, probs, threshold)["macro_f1"]
        plateau.step(val_loss)
        row = {
            "epoch": epoch,
            "step": step,
            "train_loss": float(np.mean(losses)),
            "val_loss": val_loss,
            "val_macro_f1": val_f1,
            "val_threshold": threshold,
            "lr": optimizer.param_groups[0]["lr"],
            "minutes": (time.monotonic() - started) / 60,
        }
        history.add(row)
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in row.items()))
        if val_f1 > best_f1:
            best_f1, stale = val_f1, 0
            best_state = {k: v.detach().clone() for k, v in ema.module.state_dict().items()}
        else:
            stale += 1
        if (cfg.max_steps and step >= cfg.max_steps) or (
            epoch >= cfg.min_epochs and stale >= cfg.patience
        ):
            break

    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    minutes = (time.monotonic() - started) / 60
    return _finish(cfg, model, spec, splits, minutes, history.rows)


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
    minutes: float,
    history: list[dict[str, float]],
) -> tuple[Path, CheckpointMeta]:
    val = splits["val"]
    threshold = best_threshold(val.targets, _val_probs(model, val, spec))
    metrics: dict[str, Any] = {}
    for name in ("val", "test"):
        for tta in (False, True):
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
        recipe={**cfg.to_dict(), "train_minutes": round(minutes, 1), "epochs_run": len(history)},
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
