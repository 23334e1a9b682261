"""Per-camera decision thresholds: the file format, its validation, and how thresholds are fitted.

A camera's score distribution shifts with its angle, light and people, so one global threshold
cannot serve every camera. ``gennet calibrate`` fits a threshold per group of crops (a camera, or a
PETA sub-set) and writes a :class:`Calibration` JSON file tied to the checkpoint's weights digest;
the service loads it with :func:`load_calibration` and decides with
``decide(prob, calibration.threshold_for(camera))`` (:mod:`gennet.decision`).

Two ways to fit a group's threshold, both pure functions of the scores:
- with labels, the threshold that maximises macro-F1 (:func:`best_f1_threshold`);
- without labels, the score quantile at which a known share of the crops is called male
  (:func:`male_share_threshold`).
"""

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gennet.errors import CalibrationError
from gennet.evaluate.metrics import macro_f1_curve

FORMAT_VERSION: Literal[1] = 1
# What a camera may be called: in a calibration file and in the service's ``?camera=``.
CAMERA_PATTERN = r"^[A-Za-z0-9._:/@-]{1,128}$"  # names as in PETA's manifest, e.g. GRID:cam3
CAMERA_NAME = re.compile(CAMERA_PATTERN)
OTHER_CAMERA = "other"  # the metric label of every camera the file does not name
NO_CAMERA = "none"  # the metric label of crops sent without a camera
# A calibrated camera with one of these names would share its metric label with the crops above.
RESERVED_CAMERAS = {OTHER_CAMERA: "unknown cameras", NO_CAMERA: "crops sent without a camera"}


def camera_name_problem(names: Iterable[str]) -> str | None:
    """Why one of ``names`` cannot be a calibrated camera (None: they all can)."""
    return next((p for p in map(_name_problem, names) if p is not None), None)


def _name_problem(name: str) -> str | None:
    if not CAMERA_NAME.fullmatch(name):
        return f"camera name {name!r} does not match {CAMERA_PATTERN} (what ?camera= accepts)"
    if name in RESERVED_CAMERAS:
        return (
            f"camera name {name!r} is reserved (the metric label of {RESERVED_CAMERAS[name]}); "
            "rename that camera"
        )
    return None


class GroupCalibration(BaseModel):
    """The threshold of one camera (or source) and the evidence behind it."""

    # strict: a hand-edited "0.7" or true is refused, never coerced into a threshold
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    threshold: float = Field(ge=0.0, le=1.0, description="P(male) at or above which: male.")
    n_male: int = Field(ge=0, description="Crops labelled male (0 when no labels were read).")
    n_female: int = Field(ge=0, description="Crops labelled female (0 when no labels were read).")
    n: int | None = Field(default=None, ge=0, description="Crops scored in this group.")
    macro_f1_before: float | None = Field(
        default=None, ge=0.0, le=1.0, description="At the default threshold."
    )
    macro_f1_after: float | None = Field(
        default=None, ge=0.0, le=1.0, description="At this group's threshold."
    )
    fitted: bool = Field(description="False: too few crops, the default threshold is kept.")
    note: str | None = None

    @model_validator(mode="after")
    def _counts_add_up(self) -> "GroupCalibration":
        if self.n is not None and self.n_male + self.n_female > self.n:
            raise ValueError(
                f"n_male + n_female ({self.n_male + self.n_female}) exceeds n ({self.n})"
            )
        return self


