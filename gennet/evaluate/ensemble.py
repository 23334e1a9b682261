"""Combining the P(male) of several checkpoints into one: the sigmoid of their mean logit."""

import numpy as np


def to_logit(probs: np.ndarray) -> np.ndarray:
    """The log-odds of P(male), clipped away from 0 and 1."""
    probs = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(probs / (1 - probs))


def mean_probability(logits_per_run: list[np.ndarray]) -> np.ndarray:
    """The ensemble's P(male): the sigmoid of the runs' mean logit."""
    return 1 / (1 + np.exp(-np.mean(logits_per_run, axis=0)))
