"""``gennet export``: a checkpoint's ONNX graph, FP32 (checked against PyTorch on a few inputs) or
INT8 (quantised from the FP32 graph and written only if it passes the accuracy gate on val)."""

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from gennet import quantize
from gennet.checkpoint import CheckpointMeta, default_checkpoint_path, load_checkpoint, read_meta
from gennet.commands.common import decode_files, non_negative_int, os_reason, positive_int
from gennet.errors import GenNetError
from gennet.export import export_onnx
from gennet.inference import OnnxPredictor, TorchPredictor
from gennet.preprocess import normalise
from gennet.runtimes import DEFAULT_PRECISION, get_backend
from gennet.runtimes.base import DEFAULT_ONNX_CACHE_DIR
from gennet.runtimes.onnx_graphs import default_graph, fresh_graph

CHECK_ROWS = 8
TOLERANCE = 1e-4


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("export", help="export a checkpoint to ONNX (FP32 or INT8)")
    parser.add_argument(
        "--precision",
        choices=get_backend("onnx").precisions,
        default=DEFAULT_PRECISION,
        help="fp32: the checkpoint's graph; int8: ONNX Runtime static quantisation of it, "
        "calibrated on --data's train split and refused unless it passes the accuracy gate on "
        f"its val split (macro-F1 at most {quantize.MAX_F1_DROP:g} and ROC AUC at most "
        f"{quantize.MAX_AUC_DROP:g} below FP32)",
    )
    parser.add_argument(
        "--onnx",
        type=Path,
        metavar="OUT",
        help="ONNX file to write (default: the one serving looks for, beside the checkpoint: "
        "gennet.onnx, gennet.int8.onnx)",
    )
    parser.add_argument("--checkpoint", type=Path, help="default: GENNET_MODEL_PATH or model_store")
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="a manifest folder: fp32, the crops of the PyTorch-vs-ONNX self-check (default: "
        "random images); int8 (required), the calibration crops and the accuracy gate",
    )
    parser.add_argument(
        "--calibration-crops",
        type=positive_int,
        default=quantize.CALIBRATION_COUNT,
        metavar="N",
        help="int8: train crops that calibrate the activation ranges",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=quantize.CALIBRATION_SEED,
        help="int8: draws the calibration crops",
    )
    parser.add_argument(
        "--fp32-convs",
        type=non_negative_int,
        default=quantize.FP32_CONVS,
        metavar="N",
        help="int8: the graph's first N convolutions (and the nodes before them) stay FP32",
    )
    parser.set_defaults(handler=run)


def check_inputs(meta: CheckpointMeta, data: Path | None) -> tuple[np.ndarray, str]:
    """A normalised batch for the self-check: real crops from ``data`` when given, else noise."""
    spec = meta.preprocess_spec
    if data is not None:
        from gennet.data.manifest import read_manifest

        samples = read_manifest(data, check_files=False)
        step = max(len(samples) // CHECK_ROWS, 1)
        paths = [s.path for s in samples[::step][:CHECK_ROWS]]
        return normalise(decode_files(paths, spec), spec), f"{len(paths)} real crops from {data}"
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(CHECK_ROWS, *spec.input_size, 3), dtype=np.uint8)
    return normalise(noise, spec), f"{CHECK_ROWS} random images"


def max_difference(checkpoint: Path, onnx_path: Path, data: Path | None) -> tuple[float, str]:
    """Max |P_onnx - P_torch| over the self-check inputs, and what the inputs were."""
    model, meta = load_checkpoint(checkpoint)
    batch, described = check_inputs(meta, data)
    torch_probs = TorchPredictor(model, "cpu")(batch)
    onnx_probs = OnnxPredictor(onnx_path, threads=1)(batch)
    return float(np.max(np.abs(torch_probs - onnx_probs))), described


def write_fp32(checkpoint: Path, out: Path, data: Path | None) -> int:
    meta = export_onnx(checkpoint, out)
    print(f"wrote {out} ({meta.arch}, weights sha256 {meta.weights_sha256[:12]}...)")
    difference, described = max_difference(checkpoint, out, data)
    verdict = "ok" if difference < TOLERANCE else f"FAILED (tolerance {TOLERANCE:g})"
    print(f"self-check: max |P(male) ONNX - PyTorch| = {difference:.2e} on {described}: {verdict}")
    return 0 if difference < TOLERANCE else 1


def write_int8(checkpoint: Path, out: Path, args: argparse.Namespace) -> int:
    """Quantise the checkpoint's fresh FP32 graph (the one serving uses, re-exported if stale)."""
    if args.data is None:
        raise GenNetError(
            "--precision int8 needs --data DIR: the calibration crops come from its train split "
            "and the accuracy gate runs on its val split"
        )
    meta, _ = read_meta(
        checkpoint
    )  # the digest the INT8 graph records, checked against the weights
    fp32 = fresh_graph(
        checkpoint,
        meta,
        default_graph(checkpoint, DEFAULT_PRECISION),
        DEFAULT_ONNX_CACHE_DIR,
        export_onnx,
    )
    print(
        f"quantising {fp32} on {args.calibration_crops} {quantize.CALIBRATION_SPLIT} crops of "
        f"{args.data} (seed {args.seed}), first {args.fp32_convs} convolutions kept FP32, gate "
        f"on its {quantize.GATE_SPLIT} split"
    )
    gate = quantize.export_int8(
        fp32,
        out,
        args.data,
        meta,
        args.calibration_crops,
        args.seed,
        fp32_convs=args.fp32_convs,
    )
    print(f"accuracy gate: {gate.describe()}: passed")
    size = out.stat().st_size / 1e6
    print(f"wrote {out} (int8, weights sha256 {meta.weights_sha256[:12]}..., {size:.1f} MB)")
    return 0


def run(args: argparse.Namespace) -> int:
    checkpoint = args.checkpoint or default_checkpoint_path()
    out = args.onnx or default_graph(checkpoint, args.precision)
    try:
        if args.precision == "int8":
            return write_int8(checkpoint, out, args)
        return write_fp32(checkpoint, out, args.data)
    except OSError as exc:
        raise GenNetError(f"{out}: cannot write ({os_reason(exc)})") from None
