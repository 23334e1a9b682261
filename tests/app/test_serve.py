"""`gennet serve` refuses bad settings and bad checkpoints with one line, before uvicorn starts."""

from pathlib import Path

import pytest

from gennet.calibration import Calibration
from gennet.cli import main


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GENNET_MAX_BATCH_SIZE": "0"}, "invalid setting GENNET_MAX_BATCH_SIZE"),
        ({"GENNET_MODEL_PATH": "/nonexistent/gennet.pt"}, "checkpoint file not found"),
        ({"GENNET_API_KEY": ""}, "invalid setting GENNET_API_KEY"),  # empty is not "no key"
    ],
)
def test_serve_fails_fast_with_one_line(
    env: dict[str, str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--port", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gennet serve: error:") and expected in lines[0]


def test_serve_refuses_a_calibration_for_other_weights_before_serving(
    checkpoint_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calibration = Calibration(
        weights_sha256="a" * 64, default_threshold=0.5, mode="labels", by="camera", groups={}
    )
    path = tmp_path / "calibration.json"
    path.write_text(calibration.to_json())
    monkeypatch.setenv("GENNET_MODEL_PATH", str(checkpoint_path))
    monkeypatch.setenv("GENNET_CALIBRATION_PATH", str(path))
    monkeypatch.setenv("GENNET_LOG_LEVEL", "ERROR")
    assert main(["serve", "--port", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "run gennet calibrate for this checkpoint" in lines[0]


def test_serve_is_a_listed_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--port" in capsys.readouterr().out
