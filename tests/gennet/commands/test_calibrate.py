"""``gennet calibrate`` on a small generated data folder: groups, known thresholds, the
min-per-label rule, male-share mode, the real scoring path, and one-line errors."""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gennet.calibration import load_calibration
from gennet.checkpoint import load_checkpoint, read_meta
from gennet.cli import main
from gennet.commands import calibrate
from gennet.evaluate.calibration_fit import labels_threshold
from gennet.evaluate.metrics import classification_metrics
from gennet.inference import TorchPredictor
from gennet.preprocess import preprocess_bytes

HEADER = ("path", "label", "camera", "source", "split")
# (camera, source, label, synthetic P(male)): cam1 separates at 0.30, cam2 at 0.775; the MIT rows
# have no camera (grouped by source) and too few crops of each label to fit.
CROPS = [
    *[("GRID:cam1", "GRID", "female", s) for s in (0.10, 0.15, 0.20, 0.25)],
    *[("GRID:cam1", "GRID", "male", s) for s in (0.35, 0.40, 0.45, 0.50)],
    *[("GRID:cam2", "GRID", "female", s) for s in (0.60, 0.65, 0.70, 0.75)],
    *[("GRID:cam2", "GRID", "male", s) for s in (0.80, 0.85, 0.90, 0.95)],
    *[("", "MIT", label, s) for label, s in (("male", 0.9), ("male", 0.2), ("female", 0.1))],
]
ROWS = [
    (f"images/{i}.png", label, camera, source, "test")
    for i, (camera, source, label, _) in enumerate(CROPS)
]
SCORES = np.array([s for *_, s in CROPS], dtype=np.float32)
LABELS = np.array([label == "male" for _, _, label, _ in CROPS])


@pytest.fixture
def data(
    tmp_path: Path, image_file: Callable[..., Path], manifest_file: Callable[..., Path]
) -> Path:
    root = tmp_path / "data"
    for seed, (path, *_) in enumerate(ROWS):
        image_file(root / path, seed=seed)
    return manifest_file(root, ROWS, header=HEADER)


@pytest.fixture(autouse=True)
def graph(onnx_path: Path) -> Path:
    """The ONNX export beside the test checkpoint: what ``--runtime onnx`` (the default) serves."""
    return onnx_path


