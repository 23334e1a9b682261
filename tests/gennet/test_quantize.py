"""INT8 export (gennet.quantize): calibration set, accuracy gate, metadata, and serving the graph.

One real quantisation on generated crops (about 5 s); the refusal path and the real-data gate swap
the quantiser for a copy, so that both graphs score alike.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from gennet import quantize
from gennet.checkpoint import CheckpointMeta, read_meta
from gennet.data.manifest import Sample, read_manifest
from gennet.errors import GenNetError
from gennet.inference import OnnxPredictor
from gennet.runtimes import BACKENDS, ModelFiles, get_backend
from gennet.runtimes.onnx_graphs import (
    CALIBRATION_KEY,
    GATE_KEY,
    PRECISION_KEY,
    SHA_KEY,
    read_props,
    serving_graph,
)
from tests.support.data import write_manifest
from tests.support.graphs import copy_model, no_export


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, crops: list[bytes]) -> Path:
    """24 train and 8 val crops of both labels (the generated crops), with their manifest."""
    root = tmp_path_factory.mktemp("data")
    rows = [
        (f"{split}/{i}.img", "male" if i % 2 else "female", "gen", split)
        for split, count in (("train", 24), ("val", 8))
        for i in range(count)
    ]
    for i, (path, *_) in enumerate(rows):
        (root / path).parent.mkdir(exist_ok=True)
        (root / path).write_bytes(crops[i % len(crops)])
    return write_manifest(root, rows)


@pytest.fixture(scope="module")
def meta(checkpoint_path: Path) -> CheckpointMeta:
    return read_meta(checkpoint_path)[0]


@pytest.fixture(scope="module")
def checkpoint(
    checkpoint_path: Path, onnx_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The test checkpoint and its FP32 graph in a folder of their own (the INT8 graph joins them)."""
    return copy_model(checkpoint_path, onnx_path, tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def int8_graph(checkpoint: Path, data: Path, meta: CheckpointMeta) -> tuple[Path, quantize.Gate]:
    """The INT8 graph of the test checkpoint, beside it (where serving looks for it)."""
    out = checkpoint.with_suffix(".int8.onnx")
    fp32 = checkpoint.with_suffix(".onnx")
    # A random-weight model: any figures pass.
    gate = quantize.export_int8(
        fp32, out, data, meta, count=16, seed=3, max_f1_drop=1.0, max_auc_drop=1.0
    )
    return out, gate


def test_calibration_set_is_a_seeded_draw_of_train_crops(data: Path) -> None:
    samples = read_manifest(data)
    first = quantize.calibration_set(samples, data, 10, seed=0)
    assert first == quantize.calibration_set(samples, data, 10, seed=0)
    assert len(set(first.paths)) == 10 and all(p.startswith("train/") for p in first.paths)
    other = quantize.calibration_set(samples, data, 10, seed=1)
    assert other.paths != first.paths and other.sha256 != first.sha256
    assert first.record() == {
        "split": "train",
        "count": 10,
        "seed": 0,
        "crops_sha256": first.sha256,
    }
    with pytest.raises(GenNetError, match=r"25 calibration crops asked for; .* has 24 train crops"):
        quantize.calibration_set(samples, data, 25, seed=0)


@pytest.mark.parametrize(
    ("int8", "passed"),
    [
        ({"macro_f1": 0.866, "auc": 0.938}, True),  # drops of 0.004 and 0.002: within
        ({"macro_f1": 0.864, "auc": 0.940}, False),  # macro-F1 drop 0.006
        ({"macro_f1": 0.880, "auc": 0.936}, False),  # AUC drop 0.004
    ],
)
def test_gate_tolerances(int8: dict[str, float], passed: bool) -> None:
    gate = quantize.Gate(100, 0.5, {"macro_f1": 0.870, "auc": 0.940}, int8)
    assert gate.passed is passed
    assert "0.8700 -> " in gate.describe() and "0.9400 -> " in gate.describe()


def test_int8_graph_records_its_source_calibration_and_gate(
    int8_graph: tuple[Path, quantize.Gate], meta: CheckpointMeta, data: Path
) -> None:
    path, gate = int8_graph
    props = read_props(path)
    assert props[PRECISION_KEY] == "int8" and props[SHA_KEY] == meta.weights_sha256
    calibration = json.loads(props[CALIBRATION_KEY])
    expected = quantize.calibration_set(read_manifest(data), data, 16, seed=3)
    assert calibration["crops_sha256"] == expected.sha256
    assert (calibration["count"], calibration["seed"], calibration["format"]) == (16, 3, "QDQ")
    assert calibration["fp32_convs"] == quantize.FP32_CONVS
    assert json.loads(props[GATE_KEY]) == {**gate.record(), "n": 8}
    assert path.stat().st_size < 0.5 * path.with_suffix("").with_suffix(".onnx").stat().st_size


def test_the_first_convolutions_stay_fp32(int8_graph: tuple[Path, quantize.Gate]) -> None:
    """A QDQ graph quantises a convolution by feeding it dequantised weights: the first
    FP32_CONVS take their weights straight from the initialisers, every later one from INT8."""
    graph = onnx.load(str(int8_graph[0])).graph
    dequantised = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    quantised = [n.input[1] in dequantised for n in convs]
    first = quantize.FP32_CONVS
    assert quantised == [False] * first + [True] * (len(convs) - first)


def _chain(*ops: str) -> onnx.GraphProto:
    """A graph of single-input nodes n0, n1, ... each feeding the next."""
    nodes = [
        onnx.helper.make_node(op, [f"t{i}"], [f"t{i + 1}"], name=f"n{i}")
        for i, op in enumerate(ops)
    ]
    value = onnx.helper.make_tensor_value_info("t0", onnx.TensorProto.FLOAT, None)
    return onnx.helper.make_graph(nodes, "chain", [value], [value])


def test_leading_nodes_are_every_node_before_the_first_quantised_convolution() -> None:
    graph = _chain("AveragePool", "Conv", "Clip", "Conv", "Conv", "Clip", "Add")
    assert quantize.leading_nodes(graph, 0) == ["n0"]
    assert quantize.leading_nodes(graph, 1) == ["n0", "n1", "n2"]
    assert quantize.leading_nodes(graph, 2) == ["n0", "n1", "n2", "n3"]
    with pytest.raises(GenNetError, match="3 FP32 convolutions asked for; the graph has 3"):
        quantize.leading_nodes(graph, 3)


def test_int8_graph_serves_in_every_runtime_that_declares_it(
    checkpoint: Path,
    int8_graph: tuple[Path, quantize.Gate],
    crops: list[bytes],
) -> None:
    """Served by every runtime that declares INT8 (today: onnx), close to the FP32 graph.

    Within about 0.08 of FP32 on this random-weight model, whose probabilities span only 0.4-0.7
    (OpenVINO's INT8 kernels, when it was a backend, differed from ONNX Runtime's by as much).
    """
    from gennet.preprocess import preprocess_bytes

    files = ModelFiles(checkpoint, precision="int8")
    assert serving_graph(files, no_export)[0] == int8_graph[0]
    spec = read_meta(checkpoint)[0].preprocess_spec
    batch = np.stack([preprocess_bytes(c, spec) for c in crops])
    fp32 = OnnxPredictor(checkpoint.with_suffix(".onnx"), threads=1)(batch)
    served = [name for name in BACKENDS if "int8" in get_backend(name).precisions]
    assert "onnx" in served
    for name in served:
        probs = get_backend(name).load(files, "cpu", 1).predictor(batch)
        assert 0 < np.abs(probs - fp32).max() < 0.15, name  # quantised, yet the same model
        assert np.corrcoef(probs, fp32)[0, 1] > 0.6, name


def test_a_graph_failing_the_gate_is_not_written(
    onnx_path: Path,
    data: Path,
    meta: CheckpointMeta,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same figures for both graphs (a copy) fail a gate that demands a gain: nothing written."""
    monkeypatch.setattr(quantize, "quantize_graph", lambda fp32, out, *_: shutil.copy(fp32, out))
    out = tmp_path / "refused.int8.onnx"
    with pytest.raises(GenNetError) as info:
        quantize.export_int8(onnx_path, out, data, meta, count=4, max_f1_drop=-0.01)
    message = str(info.value)
    assert message.startswith(f"INT8 graph refused, {out} not written: 8 val crops")
    assert "macro-F1 0.4667 -> 0.4667" in message and "AUC 0.5625 -> 0.5625" in message
    assert "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_gate_on_real_val_crops(
    onnx_path: Path,
    peta_root: Path,
    peta_samples: list[Sample],
    meta: CheckpointMeta,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real PETA train crops calibrate, 64 val crops gate (the quantiser itself is tested above)."""
    monkeypatch.setattr(quantize, "quantize_graph", lambda fp32, out, *_: shutil.copy(fp32, out))
    out = tmp_path / "real.int8.onnx"
    gate = quantize.export_int8(onnx_path, out, peta_root, meta, count=32, gate_crops=64)
    assert gate.n == 64 and gate.passed and gate.fp32 == gate.int8
    assert 0.3 < gate.fp32["auc"] < 0.7  # random weights on real crops
    calibration = json.loads(read_props(out)[CALIBRATION_KEY])
    expected = quantize.calibration_set(peta_samples, peta_root, 32, quantize.CALIBRATION_SEED)
    assert calibration["crops_sha256"] == expected.sha256 and calibration["count"] == 32
