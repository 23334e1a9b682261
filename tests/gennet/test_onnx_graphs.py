"""Which graph serves a checkpoint at each precision (gennet.runtimes.onnx_graphs).

The INT8 graphs here are the FP32 test graph with an INT8 label: the freshness rules read the
metadata only (a real quantised graph: test_quantize.py).
"""

import shutil
from pathlib import Path

import onnx
import pytest

from gennet.checkpoint import read_meta
from gennet.errors import CheckpointError
from gennet.runtimes import ModelFiles
from gennet.runtimes.onnx_graphs import (
    PRECISION_KEY,
    SHA_KEY,
    default_graph,
    fresh_graph,
    graph_problem,
    serving_graph,
)


def no_export(checkpoint: Path, out: Path) -> None:
    raise AssertionError("nothing may be re-exported")


def relabel(source: Path, out: Path, **props: str) -> Path:
    """A copy of ``source`` with some ``metadata_props`` replaced."""
    graph = onnx.load(str(source))
    onnx.helper.set_model_props(graph, {p.key: p.value for p in graph.metadata_props} | props)
    onnx.save(graph, str(out))
    return out


@pytest.fixture
def checkpoint(checkpoint_path: Path, onnx_path: Path, tmp_path: Path) -> Path:
    """The test checkpoint and its FP32 graph in a folder of their own."""
    shutil.copy(onnx_path, tmp_path / "gennet.onnx")
    return Path(shutil.copy(checkpoint_path, tmp_path / "gennet.pt"))


def test_stale_fp32_graph_is_reexported_to_the_cache_once(
    checkpoint_path: Path, onnx_path: Path, tmp_path: Path
) -> None:
    meta, _ = read_meta(checkpoint_path)
    stale = relabel(onnx_path, tmp_path / "stale.onnx", **{SHA_KEY: "0" * 64})
    exports: list[Path] = []

    def export(checkpoint: Path, out: Path) -> None:
        exports.append(out)
        shutil.copy(onnx_path, out)

    first = fresh_graph(checkpoint_path, meta, stale, tmp_path / "c", export)
    again = fresh_graph(checkpoint_path, meta, stale, tmp_path / "c", export)
    fresh = fresh_graph(checkpoint_path, meta, onnx_path, tmp_path / "c", export)
    assert first == again == tmp_path / "c" / f"{meta.weights_sha256}.onnx"
    assert len(exports) == 1
    assert fresh == onnx_path


def test_an_int8_graph_never_serves_as_fp32(checkpoint: Path, tmp_path: Path) -> None:
    """GENNET_ONNX_PATH naming an INT8 graph for FP32: re-exported, not served as FP32."""
    meta, _ = read_meta(checkpoint)
    int8 = relabel(checkpoint.with_suffix(".onnx"), tmp_path / "x.onnx", **{PRECISION_KEY: "int8"})
    assert graph_problem(int8, meta.weights_sha256, "fp32") == "an int8 graph, not fp32"
    exports: list[Path] = []

    def export(source: Path, out: Path) -> None:
        exports.append(out)
        shutil.copy(source.with_suffix(".onnx"), out)

    served = fresh_graph(checkpoint, meta, int8, tmp_path / "c", export)
    assert len(exports) == 1 and served == tmp_path / "c" / f"{meta.weights_sha256}.onnx"


def test_fresh_int8_graph_beside_the_checkpoint_serves(checkpoint: Path) -> None:
    graph = default_graph(checkpoint, "int8")
    assert graph.name == "gennet.int8.onnx"
    relabel(checkpoint.with_suffix(".onnx"), graph, **{PRECISION_KEY: "int8"})
    meta, _ = read_meta(checkpoint)
    assert serving_graph(ModelFiles(checkpoint, precision="int8"), no_export) == (graph, meta)
    assert serving_graph(ModelFiles(graph, precision="int8"), no_export) == (graph, meta)


@pytest.mark.parametrize(
    ("digest", "problem"), [(None, "missing"), ("0" * 64, "stale: made from other weights")]
)
def test_missing_or_stale_int8_graph_is_one_line_naming_its_command(
    checkpoint: Path, digest: str | None, problem: str
) -> None:
    """INT8 is never made at start-up (it needs data): the error says how to make it."""
    graph = default_graph(checkpoint, "int8")
    if digest is not None:
        props = {PRECISION_KEY: "int8", SHA_KEY: digest}
        relabel(checkpoint.with_suffix(".onnx"), graph, **props)
    with pytest.raises(CheckpointError) as info:
        serving_graph(ModelFiles(checkpoint, precision="int8"), no_export)
    message = str(info.value)
    assert message.startswith(f"{graph}: no int8 graph of {checkpoint} ({problem})")
    assert "`gennet export --precision int8 --data DIR`" in message and "\n" not in message


def test_a_graph_served_alone_must_have_the_precision_asked_for(checkpoint: Path) -> None:
    graph = checkpoint.with_suffix(".onnx")
    with pytest.raises(CheckpointError, match=r"an fp32 graph, but precision int8 was asked for"):
        serving_graph(ModelFiles(graph, precision="int8"), no_export)
    assert serving_graph(ModelFiles(graph), no_export)[0] == graph
