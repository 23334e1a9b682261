"""Per-camera decision thresholds as the service loads them: the file format and its validation.

A camera's score distribution shifts with its angle, light and people, so one global threshold
cannot serve every camera. ``gennet calibrate`` fits a threshold per group of crops (a camera, or a
PETA sub-set; the fitting is evaluation code, :mod:`gennet.evaluate.calibration_fit`) and writes a
:class:`Calibration` JSON file tied to the checkpoint's weights digest; the service loads it with
:func:`load_calibration` and decides with ``decide(prob, calibration.threshold_for(camera))``
(:mod:`gennet.decision`). This module imports neither numpy nor the evaluation code.
"""

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gennet.errors import CalibrationError

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
