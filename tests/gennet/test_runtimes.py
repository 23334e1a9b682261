"""The runtime registry (gennet.runtimes) and the graph's metadata contract (gennet.export)."""

from pathlib import Path

import onnx
import pytest

from gennet import runtimes
from gennet.checkpoint import read_meta
from gennet.errors import CheckpointError
from gennet.export import META_KEY, SHA_KEY, graph_meta, serving_graph
from gennet.runtimes import ModelFiles, RuntimeUnavailableError, get_backend, resolve


def test_every_backend_is_registered_under_its_own_name() -> None:
    for name in runtimes.BACKENDS:
        backend = get_backend(name)
        assert backend.name == name and backend.devices
    assert set(runtimes.DEFAULT_RUNTIME.values()) <= set(runtimes.BACKENDS)


def test_unknown_runtime_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(
        RuntimeUnavailableError, match=r"unknown runtime 'openvino' \(known: onnx, torch\)"
    ):
        get_backend("openvino")


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


def test_graph_carries_the_checkpoint_meta(checkpoint_path: Path, onnx_path: Path) -> None:
    meta, _ = read_meta(checkpoint_path)
    assert graph_meta(onnx_path) == meta
    graph, served = serving_graph(ModelFiles(checkpoint_path))
    assert (graph, served) == (onnx_path, meta)


def test_graph_without_metadata_cannot_serve_alone(onnx_path: Path, tmp_path: Path) -> None:
    """An export from before the metadata was stored: serving it alone fails in one line."""
    old = onnx.load(str(onnx_path))
    props = {p.key: p.value for p in old.metadata_props if p.key != META_KEY}
    onnx.helper.set_model_props(old, props)
    path = tmp_path / "old.onnx"
    onnx.save(old, str(path))
    assert SHA_KEY in props
    with pytest.raises(CheckpointError) as info:
        graph_meta(path)
    assert str(path) in str(info.value) and "gennet export" in str(info.value)
    assert "\n" not in str(info.value)
