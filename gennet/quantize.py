"""INT8 static quantisation of the FP32 graph (ONNX Runtime), admitted by an accuracy gate.

What ``gennet export --precision int8`` runs: ONNX Runtime's ``quantize_static`` in QDQ format,
INT8 weights per output channel and UINT8 activations, whose ranges are the MinMax over a
calibration set of train crops (a fixed count and seed; decoded and normalised by
``gennet.preprocess``, as serving does). The graph's first ``FP32_CONVS`` convolutions, and every
node before them, stay FP32: quantising them all moved the shipped model's val logits by 0.141 on
average, keeping the first six (the stem and the first two inverted-residual blocks, where the
activations are widest and coarsest in UINT8) by 0.053, at no measurable cost in speed
(``reports/int8_fp32_convs.json``). The INT8 graph is written only if, on the val split at
the checkpoint's threshold, its macro-F1 is within ``MAX_F1_DROP`` of the FP32 graph's and its ROC
AUC within ``MAX_AUC_DROP``. Its metadata keeps the FP32 graph's (the checkpoint's weights digest
included) and adds its precision, calibration set and gate figures
(``gennet.runtimes.onnx_graphs``), so serving checks it as it checks the FP32 graph.

Needs the ``onnx`` package (the ``torch`` extra), like every export.
"""

import hashlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gennet.checkpoint import CheckpointMeta
from gennet.data.manifest import Sample, read_manifest, select
from gennet.errors import GenNetError, InvalidImageError
from gennet.evaluate.metrics import classification_metrics
from gennet.inference import OnnxPredictor, predict_images
from gennet.preprocess import PreprocessSpec, decode_to_array, normalise
from gennet.runtimes.onnx_graphs import (
    CALIBRATION_KEY,
    GATE_KEY,
    META_KEY,
    PRECISION_KEY,
    SHA_KEY,
)

CALIBRATION_SPLIT = "train"
CALIBRATION_COUNT = 256  # crops
CALIBRATION_SEED = 0
CALIBRATION_BATCH = 32
FP32_CONVS = 6
GATE_SPLIT = "val"
MAX_F1_DROP = 0.005
MAX_AUC_DROP = 0.003
METHOD = {
    "format": "QDQ",
    "weights": "int8 per channel",
    "activations": "uint8",
    "ranges": "MinMax",
}


@dataclass(frozen=True)
class CalibrationSet:
    """Which crops calibrated the activation ranges: paths relative to the data folder."""

    split: str
    seed: int
    paths: tuple[str, ...]

    @property
    def sha256(self) -> str:
        """Digest of the crop list (one relative path per line, in the order used)."""
        return hashlib.sha256("\n".join(self.paths).encode()).hexdigest()

    def record(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "count": len(self.paths),
            "seed": self.seed,
            "crops_sha256": self.sha256,
        }


def calibration_set(samples: Sequence[Sample], root: Path, count: int, seed: int) -> CalibrationSet:
    """``count`` crops of the train split drawn without replacement by ``seed``, in manifest order."""
    rows = select(samples, CALIBRATION_SPLIT)
    if count > len(rows):
        raise GenNetError(
            f"{count} calibration crops asked for; {root} has {len(rows)} train crops"
        )
    picked = np.sort(np.random.default_rng(seed).choice(len(rows), size=count, replace=False))
    paths = tuple(rows[i].path.relative_to(root).as_posix() for i in picked)
    return CalibrationSet(CALIBRATION_SPLIT, seed, paths)


def decode(paths: Sequence[Path], spec: PreprocessSpec) -> np.ndarray:
    """uint8 (N, H, W, 3) of every file, by the serving path."""
    images = []
    for path in paths:
        try:
            images.append(decode_to_array(Path(path).read_bytes(), spec))
        except (OSError, InvalidImageError) as exc:
            raise InvalidImageError(f"{path}: {exc}") from None
    return np.stack(images)


def calibration_batches(
    data: Path, calibration: CalibrationSet, spec: PreprocessSpec
) -> Iterator[np.ndarray]:
    """The calibration crops, decoded and normalised as served, in batches of 32."""
    crops = decode([data / path for path in calibration.paths], spec)
    for start in range(0, len(crops), CALIBRATION_BATCH):
        yield normalise(crops[start : start + CALIBRATION_BATCH], spec)


def leading_nodes(graph: Any, convs: int) -> list[str]:
    """Names of the nodes of ``graph`` (an ONNX graph, whose nodes are in topological order) that
    come before its ``convs + 1``-th convolution."""
    total = sum(node.op_type == "Conv" for node in graph.node)
    if convs >= total:
        raise GenNetError(
            f"{convs} FP32 convolutions asked for; the graph has {total}, which would leave "
            "none to quantise"
        )
    names: list[str] = []
    seen = 0
    for node in graph.node:
        seen += node.op_type == "Conv"
        if seen > convs:
            return names
        names.append(node.name)
    return names


