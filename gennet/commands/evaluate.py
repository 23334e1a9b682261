"""``gennet evaluate``: metrics of a checkpoint on a manifest folder, overall and per source.

Images go through the serving path (:mod:`gennet.preprocess`) without the training cache, and the
decision threshold is the checkpoint's own, so the figures are what the service would score
(the CLI decodes images of up to 16 MP; the service refuses those over ``GENNET_MAX_IMAGE_PIXELS``).
"""

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gennet.checkpoint import CheckpointMeta, default_checkpoint_path
from gennet.commands.common import decode_files, make_dir, positive_int, to_json, write_text
from gennet.data.manifest import Sample, read_manifest, select
from gennet.evaluate.report import evaluation_report
from gennet.evaluate.text_report import format_report
from gennet.inference import Predictor, predict_images
from gennet.runtimes import ModelFiles, get_backend


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate a checkpoint on a manifest folder")
    parser.add_argument("--data", type=Path, required=True, help="data folder with manifest.csv")
    parser.add_argument("--split", required=True, help="split to evaluate (`all`: every row)")
    parser.add_argument("--checkpoint", type=Path, help="default: GENNET_MODEL_PATH or model_store")
    parser.add_argument("--tta", action="store_true", help="horizontal-flip TTA (and its effect)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the metrics as JSON")
    parser.add_argument("--report", type=Path, metavar="OUT.txt", help="write the text report")
    parser.add_argument("--plots", type=Path, metavar="DIR", help="write PNG plots here")
    parser.add_argument(
        "--batch-size", type=positive_int, default=64, help="crops per forward pass"
    )
    parser.set_defaults(handler=run)


class Scoring(NamedTuple):
    """A checkpoint and the decoded crops of a manifest's split, ready to score."""

    checkpoint: Path
    meta: CheckpointMeta
    predictor: Predictor
    samples: list[Sample]
    images: np.ndarray


def load_predictor(
    checkpoint: Path | None, runtime: str = "torch"
) -> tuple[Path, CheckpointMeta, Predictor]:
    """The checkpoint (default: GENNET_MODEL_PATH or model_store) as a CPU predictor.

    Loaded by the runtime as the service loads it (:mod:`gennet.runtimes`): ``torch`` runs the
    checkpoint itself, ``onnx`` its FP32 graph (re-exported when stale), without torch.
    """
    checkpoint = checkpoint or default_checkpoint_path()
    loaded = get_backend(runtime).load(ModelFiles(checkpoint), "cpu", threads=0)
    return checkpoint, loaded.meta, loaded.predictor


def load_scoring(
    data: Path,
    split: str,
    checkpoint: Path | None,
    only_sources: Sequence[str] = (),
    runtime: str = "torch",
) -> Scoring:
    """The predictor and the split's crops decoded by the serving path; shared by ``evaluate``
    and ``calibrate``."""
    checkpoint, meta, predictor = load_predictor(checkpoint, runtime)
    samples = select(read_manifest(data), split, only_sources=only_sources)
    images = decode_files([s.path for s in samples], meta.preprocess_spec)
    return Scoring(checkpoint, meta, predictor, samples, images)


def tta_effect(without: dict[str, Any], with_tta: dict[str, Any]) -> dict[str, Any]:
    """Change (with minus without TTA) of the headline figures, overall and per source."""
    keys = ("accuracy", "macro_f1", "auc")
    return {
        **{k: with_tta[k] - without[k] for k in keys},
        "per_source": {
            source: {k: metrics[k] - without["per_source"][source][k] for k in keys}
            for source, metrics in with_tta["per_source"].items()
        },
    }


def evaluate(
    samples: list[Sample],
    images: np.ndarray,
    predictor: Predictor,
    meta: CheckpointMeta,
    tta: bool,
    batch_size: int,
) -> tuple[dict[str, Any], np.ndarray]:
    """The report of the requested run (with a ``tta`` section when ``tta``) and its probabilities."""
    spec = meta.preprocess_spec
    probs = predict_images(predictor, images, spec, tta=tta, batch_size=batch_size)
    report = evaluation_report(samples, probs, meta.threshold)
    if tta:
        plain = predict_images(predictor, images, spec, tta=False, batch_size=batch_size)
        without = evaluation_report(samples, plain, meta.threshold)
        report["tta"] = {"without": without, "effect": tta_effect(without, report)}
    return report, probs


def run(args: argparse.Namespace) -> int:
    checkpoint, meta, predictor, samples, images = load_scoring(
        args.data, args.split, args.checkpoint
    )
    report, probs = evaluate(samples, images, predictor, meta, args.tta, args.batch_size)
    report["run"] = {
        "checkpoint": str(checkpoint),
        "arch": meta.arch,
        "weights_sha256": meta.weights_sha256,
        "data": str(args.data),
        "split": args.split,
        "tta": args.tta,
    }
    text = format_report(report)
    print(text, end="")
    if args.json is not None:
        write_text(args.json, to_json(report) + "\n")
        print(f"wrote {args.json}")
    if args.report is not None:
        write_text(args.report, text)
        print(f"wrote {args.report}")
    if args.plots is not None:
        from gennet.evaluate.plots import write_plots

        targets = np.array([s.target for s in samples])
        for path in write_plots(make_dir(args.plots), report, targets, probs):
            print(f"wrote {path}")
    return 0
