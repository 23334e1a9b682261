"""GENNET_PRECISION: validated against the runtime's declared precisions, threaded to the graph the
runtime serves, and exposed on the ``Runtime`` the service holds."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.runtime import build_runtime
from app.settings import Settings
from gennet.errors import CheckpointError
from gennet.runtimes.onnx_graphs import PRECISION_KEY, SHA_KEY
from tests.support.graphs import relabel


def settings(checkpoint: Path, **values: str) -> Settings:
    return Settings(model_path=checkpoint, threads=1, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"precision": "fp16"}, "unknown precision 'fp16' (known: fp32, int8)"),
        ({"runtime": "torch", "precision": "int8"}, "runtime 'torch' serves fp32 only, not int8"),
    ],
)
def test_a_precision_no_runtime_serves_is_a_settings_error(
    values: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(**values)  # type: ignore[arg-type]
    assert info.value.errors()[0]["loc"] == ("precision",)
    assert message in str(info.value)


def test_missing_int8_graph_stops_startup_naming_its_command(checkpoint: Path) -> None:
    with pytest.raises(CheckpointError) as info:
        build_runtime(settings(checkpoint, precision="int8", device="cpu"))
    assert "gennet export --precision int8" in str(info.value) and "\n" not in str(info.value)


def test_the_runtime_serves_and_reports_the_precision_asked_for(checkpoint: Path) -> None:
    # an INT8 label is all that serving checks
    relabel(
        checkpoint.with_suffix(".onnx"),
        checkpoint.with_suffix(".int8.onnx"),
        **{PRECISION_KEY: "int8"},
    )
    runtime = build_runtime(settings(checkpoint, precision="int8", runtime="onnx"))
    assert (runtime.kind, runtime.device, runtime.precision) == ("onnx", "cpu", "int8")
    assert build_runtime(settings(checkpoint, precision="fp32", runtime="onnx")).precision == "fp32"
    # auto (the default): the INT8 graph, fresh beside the checkpoint, is served
    assert build_runtime(settings(checkpoint, runtime="onnx")).precision == "int8"


def test_auto_precision_serves_fp32_without_a_fresh_int8_graph(checkpoint: Path) -> None:
    assert build_runtime(settings(checkpoint, runtime="onnx")).precision == "fp32"  # none beside
    stale = {PRECISION_KEY: "int8", SHA_KEY: "0" * 64}
    relabel(checkpoint.with_suffix(".onnx"), checkpoint.with_suffix(".int8.onnx"), **stale)
    assert build_runtime(settings(checkpoint, runtime="onnx")).precision == "fp32"  # stale
