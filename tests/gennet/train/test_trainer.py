"""A tiny training run on real PETA crops: the loss falls and the checkpoint loads.

The data folder is a manifest in ``tmp_path`` pointing at real crops by absolute path; the decode
cache and the run folder live in ``tmp_path`` too, so nothing is written outside it.
"""

import json
from pathlib import Path
from typing import Any

import PIL
import pytest
import torch

from gennet.checkpoint import load_checkpoint
from gennet.data.augment import AugmentConfig
from gennet.data.manifest import Sample
from gennet.train.config import TrainConfig
from gennet.train.trainer import train
from tests.support.data import write_manifest

NO_AUGMENTATION = AugmentConfig.disabled()


def _balanced(samples: list[Sample], split: str, n: int) -> list[Sample]:
    rows = [s for s in samples if s.split == split]
    males = [s for s in rows if s.target == 1][: n // 2]
    females = [s for s in rows if s.target == 0][: n // 2]
    return males + females


@pytest.fixture
def tiny_peta(tmp_path: Path, peta_samples: list[Sample]) -> Path:
    rows = (
        _balanced(peta_samples, "train", 32)
        + _balanced(peta_samples, "val", 8)
        + _balanced(peta_samples, "test", 8)
    )
    listed = [(str(s.path), "male" if s.target else "female", s.source, s.split) for s in rows]
    return write_manifest(tmp_path / "data", listed)


@pytest.fixture(autouse=True)
def _decode_cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENNET_CACHE_DIR", str(tmp_path / "cache"))


def _tiny_recipe(data: Path, out: Path, **overrides: Any) -> TrainConfig:
    """3 epochs of 4 steps on the 32 tiny training crops, without augmentation: the same crops
    every epoch, so the model must fit them."""
    fields = dict(batch_size=8, max_epochs=3, augment=NO_AUGMENTATION, threads=1)
    return TrainConfig(data=data, out=out, **(fields | overrides))


def test_a_few_steps_reduce_the_training_loss(tiny_peta: Path, tmp_path: Path) -> None:
    cfg = _tiny_recipe(
        tiny_peta, tmp_path / "run", min_epochs=3, patience=10, warmup_steps=0, label_smoothing=0.0
    )
    path, meta = train(cfg)

    history = json.loads((cfg.out / "history.json").read_text())
    assert [row["step"] for row in history] == [4, 8, 12]
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert list((tmp_path / "cache").glob("*.npy"))  # the decode cache went where we said

    _, loaded = load_checkpoint(path)
    assert (loaded.weights_sha256, loaded.threshold) == (meta.weights_sha256, meta.threshold)
    assert loaded.data["counts"]["train"]["n"] == 32
    environment = loaded.recipe["environment"]  # what else the bits depend on
    assert environment["pillow"] == PIL.__version__ and environment["torch"] == torch.__version__
    assert {"val", "test", "val_tta", "test_tta"} <= set(loaded.metrics)
    assert 0.0 < loaded.threshold < 1.0
    assert (cfg.out / "history.csv").is_file() and (cfg.out / "metrics.json").is_file()


def test_the_cosine_schedule_spans_the_planned_epochs(tiny_peta: Path, tmp_path: Path) -> None:
    cfg = _tiny_recipe(
        tiny_peta,
        tmp_path / "run",
        min_epochs=1,
        patience=1,
        warmup_steps=2,
        lr_schedule="cosine",
        final_tta=False,
    )
    train(cfg)

    history = json.loads((cfg.out / "history.json").read_text())
    rates = [row["lr"] for row in history]
    assert [row["step"] for row in history] == [4, 8, 12]  # 32 crops / 8 a step, 3 epochs
    assert rates[0] > rates[1] > rates[2]
    assert rates[2] < 0.05 * cfg.optimizer_lr  # near the floor at the planned end


def test_the_tail_continues_from_the_main_runs_checkpoint_at_its_own_rate(
    tiny_peta: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _tiny_recipe(
        tiny_peta,
        tmp_path / "run",
        max_epochs=2,
        min_epochs=2,
        warmup_steps=0,
        final_tta=False,
        tail_epochs=2,
        tail_lr=1e-4,
    )
    with caplog.at_level("INFO", logger="gennet.train.trainer"):
        path, meta = train(cfg)

    main_history = json.loads((cfg.out / "main" / "history.json").read_text())
    tail_history = json.loads((cfg.out / "history.json").read_text())
    assert [row["step"] for row in main_history] == [4, 8]
    assert [row["step"] for row in tail_history] == [4, 8]
    assert main_history[0]["lr"] == cfg.optimizer_lr and tail_history[0]["lr"] == 1e-4
    assert tail_history[0]["train_loss"] < main_history[0]["train_loss"]  # not from scratch
    start = cfg.out / "main" / "checkpoint.pt"
    assert f"init from {start}: loaded" in caplog.text and "0 left at their" in caplog.text

    _, main_meta = load_checkpoint(start)
    assert main_meta.recipe["tail_epochs"] == 0
    # the shipped checkpoint records the recipe as asked, over both runs
    assert meta.recipe["tail_epochs"] == 2 and meta.recipe["optimizer_lr"] == cfg.optimizer_lr
    assert meta.recipe["epochs_run"] == 4 and meta.recipe["init_from"] is None
    assert meta.weights_sha256 != main_meta.weights_sha256 and path == cfg.out / "checkpoint.pt"