def quantize_graph(
    fp32: Path, out: Path, batches: Iterator[np.ndarray], fp32_convs: int = FP32_CONVS
) -> None:
    """Write the INT8 (QDQ) graph of ``fp32`` to ``out``, calibrated on normalised ``batches``,
    with its first ``fp32_convs`` convolutions (and what precedes them) left in FP32."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(batches, None)
            return None if batch is None else {"image": batch}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared))  # what ONNX Runtime asks for before quantising
        kept = leading_nodes(onnx.load(str(prepared)).graph, fp32_convs)
        quantize_static(
            prepared,
            out,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=kept,
        )


@dataclass(frozen=True)
class Gate:
    """Macro-F1 and ROC AUC of the FP32 and INT8 graphs on the same crops, and the tolerances."""

    n: int
    threshold: float
    fp32: dict[str, float]
    int8: dict[str, float]
    max_f1_drop: float = MAX_F1_DROP
    max_auc_drop: float = MAX_AUC_DROP

    @property
    def passed(self) -> bool:
        return (
            self.fp32["macro_f1"] - self.int8["macro_f1"] <= self.max_f1_drop
            and self.fp32["auc"] - self.int8["auc"] <= self.max_auc_drop
        )

    def describe(self) -> str:
        def line(key: str, name: str, limit: float) -> str:
            before, after = self.fp32[key], self.int8[key]
            return (
                f"{name} {before:.4f} -> {after:.4f} (drop {before - after:.4f}, at most {limit:g})"
            )

        return (
            f"{self.n} {GATE_SPLIT} crops at threshold {self.threshold:.2f}: FP32 -> INT8 "
            f"{line('macro_f1', 'macro-F1', self.max_f1_drop)}, "
            f"{line('auc', 'AUC', self.max_auc_drop)}"
        )

    def record(self) -> dict[str, Any]:
        return {"split": GATE_SPLIT, **asdict(self), "passed": self.passed}


def gate_figures(
    graph: Path, images: np.ndarray, targets: np.ndarray, meta: CheckpointMeta
) -> dict[str, float]:
    """Macro-F1 and ROC AUC of ``graph`` on decoded crops at the checkpoint's threshold."""
    probs = predict_images(OnnxPredictor(graph), images, meta.preprocess_spec, batch_size=64)
    metrics = classification_metrics(targets, probs, meta.threshold)
    return {key: float(metrics[key]) for key in ("macro_f1", "auc")}


def strided(rows: Sequence[Sample], limit: int | None) -> list[Sample]:
    """``limit`` rows spread evenly over ``rows`` (all of them without a limit)."""
    if limit is None or limit >= len(rows):
        return list(rows)
    return list(rows[:: len(rows) // limit][:limit])


def write_metadata(
    path: Path, meta: CheckpointMeta, calibration: CalibrationSet, gate: Gate, fp32_convs: int
) -> None:
    """Stamp the INT8 graph with the checkpoint it comes from, its calibration set and gate."""
    import onnx
    import onnxruntime

    graph = onnx.load(str(path))
    props = {p.key: p.value for p in graph.metadata_props}
    props |= {
        SHA_KEY: meta.weights_sha256,
        META_KEY: meta.model_dump_json(),
        PRECISION_KEY: "int8",
        CALIBRATION_KEY: json.dumps(
            {
                **calibration.record(),
                **METHOD,
                "fp32_convs": fp32_convs,
                "onnxruntime": onnxruntime.__version__,
            }
        ),
        GATE_KEY: json.dumps(gate.record()),
    }
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, str(path))


def export_int8(
    fp32: Path,
    out: Path,
    data: Path,
    meta: CheckpointMeta,
    count: int = CALIBRATION_COUNT,
    seed: int = CALIBRATION_SEED,
    gate_crops: int | None = None,
    max_f1_drop: float = MAX_F1_DROP,
    max_auc_drop: float = MAX_AUC_DROP,
    fp32_convs: int = FP32_CONVS,
) -> Gate:
    """Quantise ``fp32`` (the FP32 graph of ``meta``'s weights) and write it to ``out`` if it
    passes the gate on ``gate_crops`` val crops of ``data`` (all without a limit).

    A graph that fails the gate is not written: a GenNetError gives both graphs' figures.
    """
    samples = read_manifest(data, check_files=False)
    calibration = calibration_set(samples, data, count, seed)
    spec = meta.preprocess_spec
    batches = calibration_batches(data, calibration, spec)
    val = strided(select(samples, GATE_SPLIT), gate_crops)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        staged = Path(tmp) / out.name
        quantize_graph(fp32, staged, batches, fp32_convs)
        images, targets = decode([s.path for s in val], spec), np.array([s.target for s in val])
        gate = Gate(
            len(val),
            meta.threshold,
            gate_figures(fp32, images, targets, meta),
            gate_figures(staged, images, targets, meta),
            max_f1_drop,
            max_auc_drop,
        )
        if not gate.passed:
            raise GenNetError(f"INT8 graph refused, {out} not written: {gate.describe()}")
        write_metadata(staged, meta, calibration, gate, fp32_convs)
        staged.replace(out)  # atomic: a reader never sees half a graph
    return gate