@pytest.fixture
def synthetic_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model's scores replaced by SCORES (manifest order), after the real decoding."""

    def fake(predictor: object, images: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        assert len(images) == len(SCORES)
        return SCORES.copy()

    monkeypatch.setattr(calibrate, "predict_images", fake)


def run(data: Path, checkpoint: Path, out: Path, *extra: str) -> int:
    argv = ["calibrate", "--data", str(data), "--checkpoint", str(checkpoint), "--out", str(out)]
    return main([*argv, *extra])


def test_known_thresholds_are_recovered_per_camera(
    data: Path,
    checkpoint_path: Path,
    tmp_path: Path,
    synthetic_scores: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "cal.json"
    assert run(data, checkpoint_path, out, "--min-per-label", "3") == 0
    meta, _ = read_meta(checkpoint_path)
    cal = load_calibration(
        out, meta.weights_sha256, meta.threshold
    )  # the file validates against its checkpoint
    assert cal.mode == "labels" and cal.by == "camera" and cal.male_share is None
    assert cal.default_threshold == meta.threshold == 0.5
    assert list(cal.groups) == ["GRID:cam1", "GRID:cam2", "MIT"]  # MIT: camera empty -> source

    cam1, cam2, mit = cal.groups.values()
    assert cam1.threshold == pytest.approx(0.30) and cam2.threshold == pytest.approx(0.775)
    assert cam1.fitted and cam2.fitted
    assert (cam1.n_male, cam1.n_female, cam1.macro_f1_after) == (4, 4, 1.0)
    assert cam1.macro_f1_before == pytest.approx((0.4 + 8 / 11) / 2)  # at 0.5 one man is male
    # the min-per-label rule: 2 male and 1 female < 3 of each -> the default, said in the note
    assert not mit.fitted and mit.threshold == 0.5
    assert "2 male and 1 female" in (mit.note or "") and "fewer than 3" in (mit.note or "")

    printed = capsys.readouterr().out
    assert "GRID:cam1" in printed and "0.3000" in printed and f"wrote {out}" in printed
    assert "pooled macro-F1" in printed


def test_by_source_pools_the_cameras(
    data: Path, checkpoint_path: Path, tmp_path: Path, synthetic_scores: None
) -> None:
    out = tmp_path / "cal.json"
    assert run(data, checkpoint_path, out, "--by", "source", "--min-per-label", "3") == 0
    cal = json.loads(out.read_text())
    assert cal["by"] == "source" and list(cal["groups"]) == ["GRID", "MIT"]
    grid = cal["groups"]["GRID"]
    assert (grid["n_male"], grid["n_female"]) == (8, 8)
    # pooled, no single threshold separates the two cameras: worse than per camera
    assert grid["macro_f1_after"] < 1.0
    assert grid["threshold"] == pytest.approx(labels_threshold(SCORES[:16], LABELS[:16]))


def test_default_min_per_label_keeps_every_small_group_at_the_default(
    data: Path, checkpoint_path: Path, tmp_path: Path, synthetic_scores: None
) -> None:
    out = tmp_path / "cal.json"
    assert run(data, checkpoint_path, out) == 0  # --min-per-label 10
    groups = json.loads(out.read_text())["groups"]
    assert all(not g["fitted"] and g["threshold"] == 0.5 for g in groups.values())
    assert all("fewer than 10 of each label" in g["note"] for g in groups.values())


def test_male_share_mode_sets_the_quantile_and_reports_what_labels_say(
    data: Path,
    checkpoint_path: Path,
    tmp_path: Path,
    synthetic_scores: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "cal.json"
    assert run(data, checkpoint_path, out, "--male-share", "0.25", "--min-per-label", "3") == 0
    cal = json.loads(out.read_text())
    assert cal["mode"] == "male_share" and cal["male_share"] == 0.25
    cam1, cam2, mit = (cal["groups"][k] for k in ("GRID:cam1", "GRID:cam2", "MIT"))
    # 2 of 8 crops male: midway between the 6th and 7th lowest scores
    assert cam1["threshold"] == pytest.approx(0.425) and cam2["threshold"] == pytest.approx(0.875)
    # at 0.425 two of the four men are called male: F1 male 2/3, female 0.8
    assert cam1["fitted"] and cam1["macro_f1_after"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert cam1["macro_f1_before"] < cam1["macro_f1_after"]  # labels report the gain
    assert not mit["fitted"] and "3 crops, fewer than 6" in mit["note"]
    assert "F1 before" in capsys.readouterr().out


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_real_scores_match_the_serving_path(
    data: Path, checkpoint_path: Path, tmp_path: Path, runtime: str
) -> None:
    """No fakes: the thresholds are those fitted on what the service would score."""
    out = tmp_path / "cal.json"
    assert run(data, checkpoint_path, out, "--min-per-label", "1", "--runtime", runtime) == 0
    cal = json.loads(out.read_text())
    model, meta = load_checkpoint(checkpoint_path)
    batch = np.stack(
        [preprocess_bytes((data / path).read_bytes(), meta.preprocess_spec) for path, *_ in ROWS]
    )
    probs = TorchPredictor(model)(batch)
    for name, rows in (("GRID:cam1", slice(0, 8)), ("GRID:cam2", slice(8, 16))):
        group = cal["groups"][name]
        expected = labels_threshold(probs[rows], LABELS[rows])
        assert group["threshold"] == pytest.approx(expected, abs=1e-5)
        after = classification_metrics(LABELS[rows], probs[rows], group["threshold"])["macro_f1"]
        assert group["macro_f1_after"] == pytest.approx(after)
        assert group["macro_f1_after"] >= group["macro_f1_before"]


def test_rows_without_camera_or_source_are_a_one_line_error(
    tmp_path: Path,
    checkpoint_path: Path,
    image_file: Callable[..., Path],
    manifest_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    image_file(tmp_path / "d" / "a.png")
    manifest_file(tmp_path / "d", [("a.png", "male", "", "", "")], header=HEADER)
    assert run(tmp_path / "d", checkpoint_path, tmp_path / "c.json") == 2
    err = capsys.readouterr().err
    assert (
        err == "gennet calibrate: error: 1 row(s) have neither a camera or a source to group by\n"
    )
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("share", ["1.5", "-0.1", "half"])
def test_bad_male_share_is_refused_by_the_parser(
    data: Path,
    checkpoint_path: Path,
    tmp_path: Path,
    share: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        run(data, checkpoint_path, tmp_path / "c.json", "--male-share", share)
    assert caught.value.code == 2 and "--male-share" in capsys.readouterr().err


def test_unwritable_output_is_a_one_line_error(
    data: Path,
    checkpoint_path: Path,
    tmp_path: Path,
    synthetic_scores: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert run(data, checkpoint_path, blocker / "cal.json") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err


def test_unlabelled_camera_folders_by_male_share(
    tmp_path: Path,
    checkpoint_path: Path,
    image_file: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No manifest, no labels: DIR/<camera>/<crops>; the threshold is the share's quantile."""
    crops = tmp_path / "crops"
    for i in range(8):
        image_file(crops / "entrance" / f"{i}.jpg", seed=i)
        image_file(crops / "lobby" / "day" / f"{i}.png", seed=10 + i)
    (crops / "lobby" / "notes.txt").write_text("not a crop")
    scores = np.r_[np.arange(8) / 10, 0.5 + np.arange(8) / 20].astype(np.float32)

    def fake(predictor: object, images: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        assert len(images) == 16  # notes.txt is not a crop
        return scores

    monkeypatch.setattr(calibrate, "predict_images", fake)
    out = tmp_path / "cal.json"
    argv = ["--male-share", "0.25", "--min-per-label", "3"]
    assert run(crops, checkpoint_path, out, *argv) == 0
    meta = read_meta(checkpoint_path)[0]
    cal = load_calibration(out, meta.weights_sha256, meta.threshold)
    assert (
        cal.mode == "male_share"
        and cal.by == "camera"
        and list(cal.groups)
        == [
            "entrance",
            "lobby",
        ]
    )
    entrance, lobby = cal.groups["entrance"], cal.groups["lobby"]
    assert entrance.threshold == pytest.approx(0.55) and lobby.threshold == pytest.approx(0.775)
    assert (entrance.n, entrance.n_male, entrance.n_female) == (8, 0, 0)
    assert entrance.fitted and entrance.macro_f1_before is None and entrance.macro_f1_after is None
    assert "camera folders" in capsys.readouterr().out


def test_labelled_mode_needs_a_manifest(
    tmp_path: Path,
    checkpoint_path: Path,
    image_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    image_file(tmp_path / "crops" / "entrance" / "0.jpg")
    assert run(tmp_path / "crops", checkpoint_path, tmp_path / "c.json") == 2
    assert "manifest not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(empty, checkpoint_path, tmp_path / "c.json", "--male-share", "0.5") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no crops in camera sub-folders" in err
