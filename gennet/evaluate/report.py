"""Metrics of a set of predictions, overall and per source, as one JSON-ready dict."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from gennet.data.manifest import Sample
from gennet.evaluate.metrics import classification_metrics


def evaluation_report(
    samples: Sequence[Sample], prob_male: np.ndarray, threshold: float
) -> dict[str, Any]:
    """``classification_metrics`` over all samples plus ``per_source`` for each source present."""
    targets = np.array([s.target for s in samples])
    sources = np.array([s.source for s in samples])
    report = classification_metrics(targets, prob_male, threshold)
    report["per_source"] = {
        source: classification_metrics(
            targets[sources == source], prob_male[sources == source], threshold
        )
        for source in sorted(set(sources.tolist()))
    }
    return report
