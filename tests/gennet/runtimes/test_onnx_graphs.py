"""Which graph serves a checkpoint at each precision (gennet.runtimes.onnx_graphs), and the
checkpoint metadata a graph carries.

The INT8 graphs here are the FP32 test graph with an INT8 label: the freshness rules read the
metadata only (a real quantised graph: tests/gennet/test_quantize.py).
"""

import shutil
from pathlib import Path

import onnx
import pytest

from gennet.checkpoint import read_meta
from gennet.errors import CheckpointError
from gennet.runtimes import ModelFiles
from gennet.runtimes.onnx_graphs import (
    META_KEY,
    PRECISION_KEY,
    SHA_KEY,
    default_graph,
    fresh_graph,
    graph_meta,
    graph_problem,
    serving_graph,
)
from tests.support.graphs import no_export, relabel


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


def test_graph_carries_the_checkpoint_meta(checkpoint_path: Path, onnx_path: Path) -> None:
    meta, _ = read_meta(checkpoint_path)
    assert graph_meta(onnx_path) == meta
    graph, served = serving_graph(ModelFiles(checkpoint_path), no_export)
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
