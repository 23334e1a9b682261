"""How many leading convolutions to keep FP32 in the INT8 graph (``gennet.quantize.FP32_CONVS``).

For each count K of ``--counts``, the shipped checkpoint's FP32 graph is quantised as
``gennet export --precision int8`` does (same calibration crops), with its first K convolutions
left FP32. Fidelity on the whole val split against the FP32 graph: mean |logit difference|, its
mean (a bias towards ``male`` when positive) and the decisions flipped at the checkpoint's
threshold; val macro-F1 and ROC AUC. Speed: model only, one thread, batch 1 and 8, interleaved
short cells as ``precision.py`` times them, as paired ratios to the FP32 graph. Val only: the
count is chosen here, so test must not be looked at (``precision.py`` reports test for the
shipped graph).
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from crops import PETA_ROOT, REPO, load_crops
from precision import interleaved, model_step
from stats import markdown_table, write_json

from gennet import quantize
from gennet.data.cache import decode_samples
from gennet.data.manifest import read_manifest, select
from gennet.evaluate.metrics import classification_metrics
from gennet.inference import OnnxPredictor, predict_images
from gennet.preprocess import preprocess_bytes
from gennet.runtimes.onnx_graphs import default_graph, graph_meta

EPSILON = 1e-6  # probabilities are clipped before the logit, so that 0 and 1 stay finite


def logits(probs: np.ndarray) -> np.ndarray:
    p = np.clip(probs.astype(np.float64), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "model_store" / "gennet.pt")
    parser.add_argument("--data", type=Path, default=PETA_ROOT, help="PETA folder")
    parser.add_argument("--counts", default="0,2,4,6,8,12", help="values of K to try")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved timing rounds")
    parser.add_argument("--cell-s", type=float, default=0.3, help="seconds per timing cell")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    fp32 = default_graph(args.checkpoint, "fp32")
    meta = graph_meta(fp32)
    spec = meta.preprocess_spec
    samples = read_manifest(args.data, check_files=False)
    rows = select(samples, "val")
    images, targets = decode_samples(rows, spec), np.array([r.target for r in rows])
    calibration = quantize.calibration_set(
        samples, args.data, quantize.CALIBRATION_COUNT, quantize.CALIBRATION_SEED
    )
    reference = logits(predict_images(OnnxPredictor(fp32), images, spec, batch_size=64))
    cut = float(logits(np.array([meta.threshold]))[0])
    crops = load_crops(args.data, 8, "test")
    predictors = {"fp32": OnnxPredictor(fp32, threads=1)}
    result: dict = {"checkpoint": meta.weights_sha256, "val": {}, "speed": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for count in (int(k) for k in args.counts.split(",")):
            graph = Path(tmp) / f"k{count}.onnx"
            batches = quantize.calibration_batches(args.data, calibration, spec)
            quantize.quantize_graph(fp32, graph, batches, count)
            probs = predict_images(OnnxPredictor(graph), images, spec, batch_size=64)
            shift = logits(probs) - reference
            metrics = classification_metrics(targets, probs, meta.threshold)
            result["val"][f"K={count}"] = {
                "mean_abs_logit_shift": float(np.abs(shift).mean()),
                "mean_logit_shift": float(shift.mean()),
                "flipped": int(np.sum((reference >= cut) != (reference + shift >= cut))),
                "macro_f1": float(metrics["macro_f1"]),
                "auc": float(metrics["auc"]),
            }
            predictors[f"K={count}"] = OnnxPredictor(graph, threads=1)
        for batch in (1, 8):
            x = np.stack([preprocess_bytes(c, spec) for c in crops[:batch]])
            steps = {name: model_step(p, x) for name, p in predictors.items()}
            result["speed"][f"batch {batch}"] = interleaved(steps, args.rounds, args.cell_s)
    result["method"] = {"n_val": len(rows), "rounds": args.rounds, "cell_s": args.cell_s}

    table = [
        [
            name,
            f"{v['mean_abs_logit_shift']:.3f}",
            f"{v['mean_logit_shift']:+.3f}",
            v["flipped"],
            f"{v['macro_f1']:.4f} / {v['auc']:.4f}",
            *(f"{result['speed'][b][name]['ratio_to_baseline']:.3f}" for b in result["speed"]),
        ]
        for name, v in result["val"].items()
    ]
    header = ["FP32 convs", "val mean |dlogit|", "mean dlogit", "flipped", "val F1 / AUC"]
    print(markdown_table([*header, "time/FP32 b1", "time/FP32 b8"], table))
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
