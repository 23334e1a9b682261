"""``gennet export``: ONNX export of a checkpoint, checked against PyTorch on a few inputs."""

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from gennet.checkpoint import CheckpointMeta, default_checkpoint_path, load_checkpoint
from gennet.commands.common import decode_files, os_reason
from gennet.errors import GenNetError
from gennet.export import export_onnx
from gennet.inference import OnnxPredictor, TorchPredictor
from gennet.preprocess import normalise

CHECK_ROWS = 8
TOLERANCE = 1e-4


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("export", help="export a checkpoint to ONNX")
    parser.add_argument(
        "--onnx", type=Path, required=True, metavar="OUT", help="ONNX file to write"
    )
    parser.add_argument("--checkpoint", type=Path, help="default: GENNET_MODEL_PATH or model_store")
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help="a manifest folder whose crops the PyTorch-vs-ONNX self-check uses "
        "(default: random images)",
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


def run(args: argparse.Namespace) -> int:
    checkpoint = args.checkpoint or default_checkpoint_path()
    try:
        meta = export_onnx(checkpoint, args.onnx)
    except OSError as exc:
        raise GenNetError(f"{args.onnx}: cannot write ({os_reason(exc)})") from None
    print(f"wrote {args.onnx} ({meta.arch}, weights sha256 {meta.weights_sha256[:12]}...)")
    difference, described = max_difference(checkpoint, args.onnx, args.data)
    verdict = "ok" if difference < TOLERANCE else f"FAILED (tolerance {TOLERANCE:g})"
    print(f"self-check: max |P(male) ONNX - PyTorch| = {difference:.2e} on {described}: {verdict}")
    return 0 if difference < TOLERANCE else 1
