"""``gennet calibrate``: fit a decision threshold per camera (or source) and write the JSON file.

``--data`` is a labelled manifest folder (grouped by its ``camera`` column, else ``source``) or,
with ``--male-share``, also a folder of unlabelled crops with one sub-folder per camera. The crops
are scored exactly as ``gennet evaluate`` scores them (the serving path, no TTA); the service then
applies the file's thresholds with ``?camera=`` (see :mod:`gennet.calibration`).
"""

import argparse
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gennet.calibration import Calibration
from gennet.checkpoint import CheckpointMeta
from gennet.commands.common import decode_files, positive_int, write_text
from gennet.commands.evaluate import load_predictor, load_scoring
from gennet.errors import ManifestError
from gennet.evaluate.calibration_fit import fit_calibration, group_key, rows_by_group
from gennet.evaluate.metrics import classification_metrics
from gennet.inference import predict_images
from gennet.runtimes import BACKENDS

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})


def share(text: str) -> float:
    """argparse type: a male share within [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not within [0, 1]")
    return value


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate", help="fit a decision threshold per camera and write a calibration file"
    )
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="folder with manifest.csv; with --male-share also DIR/<camera>/<crops> (no labels)",
    )
    parser.add_argument("--split", default="all", help="split to fit on (default: every row)")
    parser.add_argument(
        "--by",
        choices=("camera", "source"),
        default="camera",
        help="group by the camera column (falling back to source where empty), or by source",
    )
    parser.add_argument("--checkpoint", type=Path, help="default: GENNET_MODEL_PATH or model_store")
    parser.add_argument(
        "--male-share",
        type=share,
        metavar="S",
        help="no labels: put each group's threshold where a share S of its crops is male",
    )
    parser.add_argument(
        "--min-per-label",
        type=positive_int,
        default=10,
        help="fewer crops of either label keep the default threshold (by share: 2x this in all)",
    )
    parser.add_argument(
        "--runtime",
        choices=tuple(BACKENDS),
        default="onnx",
        help="score with the CPU service's ONNX graph (no torch needed), or the checkpoint in torch",
    )
    parser.add_argument("--batch-size", type=positive_int, default=64, help="crops per pass")
    parser.add_argument("--out", type=Path, required=True, help="calibration JSON to write")
    parser.set_defaults(handler=run)


class Scored(NamedTuple):
    """Every crop's group and P(male), and its label when the data has labels."""

    checkpoint: Path
    meta: CheckpointMeta
    groups: np.ndarray
    probs: np.ndarray
    targets: np.ndarray | None


def score_manifest(args: argparse.Namespace) -> Scored:
    checkpoint, meta, predictor, samples, images = load_scoring(
        args.data, args.split, args.checkpoint, runtime=args.runtime
    )
    groups = np.array([group_key(s, args.by) for s in samples])
    unnamed = int(np.sum(groups == ""))
    if unnamed:
        what = "a camera or a source" if args.by == "camera" else "a source"
        raise ManifestError(f"{unnamed} row(s) have neither {what} to group by")
    probs = predict_images(predictor, images, meta.preprocess_spec, batch_size=args.batch_size)
    return Scored(checkpoint, meta, groups, probs, np.array([s.target for s in samples]))


def list_crops(root: Path) -> tuple[list[Path], list[str]]:
    """Image files below ``root/<camera>/`` and their camera (the sub-folder's name)."""
    if not root.is_dir():
        raise ManifestError(f"{root}: not a folder")
    paths, groups = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(path)
                groups.append(folder.name)
    if not paths:
        raise ManifestError(
            f"{root}: no manifest.csv and no crops in camera sub-folders (DIR/<camera>/*.jpg)"
        )
    return paths, groups


def score_folders(args: argparse.Namespace) -> Scored:
    checkpoint, meta, predictor = load_predictor(args.checkpoint, args.runtime)
    paths, groups = list_crops(args.data)
    images = decode_files(paths, meta.preprocess_spec)
    probs = predict_images(predictor, images, meta.preprocess_spec, batch_size=args.batch_size)
    return Scored(checkpoint, meta, np.array(groups), probs, None)


def _f1(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def format_table(calibration: Calibration, pooled: tuple[float, float] | None) -> str:
    """One line per group (threshold, counts, macro-F1 before and after) and the pooled figures."""
    width = max([5, *(len(name) for name in calibration.groups)]) + 2
    lines = [
        f"{'group':<{width}}{'n':>6}{'male':>6}{'female':>7}{'threshold':>11}"
        f"{'F1 before':>11}{'F1 after':>10}  note"
    ]
    for name, group in calibration.groups.items():
        lines.append(
            f"{name:<{width}}{group.n or 0:>6}{group.n_male:>6}{group.n_female:>7}"
            f"{group.threshold:>11.4f}{_f1(group.macro_f1_before):>11}"
            f"{_f1(group.macro_f1_after):>10}  {group.note or ''}".rstrip()
        )
    if pooled is not None:
        lines.append(
            f"pooled macro-F1: {pooled[0]:.4f} at the default threshold "
            f"{calibration.default_threshold:.4f}, {pooled[1]:.4f} with these thresholds"
        )
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    unlabelled = args.male_share is not None and not (args.data / "manifest.csv").is_file()
    checkpoint, meta, keys, probs, targets = (score_folders if unlabelled else score_manifest)(args)
    groups = rows_by_group(keys)
    # By share, the threshold never sees a label: labels only feed the before/after figures.
    calibration = fit_calibration(
        {
            name: (probs[rows], None if targets is None else targets[rows])
            for name, rows in groups.items()
        },
        weights_sha256=meta.weights_sha256,
        default_threshold=meta.threshold,
        by="camera" if unlabelled else args.by,
        male_share=args.male_share,
        min_per_label=args.min_per_label,
    )
    pooled = None
    if targets is not None and 0 < targets.sum() < len(targets):
        per_crop = np.empty(len(probs))
        for name, rows in groups.items():
            per_crop[rows] = calibration.threshold_for(name)
        pooled = (
            classification_metrics(targets, probs, meta.threshold)["macro_f1"],
            classification_metrics(targets, probs, per_crop)["macro_f1"],
        )
    what = "camera folders" if unlabelled else f"split {args.split}, by {args.by}"
    print(f"calibration of {checkpoint} on {args.data} ({what})")
    print(format_table(calibration, pooled), end="")
    write_text(args.out, calibration.to_json())
    print(f"wrote {args.out}")
    return 0
