"""``gennet evaluate`` on a small generated data folder: JSON, text report, plots, errors."""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gennet.checkpoint import load_checkpoint
from gennet.cli import main
from gennet.data.manifest import read_manifest, select
from gennet.evaluate.report import evaluation_report
from gennet.inference import TorchPredictor
from gennet.preprocess import preprocess_bytes

KEYS = {"n", "accuracy", "macro_f1", "auc", "f1", "precision", "recall", "confusion", "per_source"}
ROWS = [
    (f"images/{source}/{i}.{ext}", label, source, split)
    for i, (source, label, split, ext) in enumerate(
        [
            ("GRID", "male", "test", "png"),
            ("GRID", "female", "test", "jpg"),
            ("GRID", "male", "test", "png"),
            ("MIT", "female", "test", "png"),
            ("MIT", "male", "test", "jpg"),
            ("MIT", "female", "test", "png"),
            ("MIT", "male", "val", "png"),
        ]
    )
]


@pytest.fixture
def data(tmp_path: Path, make_dataset: Callable[..., Path]) -> Path:
    return make_dataset(tmp_path / "data", ROWS)


def test_evaluate_writes_json_report_and_plots(
    data: Path, checkpoint_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = [
        "evaluate",
        "--data",
        str(data),
        "--split",
        "test",
        "--checkpoint",
        str(checkpoint_path),
    ]
    argv += ["--json", str(out / "m.json"), "--report", str(out / "r.txt"), "--plots", str(out)]
    assert main([*argv, "--batch-size", "4"]) == 0
    printed = capsys.readouterr().out

    result = json.loads((out / "m.json").read_text())
    assert set(result) >= KEYS
    assert result["n"] == 6
    for key in ("f1", "precision", "recall"):
        assert set(result[key]) == {"male", "female"}
    assert set(result["per_source"]) == {"GRID", "MIT"}
    assert sum(map(sum, result["confusion"])) == 6
    assert "tta" not in result and result["run"]["tta"] is False

    # The figures are those of the serving path: bytes -> preprocess_bytes -> model.
    model, meta = load_checkpoint(checkpoint_path)
    samples = select(read_manifest(data), "test")
    batch = np.stack([preprocess_bytes(s.path.read_bytes(), meta.preprocess_spec) for s in samples])
    expected = evaluation_report(samples, TorchPredictor(model)(batch), meta.threshold)
    assert result["confusion"] == expected["confusion"]
    assert result["macro_f1"] == pytest.approx(expected["macro_f1"])

    report = (out / "r.txt").read_text()
    assert report in printed
    assert "per source" in report and "confusion matrix" in report
    for name in ("confusion_matrix", "roc_curve", "precision_recall", "per_source"):
        with Image.open(out / f"{name}.png") as image:
            assert image.format == "PNG"


def test_evaluate_with_tta_reports_its_effect(
    data: Path, checkpoint_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tta.json"
    argv = ["evaluate", "--data", str(data), "--split", "all", "--checkpoint", str(checkpoint_path)]
    assert main([*argv, "--tta", "--json", str(out)]) == 0
    assert "effect of TTA" in capsys.readouterr().out

    result = json.loads(out.read_text())
    assert result["n"] == len(ROWS) and result["run"]["tta"] is True
    without, effect = result["tta"]["without"], result["tta"]["effect"]
    assert set(without) >= KEYS and without["n"] == len(ROWS)
    assert effect["accuracy"] == pytest.approx(result["accuracy"] - without["accuracy"])
    assert set(effect["per_source"]) == {"GRID", "MIT"}


def test_undecodable_image_names_the_file(
    data: Path, checkpoint_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = data / ROWS[3][0]
    broken.write_bytes(b"not an image")
    argv = [
        "evaluate",
        "--data",
        str(data),
        "--split",
        "test",
        "--checkpoint",
        str(checkpoint_path),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(broken) in err and "not a decodable image" in err


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "manifest not found"),
        ("path,gender\na.png,male\n", "missing column"),
        ("path,label,split\nimages/GRID/0.png,unknown,test\n", "is not male or female"),
        ("path,label,split\nimages/absent.png,male,test\n", "does not exist"),
        ("path,label,split\nimages/GRID/0.png,male,train\n", "no rows for split 'test'"),
    ],
)
def test_bad_manifest_exits_2_with_one_line(
    data: Path,
    checkpoint_path: Path,
    manifest: str | None,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if manifest is None:
        (data / "manifest.csv").unlink()
    else:
        (data / "manifest.csv").write_text(manifest)
    argv = [
        "evaluate",
        "--data",
        str(data),
        "--split",
        "test",
        "--checkpoint",
        str(checkpoint_path),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("gennet evaluate: error: ") and err.count("\n") == 1
    assert message in err


def test_missing_checkpoint_exits_2_with_one_line(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GENNET_MODEL_PATH", str(tmp_path / "absent.pt"))
    assert main(["evaluate", "--data", str(data), "--split", "test"]) == 2
    captured = capsys.readouterr()
    assert (
        captured.err
        == f"gennet evaluate: error: {tmp_path / 'absent.pt'}: checkpoint file not found\n"
    )


def test_unwritable_output_is_a_one_line_error(
    data: Path, checkpoint_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = [
        "evaluate",
        "--data",
        str(data),
        "--split",
        "test",
        "--checkpoint",
        str(checkpoint_path),
    ]
    assert main([*argv, "--json", str(blocker / "m.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err
