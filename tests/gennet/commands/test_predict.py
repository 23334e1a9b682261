"""``gennet predict``: labels, JSON, annotated images and one-line errors."""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gennet.checkpoint import load_checkpoint
from gennet.cli import main
from gennet.commands.predict import COLOURS, MIN_ANNOTATED_HEIGHT
from gennet.inference import TorchPredictor, predict
from gennet.preprocess import preprocess_bytes


@pytest.fixture
def images(tmp_path: Path, image_file: Callable[..., Path]) -> list[Path]:
    tiny = image_file(tmp_path / "in" / "tiny.png", size=(12, 30), seed=1)
    Image.open(tiny).convert("RGBA").save(tiny)  # a mode the serving path must convert
    return [tiny, image_file(tmp_path / "in" / "big.jpg", size=(96, 200), seed=2)]


def test_predict_json_matches_the_model(
    images: list[Path], checkpoint_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", *map(str, images), "--checkpoint", str(checkpoint_path), "--json", "--tta"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tta"] is True and result["threshold"] == 0.5

    model, meta = load_checkpoint(checkpoint_path)
    batch = np.stack([preprocess_bytes(p.read_bytes(), meta.preprocess_spec) for p in images])
    expected = predict(TorchPredictor(model), batch, tta=True)
    rows = result["predictions"]
    assert [r["image"] for r in rows] == [str(p) for p in images]
    for row, prob_male in zip(rows, expected, strict=True):
        assert row["prob_male"] == pytest.approx(float(prob_male), abs=1e-6)
        assert row["label"] == ("male" if prob_male >= meta.threshold else "female")
        male = row["label"] == "male"
        assert row["probability"] == pytest.approx(prob_male if male else 1 - prob_male, abs=1e-6)


def test_predict_annotate_writes_readable_labelled_images(
    images: list[Path],
    checkpoint_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GENNET_MODEL_PATH", str(checkpoint_path))
    out = tmp_path / "annotated"
    assert main(["predict", *map(str, images), "--annotate", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{images[0]}: ")

    written = sorted(out.iterdir())
    assert len(written) == 2
    for path in written:
        label = path.suffixes[-2].lstrip(".")
        assert label in COLOURS
        with Image.open(path) as image:
            assert image.height > MIN_ANNOTATED_HEIGHT  # tiny crops are upscaled, plus the banner
            assert image.getpixel((1, 1)) == COLOURS[label]  # the banner shows the label's colour
    assert f"-> {out}" in lines[0]


@pytest.mark.parametrize("content", [None, b"\x00\x01 not an image", "directory"])
def test_bad_image_exits_2_with_one_line(
    tmp_path: Path,
    checkpoint_path: Path,
    content: bytes | str | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "crop.png"
    if content == "directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)  # type: ignore[arg-type]
    assert main(["predict", str(path), "--checkpoint", str(checkpoint_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"gennet predict: error: {path}: ")
    assert captured.err.count("\n") == 1


def test_nonexistent_checkpoint_exits_2_with_one_line(
    images: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.pt"
    assert main(["predict", str(images[0]), "--checkpoint", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"gennet predict: error: {missing}: checkpoint file not found\n"
