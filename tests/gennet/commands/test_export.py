"""``gennet export``: the command wiring, its PyTorch-vs-ONNX self-check, and ``--precision int8``.

The real export is exercised once per session by the ``onnx_path`` fixture (it takes ~15 s), so
here ``export_onnx`` is replaced by a copy of that file; the self-check still runs for real. The
real quantisation and its gate: tests/gennet/test_quantize.py.
"""

import shutil
from pathlib import Path

import pytest
import torch

from gennet import quantize
from gennet.checkpoint import CheckpointMeta, read_meta, save_checkpoint
from gennet.cli import main
from gennet.commands import export
from gennet.models import create_model
from gennet.quantize import Gate


@pytest.fixture
def fake_export(onnx_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, Path]]:
    calls: list[tuple[Path, Path]] = []

    def copy(checkpoint: Path, out: Path) -> CheckpointMeta:
        calls.append((checkpoint, out))
        shutil.copyfile(onnx_path, out)
        return read_meta(checkpoint)[0]

    monkeypatch.setattr(export, "export_onnx", copy)
    return calls


def test_export_self_check_on_real_crops(
    checkpoint_path: Path,
    fake_export: list[tuple[Path, Path]],
    peta_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "model.onnx"
    argv = ["export", "--onnx", str(out), "--checkpoint", str(checkpoint_path)]
    assert main([*argv, "--data", str(peta_root)]) == 0
    assert fake_export == [(checkpoint_path, out)]
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed
    assert f"on {export.CHECK_ROWS} real crops from {peta_root}: ok" in printed


def test_export_self_check_falls_back_to_random_inputs(
    checkpoint_path: Path,
    fake_export: list[tuple[Path, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GENNET_MODEL_PATH", str(checkpoint_path))
    assert main(["export", "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "random images: ok" in capsys.readouterr().out


def test_export_self_check_catches_a_mismatch(
    fake_export: list[tuple[Path, Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Other weights than the ONNX graph's: the self-check must fail."""
    torch.manual_seed(123)
    other = create_model("gennet").train()
    with torch.no_grad():
        other(torch.randn(4, 3, 256, 128))  # move the BatchNorm statistics off their defaults
    checkpoint = tmp_path / "other.pt"
    save_checkpoint(checkpoint, other.eval(), CheckpointMeta(arch="gennet", threshold=0.5))
    assert (
        main(["export", "--onnx", str(tmp_path / "m.onnx"), "--checkpoint", str(checkpoint)]) == 1
    )
    assert "FAILED" in capsys.readouterr().out


def test_export_of_a_missing_checkpoint_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "absent.pt"
    assert main(["export", "--onnx", str(tmp_path / "m.onnx"), "--checkpoint", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err == f"gennet export: error: {missing}: checkpoint file not found\n"
    assert not (tmp_path / "m.onnx").exists()


def test_int8_export_needs_data(
    checkpoint_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["export", "--precision", "int8", "--checkpoint", str(checkpoint_path)]
    assert main([*argv, "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "--precision int8 needs --data DIR" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_int8_export_quantises_the_fresh_fp32_graph_beside_the_checkpoint(
    checkpoint: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """By default the graph goes where serving looks for it; the gate's figures are printed."""
    calls: list[tuple[Path, Path, Path, int, int, int]] = []

    def fake(
        fp32: Path,
        out: Path,
        data: Path,
        meta: CheckpointMeta,
        count: int,
        seed: int,
        fp32_convs: int,
    ) -> Gate:
        calls.append((fp32, out, data, count, seed, fp32_convs))
        out.write_bytes(b"int8")
        return Gate(
            8, meta.threshold, {"macro_f1": 0.8, "auc": 0.9}, {"macro_f1": 0.81, "auc": 0.9}
        )

    monkeypatch.setattr(quantize, "export_int8", fake)
    argv = ["export", "--precision", "int8", "--checkpoint", str(checkpoint), "--data", "d"]
    assert main([*argv, "--calibration-crops", "64", "--seed", "7"]) == 0
    assert main([*argv, "--fp32-convs", "0"]) == 0
    out = tmp_path / "gennet.int8.onnx"
    assert calls == [
        (tmp_path / "gennet.onnx", out, Path("d"), 64, 7, quantize.FP32_CONVS),
        (tmp_path / "gennet.onnx", out, Path("d"), quantize.CALIBRATION_COUNT, 0, 0),
    ]
    printed = capsys.readouterr().out
    assert "macro-F1 0.8000 -> 0.8100" in printed and f"wrote {out} (int8" in printed
