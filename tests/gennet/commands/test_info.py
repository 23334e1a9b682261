"""``gennet info``: checkpoint metadata, size and cost, graphs by precision; the model zoo; error exits."""

import json
from pathlib import Path

import pytest

from gennet.checkpoint import load_checkpoint
from gennet.cli import main
from gennet.commands import info
from gennet.models.complexity import count_parameters
from gennet.runtimes.onnx_graphs import CALIBRATION_KEY, GATE_KEY, PRECISION_KEY
from tests.support.graphs import relabel


def test_info_json_has_the_promised_keys(
    checkpoint_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(checkpoint_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"arch", "params", "gflops", "input_size", "threshold", "metrics"} <= set(data)
    model, meta = load_checkpoint(checkpoint_path)
    assert data["arch"] == "gennet"
    assert data["params"] == count_parameters(model)
    assert 0 < data["gflops"] <= 0.5
    assert data["input_size"] == [256, 128]
    assert data["threshold"] == meta.threshold
    assert data["metrics"] == meta.metrics
    assert data["weights_sha256"] == meta.weights_sha256


def test_info_text_uses_the_default_checkpoint(
    checkpoint_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GENNET_MODEL_PATH", str(checkpoint_path))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"checkpoint   {checkpoint_path}" in out
    assert "3x256x128" in out and "parameters" in out and "GFLOPs" in out
    assert "val        macro-F1 0.5000" in out
    assert (
        "tta          flip, for crops within 0.25 of the threshold by default "
        "(GENNET_TTA, GENNET_TTA_MARGIN; ?tta= per request)\n" in out
    )


def test_info_states_the_default_tta_and_its_margin(
    checkpoint_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(info, "DEFAULT_TTA_MARGIN", 0.125)
    assert main(["info", str(checkpoint_path)]) == 0
    assert "tta          flip, for crops within 0.125 of the threshold by default" in (
        capsys.readouterr().out
    )
    monkeypatch.setattr(info, "DEFAULT_TTA", False)
    assert main(["info", str(checkpoint_path)]) == 0
    out = capsys.readouterr().out
    assert "tta          none by default" in out and "within" not in out


def test_info_models_lists_the_zoo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two architectures keep it fast; every one is measured in
    # tests/gennet/models/test_architectures.py.
    monkeypatch.setattr(info, "list_models", lambda: ["gennet", "rmnet"])
    assert main(["info", "--models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["arch"] for r in rows] == ["gennet", "rmnet"]
    assert all(r["params"] > 0 and r["gflops"] > 0 and r["input_size"] == [256, 128] for r in rows)
    assert main(["info", "--models"]) == 0
    assert "GFLOPs @ 256x128" in capsys.readouterr().out


@pytest.mark.parametrize("content", [None, b"garbage"])
def test_bad_checkpoint_exits_2_with_one_line(
    tmp_path: Path, content: bytes | None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.pt"
    if content is not None:
        path.write_bytes(content)
    assert main(["info", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("gennet info: error: ")
    assert str(path) in captured.err and captured.err.count("\n") == 1


def test_info_says_which_graph_each_precision_serves(
    checkpoint: Path,
    onnx_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GENNET_PRECISION", "int8")
    assert main(["info", str(checkpoint), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["graphs"]["fp32"]["status"].startswith("fresh")
    assert data["graphs"]["int8"]["status"].startswith(
        "missing (make it: gennet export --precision"
    )
    assert data["served"]["graph"] is None and "cannot start" in data["served"]["note"]

    gate = {"split": "val", "fp32": {"macro_f1": 0.87, "auc": 0.94}}
    props = {
        PRECISION_KEY: "int8",
        CALIBRATION_KEY: json.dumps({"split": "train", "count": 256, "seed": 0, "fp32_convs": 6}),
        GATE_KEY: json.dumps({**gate, "int8": {"macro_f1": 0.88, "auc": 0.93}}),
    }
    relabel(onnx_path, tmp_path / "gennet.int8.onnx", **props)
    assert main(["info", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert (
        "on 256 train crops (seed 0), first 6 convolutions FP32; val macro-F1 0.8700 -> 0.8800, "
        "AUC 0.9400 -> 0.9300" in out
    )
    assert f"served       int8 (GENNET_PRECISION): {tmp_path / 'gennet.int8.onnx'}\n" in out
    assert main(["info", str(checkpoint), "--precision", "fp32"]) == 0
    assert (
        f"served       fp32 (GENNET_PRECISION): {tmp_path / 'gennet.onnx'}\n"
        in capsys.readouterr().out
    )
