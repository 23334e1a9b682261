"""Fitting per-camera thresholds: what ``gennet calibrate`` and the calibration scripts compute.

The file this produces is the served format, :class:`gennet.calibration.Calibration`; the service
imports only that, never this module.

Two ways to fit a group's threshold, both pure functions of the scores:
- with labels, the threshold that maximises macro-F1 over every cut of the scores
  (:func:`labels_threshold`, :func:`gennet.evaluate.metrics.best_threshold`'s rule);
- without labels, the score quantile at which a known share of the crops is called male
  (:func:`male_share_threshold`).
"""

from collections.abc import Mapping
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from gennet.calibration import Calibration, GroupCalibration, camera_name_problem
from gennet.data.manifest import Sample
from gennet.errors import CalibrationError
from gennet.evaluate.metrics import best_threshold, macro_f1_curve


def group_key(sample: Sample, by: str) -> str:
    """The group of a crop: its camera (else its source), or its source."""
    return (sample.camera or sample.source) if by == "camera" else sample.source


def rows_by_group(keys: np.ndarray) -> dict[str, np.ndarray]:
    """The row indices of each group, groups in name order."""
    return {key: np.flatnonzero(keys == key) for key in sorted(set(keys.tolist()))}


def _between(low: float, high: float) -> float:
    """A threshold strictly above ``low`` and at most ``high``, as far from both as possible."""
    return float(np.clip((low + high) / 2, 0.0, 1.0))


def every_cut(scores: ArrayLike) -> np.ndarray:
    """One threshold per decision these scores allow, ascending: midway between neighbouring
    distinct scores (as :func:`_between`), plus one below the lowest and one above the highest
    (none when that is 1.0: a crop scored 1.0 is always male), so no threshold sits on a crop."""
    values = np.unique(np.asarray(scores, dtype=np.float64))
    if len(values) == 0:
        raise ValueError("no scores to fit a threshold on")
    above = [] if values[-1] >= 1.0 else [min(values[-1] + 1e-3, 1.0)]
    edges = np.r_[max(values[0] - 1e-3, 0.0), values, above]
    return (edges[:-1] + edges[1:]) / 2


def labels_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """The threshold that maximises macro-F1 on these crops (``labels``: 1 male, 0 female),
    searched over :func:`every_cut`, scores and cuts compared in float64."""
    scores = np.asarray(scores, dtype=np.float64)
    return best_threshold(np.asarray(labels), scores, every_cut(scores))


def male_share_threshold(scores: ArrayLike, male_share: float) -> float:
    """The threshold at which ``male_share`` of these crops are called male (no labels read).

    ``round(male_share * n)`` crops end at or above it; the threshold sits midway between the
    lowest of them and the highest of the rest. (Thresholds are at most 1.0 and the rule is
    ``>=``, so a crop scored exactly 1.0 is always called male.)
    """
    if not 0.0 <= male_share <= 1.0:
        raise ValueError(f"male share {male_share} is not within [0, 1]")
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(ordered)
    if n == 0:
        raise ValueError("no scores to fit a threshold on")
    k = round(male_share * n)  # crops to call male
    if k == 0:
        return _between(ordered[-1], min(ordered[-1] + 1e-3, 1.0))
    if k == n:
        return _between(max(ordered[0] - 1e-3, 0.0), ordered[0])
    return _between(ordered[n - k - 1], ordered[n - k])


def _fit_note(
    n_male: int, n_female: int, n: int, male_share: float | None, least: int
) -> str | None:
    """Why a group keeps the default threshold (None: it has enough crops to fit)."""
    if male_share is None and min(n_male, n_female) < least:
        return (
            f"kept the default threshold: {n_male} male and {n_female} female crops, "
            f"fewer than {least} of each label"
        )
    if male_share is not None and n < 2 * least:
        return f"kept the default threshold: {n} crops, fewer than {2 * least}"
    return None


def fit_group(
    scores: ArrayLike,
    labels: ArrayLike | None,
    default_threshold: float,
    male_share: float | None = None,
    min_per_label: int = 10,
) -> GroupCalibration:
    """One group's threshold: best macro-F1 from ``labels``, or the ``male_share`` quantile.

    With labels, a group with fewer than ``min_per_label`` crops of either label keeps the
    default; by share, one with fewer than ``2 * min_per_label`` crops does. Labels, when given in
    share mode, are only used to report macro-F1 before and after.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = None if labels is None else np.asarray(labels).astype(bool)
    if male_share is None and targets is None:
        raise ValueError("fitting by labels needs labels")
    n_male = 0 if targets is None else int(targets.sum())
    n_female = 0 if targets is None else len(scores) - n_male
    note = _fit_note(n_male, n_female, len(scores), male_share, min_per_label)
    if note is not None:
        threshold = default_threshold
    elif male_share is not None:
        threshold = male_share_threshold(scores, male_share)
    else:
        assert targets is not None  # checked above
        threshold = labels_threshold(scores, targets)
    before = after = None
    if targets is not None and n_male and n_female:
        before, after = macro_f1_curve(targets, scores, [default_threshold, threshold]).tolist()
    return GroupCalibration(
        threshold=threshold,
        n_male=n_male,
        n_female=n_female,
        n=len(scores),
        macro_f1_before=before,
        macro_f1_after=after,
        fitted=note is None,
        note=note,
    )


def fit_calibration(
    groups: Mapping[str, tuple[ArrayLike, ArrayLike | None]],
    weights_sha256: str,
    default_threshold: float,
    by: Literal["camera", "source"] = "camera",
    male_share: float | None = None,
    min_per_label: int = 10,
) -> Calibration:
    """A :class:`Calibration` from each group's ``(scores, labels or None)``."""
    if (problem := camera_name_problem(groups)) is not None:
        raise CalibrationError(problem)
    return Calibration(
        weights_sha256=weights_sha256,
        default_threshold=default_threshold,
        mode="labels" if male_share is None else "male_share",
        male_share=male_share,
        by=by,
        groups={
            name: fit_group(scores, labels, default_threshold, male_share, min_per_label)
            for name, (scores, labels) in sorted(groups.items())
        },
    )