class Calibration(BaseModel):
    """A calibration file: per-group thresholds for the checkpoint with ``weights_sha256``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    format_version: Literal[1] = FORMAT_VERSION
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    default_threshold: float = Field(ge=0.0, le=1.0)
    mode: Literal["labels", "male_share"]
    male_share: float | None = Field(default=None, ge=0.0, le=1.0)
    by: Literal["camera", "source"]
    groups: dict[str, GroupCalibration]

    @field_validator("groups")
    @classmethod
    def _servable_names(cls, groups: dict[str, GroupCalibration]) -> dict[str, GroupCalibration]:
        if (problem := camera_name_problem(groups)) is not None:
            raise ValueError(problem)
        return groups

    @model_validator(mode="after")
    def _share_matches_mode(self) -> "Calibration":
        if (self.mode == "male_share") != (self.male_share is not None):
            raise ValueError("male_share is set exactly when mode is 'male_share'")
        return self

    @model_validator(mode="after")
    def _unfitted_groups_keep_the_default(self) -> "Calibration":
        for name, group in self.groups.items():
            if not group.fitted and group.threshold != self.default_threshold:
                raise ValueError(
                    f"group {name!r} is not fitted, so its threshold must be the default "
                    f"{self.default_threshold}, not {group.threshold}"
                )
        return self

    def knows(self, camera: str | None) -> bool:
        """Whether ``camera`` has a group of its own in this file."""
        return camera is not None and camera in self.groups

    def threshold_for(self, camera: str | None) -> float:
        """The group's threshold; the default one for an unknown camera or none."""
        group = self.groups.get(camera) if camera is not None else None
        return group.threshold if group is not None else self.default_threshold

    def metric_label(self, camera: str | None) -> str:
        """A bounded label for metrics: the camera when the file names it, else ``other``."""
        return camera if camera is not None and self.knows(camera) else OTHER_CAMERA

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def short(digest: str) -> str:
    return digest[:12]


class _DuplicateKeyError(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    repeated = [key for key, count in Counter(key for key, _ in pairs).items() if count > 1]
    if repeated:
        raise _DuplicateKeyError(f"duplicate key {repeated[0]!r} (JSON keeps only the last one)")
    return dict(pairs)


def load_calibration(path: Path, weights_sha256: str, default_threshold: float) -> Calibration:
    """Read and validate a calibration file for the served checkpoint (its weights digest and
    threshold, which crops of other cameras get); one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise CalibrationError(f"{path}: calibration file not found")
    try:
        payload = json.loads(
            path.read_text(encoding="utf-8"), object_pairs_hook=_refuse_duplicate_keys
        )
    except OSError as exc:
        raise CalibrationError(
            f"{path}: cannot read ({exc.strerror or type(exc).__name__})"
        ) from None
    except UnicodeDecodeError:
        raise CalibrationError(f"{path}: not JSON (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except _DuplicateKeyError as exc:
        raise CalibrationError(f"{path}: {exc}") from None
    try:
        calibration = Calibration.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(top level)"
        reason = " ".join(str(first["msg"]).split())  # one line, whatever pydantic says
        raise CalibrationError(f"{path}: invalid calibration field {field!r}: {reason}") from None
    if calibration.weights_sha256 != weights_sha256:
        raise CalibrationError(
            f"{path}: calibrated for weights {short(calibration.weights_sha256)}, but the "
            f"checkpoint's are {short(weights_sha256)}; run gennet calibrate for this checkpoint"
        )
    if calibration.default_threshold != default_threshold:
        raise CalibrationError(
            f"{path}: default threshold {calibration.default_threshold} is not the checkpoint's "
            f"{default_threshold}; run gennet calibrate for this checkpoint"
        )
    return calibration


def _between(low: float, high: float) -> float:
    """A threshold strictly above ``low`` and at most ``high``, as far from both as possible."""
    return float(np.clip((low + high) / 2, 0.0, 1.0))


def best_f1_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """The threshold that maximises macro-F1 on these crops (``labels``: 1 male, 0 female).

    Every distinct cut of the sorted scores is tried, each at the midpoint between neighbouring
    scores (so the threshold does not sit on a crop); among equal macro-F1, the cut nearest the
    middle of the best run of cuts is taken.
    """
    values = np.unique(np.asarray(scores, dtype=np.float64))
    if len(values) == 0:
        raise ValueError("no scores to fit a threshold on")
    edges = np.r_[max(values[0] - 1e-3, 0.0), values, min(values[-1] + 1e-3, 1.0)]
    cuts = np.clip((edges[:-1] + edges[1:]) / 2, 0.0, 1.0)  # midpoints, as _between
    curve = macro_f1_curve(np.asarray(labels), np.asarray(scores, dtype=np.float64), cuts)
    best = np.flatnonzero(curve == curve.max())
    return float(cuts[best[len(best) // 2]])


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
        threshold = best_f1_threshold(scores, targets)
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
