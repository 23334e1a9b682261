"""The calibration file the service loads (its validation); the decision rule that applies its
thresholds: ``test_decision.py``; fitting them: ``tests/gennet/evaluate/test_calibration_fit.py``."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gennet.calibration import Calibration, GroupCalibration, load_calibration
from gennet.errors import CalibrationError, GenNetError
from tests.support.cameras import UNTELLABLE_CAMERAS

DIGEST = "ab" * 32
OTHER = "cd" * 32


def calibration() -> Calibration:
    group = GroupCalibration(threshold=0.3, n_male=12, n_female=15, fitted=True)
    return Calibration(
        weights_sha256=DIGEST,
        default_threshold=0.47,
        mode="labels",
        by="camera",
        groups={"GRID:cam1": group},
    )


def test_threshold_for_falls_back_to_the_default() -> None:
    cal = calibration()
    assert cal.knows("GRID:cam1") and not cal.knows("GRID:cam9") and not cal.knows(None)
    assert cal.threshold_for("GRID:cam1") == 0.3
    assert cal.threshold_for("GRID:cam9") == 0.47
    assert cal.threshold_for(None) == 0.47
    labels = {cal.metric_label(c) for c in ("GRID:cam1", "GRID:cam9", "x" * 500, None)}
    assert labels == {"GRID:cam1", "other"}


def test_load_calibration_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text(calibration().to_json())
    assert load_calibration(path, DIGEST, 0.47) == calibration()


def write(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload))
    return path


def valid_payload() -> dict:
    return json.loads(calibration().to_json())


def expect_one_line(path: Path, digest: str = DIGEST, threshold: float = 0.47) -> str:
    with pytest.raises(CalibrationError) as caught:
        load_calibration(path, digest, threshold)
    message = str(caught.value)
    assert isinstance(caught.value, GenNetError)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    assert "calibration file not found" in expect_one_line(tmp_path / "absent.json")
    assert "calibration file not found" in expect_one_line(tmp_path)  # a folder


@pytest.mark.parametrize(
    ("text", "reason"),
    [("{not json", "not JSON"), ("", "not JSON"), (b"\xff\xfe{}", "not JSON")],
)
def test_non_json_is_rejected(tmp_path: Path, text: str | bytes, reason: str) -> None:
    path = tmp_path / "cal.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    assert reason in expect_one_line(path)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda p: p["groups"]["GRID:cam1"].update(threshold=1.5), "groups.GRID:cam1.threshold"),
        (lambda p: p["groups"]["GRID:cam1"].pop("fitted"), "groups.GRID:cam1.fitted"),
        (lambda p: p.pop("weights_sha256"), "weights_sha256"),
        (lambda p: p.update(weights_sha256="abc"), "weights_sha256"),
        (lambda p: p.update(default_threshold=-0.1), "default_threshold"),
        (lambda p: p.update(mode="guess"), "mode"),
        (lambda p: p.update(by="room"), "by"),
        (lambda p: p.update(format_version=2), "format_version"),
        (lambda p: p.update(surprise=1), "surprise"),
        (lambda p: p.update(groups=[]), "groups"),
        (
            lambda p: p["groups"]["GRID:cam1"].update(threshold=float("nan")),
            "groups.GRID:cam1.threshold",
        ),
        (
            lambda p: p["groups"]["GRID:cam1"].update(macro_f1_after=1.2),
            "groups.GRID:cam1.macro_f1_after",
        ),
        # strict: hand-edited values are refused, never coerced
        (lambda p: p["groups"]["GRID:cam1"].update(threshold="0.7"), "groups.GRID:cam1.threshold"),
        (lambda p: p["groups"]["GRID:cam1"].update(threshold=True), "groups.GRID:cam1.threshold"),
        (lambda p: p["groups"]["GRID:cam1"].update(fitted="yes"), "groups.GRID:cam1.fitted"),
        (lambda p: p["groups"]["GRID:cam1"].update(n_male="5"), "groups.GRID:cam1.n_male"),
        (lambda p: p["groups"]["GRID:cam1"].update(n=20), "groups.GRID:cam1"),  # 12 + 15 > 20
        (lambda p: p["groups"]["GRID:cam1"].update(fitted=False), "(top level)"),  # 0.3, not 0.47
    ],
)
def test_schema_violation_names_the_field(tmp_path: Path, change, field: str) -> None:
    payload = valid_payload()
    change(payload)
    message = expect_one_line(write(tmp_path / "cal.json", payload))
    assert f"invalid calibration field {field!r}" in message


@pytest.mark.parametrize(
    ("name", "reason"),
    UNTELLABLE_CAMERAS,
)
def test_a_camera_the_service_could_not_tell_apart_is_rejected(
    tmp_path: Path, name: str, reason: str
) -> None:
    """A name ?camera= cannot carry, or one whose metric label means something else."""
    payload = valid_payload()
    payload["groups"][name] = payload["groups"]["GRID:cam1"]
    message = expect_one_line(write(tmp_path / "cal.json", payload))
    assert "invalid calibration field 'groups'" in message and reason in message


def test_share_mode_without_a_share_is_rejected(tmp_path: Path) -> None:
    payload = valid_payload() | {"mode": "male_share"}
    assert "male_share is set exactly when" in expect_one_line(write(tmp_path / "c.json", payload))
    payload = valid_payload() | {"male_share": 0.5}
    assert "male_share is set exactly when" in expect_one_line(write(tmp_path / "c.json", payload))


def test_json_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    assert "invalid calibration field" in expect_one_line(write(tmp_path / "c.json", [1, 2]))


def test_an_unfitted_group_at_the_default_threshold_is_accepted(tmp_path: Path) -> None:
    payload = valid_payload()
    payload["groups"]["GRID:cam1"].update(fitted=False, threshold=0.47, n=27)
    loaded = load_calibration(write(tmp_path / "cal.json", payload), DIGEST, 0.47)
    assert loaded.threshold_for("GRID:cam1") == 0.47 and loaded.groups["GRID:cam1"].n == 27


def test_a_duplicate_camera_is_rejected(tmp_path: Path) -> None:
    """JSON keeps the last of two equal keys: a silent choice between two thresholds."""
    text = calibration().to_json()
    group = '"GRID:cam1": {'
    path = tmp_path / "cal.json"
    path.write_text(
        text.replace(
            group,
            f'{group}"threshold": 0.9, "n_male": 1, "n_female": 1, "fitted": true}}, {group}',
            1,
        )
    )
    assert "duplicate key 'GRID:cam1'" in expect_one_line(path)


def test_a_default_other_than_the_checkpoints_is_rejected(tmp_path: Path) -> None:
    """Crops of other cameras get the file's default: it must be the served checkpoint's."""
    path = tmp_path / "cal.json"
    path.write_text(calibration().to_json())
    message = expect_one_line(path, threshold=0.5)
    assert "default threshold 0.47 is not the checkpoint's 0.5" in message
    assert "gennet calibrate" in message


def test_digest_mismatch_shows_both_short_digests(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text(calibration().to_json())
    message = expect_one_line(path, OTHER)
    assert DIGEST[:12] in message and OTHER[:12] in message and "gennet calibrate" in message


def test_serving_side_imports_no_torch_and_no_evaluation_code() -> None:
    """The torch-free service image loads calibration files and decides: keep it torch-free, and
    free of the fitting code (``gennet.evaluate``)."""
    code = (
        "import sys, gennet.calibration, gennet.decision; "
        "print('torch' in sys.modules, any(m.startswith('gennet.evaluate') for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False False"
