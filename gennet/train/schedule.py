"""How the learning rate moves over a run.

Both schedules start with a linear warm-up. ``plateau`` then holds the peak rate and cuts it by
``plateau_factor`` when the val loss stops falling (stepped once an epoch), and the recipe's early
stopping applies. ``cosine`` decays the rate from the peak to ``lr_min_factor`` of it over the
run's planned steps (stepped every optimiser step); early stopping is off under it, since stopping
early would skip the low-rate end that the schedule exists for. Epochs are still chosen by val
macro-F1 either way. A parameter group's ``lr_scale`` (default 1) scales its rate throughout.
"""

import math
from typing import Literal

import torch

LRSchedule = Literal["plateau", "cosine"]


def cosine_factor(step: int, warmup_steps: int, total_steps: int, floor: float) -> float:
    """The share of the peak rate at optimiser step ``step`` (0-based) under warm-up + cosine."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class LearningRate:
    """Sets the optimiser's rate before each step and after each epoch, per the schedule."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: LRSchedule,
        peak: float,
        warmup_steps: int,
        total_steps: int,
        floor: float,
        plateau_factor: float,
        plateau_patience: int,
    ) -> None:
        self.optimizer = optimizer
        self.peak = peak
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.floor = floor
        self.plateau = (
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=plateau_factor, patience=plateau_patience
            )
            if schedule == "plateau"
            else None
        )

    @property
    def allows_early_stop(self) -> bool:
        return self.plateau is not None

    @property
    def current(self) -> float:
        """The unscaled rate (a group's rate over its ``lr_scale``)."""
        group = self.optimizer.param_groups[0]
        return float(group["lr"] / group.get("lr_scale", 1.0))

    def _set(self, rate: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = rate * group.get("lr_scale", 1.0)

    def before_step(self, step: int) -> None:
        if self.plateau is None:
            self._set(
                self.peak * cosine_factor(step, self.warmup_steps, self.total_steps, self.floor)
            )
        elif step < self.warmup_steps:
            self._set(self.peak * (step + 1) / self.warmup_steps)

    def after_epoch(self, val_loss: float) -> None:
        if self.plateau is not None:
            self.plateau.step(val_loss)
