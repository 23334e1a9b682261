"""The learning-rate schedules: warm-up, cosine decay to its floor, and the plateau cut."""

import itertools
import math

import pytest
import torch

from gennet.train.schedule import LearningRate, cosine_factor


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
