"""Ten crops' labels and scores whose metrics are worked out by hand, and their evaluation report."""

from pathlib import Path
from typing import Any

import numpy as np

from gennet.data.manifest import Sample
from gennet.evaluate.report import evaluation_report

# 4 male (1), 6 female (0). At threshold 0.5: males 0.9, 0.8, 0.6 right and 0.4 wrong;
# females 0.7 and 0.6 wrong, the other four right.
TARGETS = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
PROBS = np.array([0.9, 0.8, 0.4, 0.6, 0.7, 0.3, 0.2, 0.1, 0.6, 0.05])
SOURCES = ["GRID"] * 5 + ["MIT"] * 5  # GRID: 4 male and 1 female; MIT: 5 female


def samples(sources: list[str] = SOURCES) -> list[Sample]:
    """One sample per crop of ``TARGETS``, from ``sources``."""
    return [
        Sample(path=Path(f"{i}.png"), target=int(t), source=s)
        for i, (t, s) in enumerate(zip(TARGETS, sources, strict=True))
    ]


def report(probs: np.ndarray = PROBS, sources: list[str] = SOURCES) -> dict[str, Any]:
    """The evaluation report of ``probs`` at threshold 0.5."""
    return evaluation_report(samples(sources), probs, 0.5)
