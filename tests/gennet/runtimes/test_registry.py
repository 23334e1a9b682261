"""The runtime registry (gennet.runtimes): backends, devices, precisions, and the CLI's choices."""

import argparse
from pathlib import Path

import pytest

from gennet import runtimes
from gennet.commands import calibrate, export
from gennet.runtimes import (
    ModelFiles,
    RuntimeUnavailableError,
    check_precision,
    get_backend,
    known_precisions,
    resolve,
)


def test_every_backend_is_registered_under_its_own_name() -> None:
    for name in runtimes.BACKENDS:
        backend = get_backend(name)
        assert backend.name == name and backend.devices and backend.precisions
        assert set(backend.devices) <= set(runtimes.DEVICE_PREFERENCE)
        assert runtimes.DEFAULT_PRECISION in backend.precisions
    assert set(runtimes.DEFAULT_RUNTIME.values()) <= set(runtimes.BACKENDS)
    assert known_precisions() == ("fp32", "int8")


def test_unknown_runtime_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(
        RuntimeUnavailableError,
        match=r"unknown runtime 'tensorrt' \(known: onnx, torch\)",
    ):
        get_backend("tensorrt")


def test_cli_choices_come_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new backend is a choice of `gennet calibrate --runtime` without touching the command."""
    monkeypatch.setitem(runtimes.BACKENDS, "fake", "gennet.runtimes.onnxrt")
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    calibrate.add_parser(commands)
    export.add_parser(commands)
    args = parser.parse_args(["calibrate", "--data", "d", "--out", "o", "--runtime", "fake"])
    assert args.runtime == "fake"
    assert parser.parse_args(["export", "--precision", "int8"]).precision == "int8"
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "--precision", "fp16"])


@pytest.mark.parametrize(
    ("runtime", "precision", "message"),
    [
        ("auto", "fp16", r"unknown precision 'fp16' \(known: fp32, int8\)"),
        ("torch", "int8", r"runtime 'torch' serves fp32 only, not int8 \(.*: onnx\)"),
    ],
)
def test_a_precision_the_runtime_does_not_serve_is_one_line(
    runtime: str, precision: str, message: str
) -> None:
    with pytest.raises(RuntimeUnavailableError, match=message):
        check_precision(precision, runtime)
    with pytest.raises(RuntimeUnavailableError, match=message):
        resolve(runtime, "cpu", precision)


def test_auto_serves_int8_on_the_cpu_even_beside_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtimes, "cuda_available", lambda: True)
    assert resolve("auto", "auto") == ("torch", "cuda")
    assert resolve("auto", "auto", "int8") == ("onnx", "cpu")
    with pytest.raises(RuntimeUnavailableError, match="runtime 'torch' serves fp32 only"):
        resolve("auto", "cuda", "int8")


def test_auto_device_fits_an_explicit_runtime_without_probing_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_probe() -> bool:
        raise AssertionError("a CPU-only runtime must not probe CUDA (that imports torch)")

    monkeypatch.setattr(runtimes, "cuda_available", no_probe)
    assert resolve("onnx", "auto") == ("onnx", "cpu")
    assert resolve("torch", "cpu") == ("torch", "cpu")


def test_torch_runtime_refuses_a_graph(onnx_path: Path) -> None:
    with pytest.raises(RuntimeUnavailableError, match="serves a checkpoint"):
        get_backend("torch").load(ModelFiles(onnx_path), "cpu", 1)
