"""The learning-rate schedules: warm-up, cosine decay to its floor, the plateau cut, and the
pretrained parameters' share of the rate."""

import itertools
import math
from pathlib import Path

import pytest
import torch

from gennet.train.config import TrainConfig
from gennet.train.schedule import LearningRate, cosine_factor
from gennet.train.trainer import _param_groups


def _optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def _rate(schedule: str, **overrides: float) -> LearningRate:
    kwargs = dict(
        peak=1e-3,
        warmup_steps=10,
        total_steps=110,
        floor=0.01,
        plateau_factor=0.3,
        plateau_patience=0,
    )
    return LearningRate(_optimizer(), schedule, **(kwargs | overrides))  # type: ignore[arg-type]


def test_cosine_factor_warms_up_peaks_halves_and_ends_at_the_floor() -> None:
    assert cosine_factor(0, 10, 110, 0.01) == pytest.approx(0.1)
    assert cosine_factor(9, 10, 110, 0.01) == pytest.approx(1.0)
    assert cosine_factor(10, 10, 110, 0.01) == pytest.approx(1.0)
    assert cosine_factor(60, 10, 110, 0.01) == pytest.approx(0.505)
    assert cosine_factor(110, 10, 110, 0.01) == pytest.approx(0.01)
    assert cosine_factor(500, 10, 110, 0.01) == pytest.approx(0.01)  # past the plan: held


def test_cosine_falls_every_step_after_warm_up_and_ignores_the_val_loss() -> None:
    rate = _rate("cosine")
    seen = []
    for step in range(110):
        rate.before_step(step)
        seen.append(rate.current)
        rate.after_epoch(val_loss=1.0)  # a plateau would cut here; cosine must not
    assert seen[9] == pytest.approx(1e-3)
    assert all(b < a for a, b in itertools.pairwise(seen[10:]))
    assert seen[-1] == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 0.99))))
    assert not rate.allows_early_stop


def test_plateau_warms_up_holds_the_peak_and_cuts_when_the_loss_stalls() -> None:
    rate = _rate("plateau")
    rate.before_step(4)
    assert rate.current == pytest.approx(5e-4)
    for step in range(5, 60):
        rate.before_step(step)
    assert rate.current == pytest.approx(1e-3)  # warm-up done, then the step leaves it alone
    rate.after_epoch(1.0)
    assert rate.current == pytest.approx(1e-3)
    rate.after_epoch(1.0)  # no improvement, patience 0: cut by 0.3
    assert rate.current == pytest.approx(3e-4)
    assert rate.allows_early_stop


def test_pretrained_parameters_keep_their_share_of_the_rate_through_warm_up_and_decay(
    tmp_path: Path,
) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    cfg = TrainConfig(data=tmp_path, pretrained_lr_factor=0.1, optimizer_lr=1e-3)
    groups = _param_groups(model, {"0.weight", "0.bias"}, cfg)
    assert [len(g["params"]) for g in groups] == [2, 2]
    optimizer = torch.optim.AdamW(groups)
    rate = LearningRate(optimizer, "cosine", 1e-3, 4, 20, 0.01, 0.3, 1)
    for step in (0, 3, 10, 19):
        rate.before_step(step)
        pretrained, rest = (g["lr"] for g in optimizer.param_groups)
        assert pretrained == pytest.approx(0.1 * rest)
        assert rate.current == pytest.approx(rest)


def test_factor_one_keeps_a_single_group(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    groups = _param_groups(model, {"0.weight"}, TrainConfig(data=tmp_path))
    assert len(groups) == 1 and len(groups[0]["params"]) == 4
