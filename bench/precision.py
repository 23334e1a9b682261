"""FP32 against INT8, side by side: time per crop and accuracy, for each graph runtime.

Time (one thread): model only, per crop at batch 1 and 8, for every (runtime, precision) pair of
``--runtimes`` on a fixed batch of real crops; end to end at batch 1 (encoded bytes -> decode +
preprocess + model -> probability, cycling through real test crops), FP32 against INT8 in ONNX
Runtime. Each predictor is loaded as the service loads it (``gennet.runtimes``, ``GENNET_THREADS=1``).
The cells are short and interleaved: every round runs each variant once, in an order rotated from
round to round, so the machine's drift hits every variant alike; a round's time of a variant over
that round's time of the baseline (ONNX Runtime FP32) is a paired ratio, and each figure is the
median over the rounds. (``reports/precision.json``'s OpenVINO figures: this script at 35eabdf,
when OpenVINO was a backend.)

Accuracy: PETA val and test, each (runtime, precision), without and with flip TTA
(``gennet.inference``'s flip layout, as ``gennet evaluate --tta``), at the checkpoint's threshold;
then INT8 graphs quantised from other calibration draws (``--draws``), to show how much of the
shipped graph's figures is its draw.
"""

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from crops import PETA_ROOT, REPO, load_crops
from stats import markdown_table, write_json

from gennet import quantize
from gennet.checkpoint import CheckpointMeta
from gennet.data.cache import decode_samples
from gennet.data.manifest import read_manifest, select
from gennet.evaluate.report import evaluation_report
from gennet.inference import OnnxPredictor, Predictor, predict_images
from gennet.preprocess import PreprocessSpec, preprocess_bytes
from gennet.runtimes import ModelFiles, get_backend
from gennet.runtimes.onnx_graphs import default_graph, graph_meta

BASELINE = ("onnx", "fp32")
PRECISIONS = ("fp32", "int8")
SPLITS = ("val", "test")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "model_store" / "gennet.pt")
    parser.add_argument("--data", type=Path, default=PETA_ROOT, help="PETA folder")
    parser.add_argument("--runtimes", default="onnx", help="graph runtimes to time")
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--cell-s", type=float, default=0.3, help="seconds per cell")
    parser.add_argument("--crops", type=int, default=200, help="test crops of the end-to-end cells")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument(
        "--draws",
        default="256/1,256/2,256/3,256/4,128/0,512/0,1024/0",
        help="other calibration draws COUNT/SEED to score ('': none)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args()


def load(
    checkpoint: Path, runtime: str, precision: str, threads: int
) -> tuple[Predictor, CheckpointMeta]:
    loaded = get_backend(runtime).load(ModelFiles(checkpoint, precision=precision), "cpu", threads)
    return loaded.predictor, loaded.meta


def cell(step: Callable[[int], int], seconds: float) -> float:
    """Seconds per crop of ``step(call) -> crops`` over at least ``seconds`` (3 calls or more)."""
    calls, crops, start = 0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
        crops += step(calls)
        calls += 1
    return elapsed / crops


def interleaved(steps: dict[str, Callable[[int], int]], rounds: int, seconds: float) -> dict:
    """Each variant's ms per crop (median over rounds) and median paired ratio to the first."""
    names = list(steps)
    for step in steps.values():  # warm-up: first calls compile and allocate
        cell(step, seconds / 3)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(cell(steps[name], seconds))
    base = np.array(times[names[0]])
    return {
        name: {
            "ms_per_crop": float(np.median(t)) * 1000,
            "ratio_to_baseline": float(np.median(np.array(t) / base)),
            "ratio_iqr": [float(q) for q in np.percentile(np.array(t) / base, [25, 75])],
        }
        for name, t in times.items()
    }


def model_step(predictor: Predictor, x: np.ndarray) -> Callable[[int], int]:
    """One call on the fixed batch ``x``."""
    return lambda _call: len(predictor(x))


def bytes_step(
    predictor: Predictor, crops: list[bytes], spec: PreprocessSpec
) -> Callable[[int], int]:
    """Decode, preprocess and score the call's crop alone (batch 1), cycling through ``crops``."""
    return lambda call: len(predictor(preprocess_bytes(crops[call % len(crops)], spec)[None]))


def model_only(args: argparse.Namespace, crops: list[bytes]) -> dict:
    """Per batch size, every (runtime, precision) pair; the baseline first."""
    pairs = [(r, p) for r in args.runtimes.split(",") for p in PRECISIONS]
    pairs.sort(key=lambda pair: pair != BASELINE)
    predictors = {f"{r} {p}": load(args.checkpoint, r, p, threads=1) for r, p in pairs}
    spec = next(iter(predictors.values()))[1].preprocess_spec
    results = {}
    for batch in (1, 8):
        x = np.stack([preprocess_bytes(c, spec) for c in crops[:batch]])
        steps = {name: model_step(predictor, x) for name, (predictor, _) in predictors.items()}
        results[f"batch {batch}"] = interleaved(steps, args.rounds, args.cell_s)
    return results


def end_to_end(args: argparse.Namespace, crops: list[bytes]) -> dict:
    """Bytes -> probability at batch 1, FP32 against INT8 (ONNX Runtime), cycling the crops."""
    steps = {}
    for precision in PRECISIONS:
        predictor, meta = load(args.checkpoint, "onnx", precision, threads=1)
        steps[f"onnx {precision}"] = bytes_step(predictor, crops, meta.preprocess_spec)
    return interleaved(steps, args.rounds, args.cell_s)


def scores(predictor: Predictor, meta: CheckpointMeta, splits: dict) -> dict:
    """Per split, without and with flip TTA: the headline figures and per-source macro-F1."""
    spec, results = meta.preprocess_spec, {}
    for split, (rows, images) in splits.items():
        for tta in (False, True):
            probs = predict_images(predictor, images, spec, tta=tta, batch_size=64)
            report = evaluation_report(rows, probs, meta.threshold)
            results[f"{split}{' tta' if tta else ''}"] = {
                **{k: report[k] for k in ("n", "accuracy", "macro_f1", "auc")},
                "recall": report["recall"],
                "per_source_macro_f1": {s: m["macro_f1"] for s, m in report["per_source"].items()},
            }
    return results


def accuracy(args: argparse.Namespace, splits: dict) -> dict:
    """``scores`` of every (runtime, precision) pair, the graphs as served."""
    results = {}
    for runtime in args.runtimes.split(","):
        for precision in PRECISIONS:
            predictor, meta = load(args.checkpoint, runtime, precision, threads=0)
            results[f"{runtime} {precision}"] = scores(predictor, meta, splits)
    return results


def calibration_draws(args: argparse.Namespace, splits: dict, draws: list[str]) -> dict:
    """``scores`` of INT8 graphs quantised from other calibration draws (``COUNT/SEED``), ONNX
    Runtime: how much the shipped draw's figures owe to its crops. Not gated, not written."""
    samples = read_manifest(args.data, check_files=False)
    fp32 = default_graph(args.checkpoint, "fp32")
    meta = graph_meta(fp32)
    spec, results = meta.preprocess_spec, {}
    for draw in draws:
        count, seed = (int(part) for part in draw.split("/"))
        chosen = quantize.calibration_set(samples, args.data, count, seed)
        with tempfile.TemporaryDirectory() as tmp:
            graph = Path(tmp) / "int8.onnx"
            quantize.quantize_graph(
                fp32, graph, quantize.calibration_batches(args.data, chosen, spec)
            )
            results[draw] = scores(OnnxPredictor(graph), meta, splits)
    return results


def decoded_splits(args: argparse.Namespace) -> dict:
    samples = read_manifest(args.data, check_files=False)
    spec = graph_meta(default_graph(args.checkpoint, "fp32")).preprocess_spec
    return {
        split: (rows, decode_samples(rows, spec))
        for split in SPLITS
        for rows in [select(samples, split)]
    }


def print_timing(title: str, cells: dict) -> None:
    rows = [[name, c["ms_per_crop"], f"{c['ratio_to_baseline']:.3f}"] for name, c in cells.items()]
    print(f"\n{title}\n" + markdown_table(["variant", "ms/crop (median)", "paired ratio"], rows))


def print_accuracy(title: str, results: dict) -> None:
    columns = list(next(iter(results.values())))
    rows = [
        [name, *(f"{v[c]['macro_f1']:.4f} / {v[c]['auc']:.4f}" for c in columns)]
        for name, v in results.items()
    ]
    print(f"\n{title} (macro-F1 / ROC AUC)\n" + markdown_table(["variant", *columns], rows))


def installed_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def environment(args: argparse.Namespace) -> dict:
    """Where and with what the figures were taken, and the graphs' sizes."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": f"{names[0].partition(':')[2].strip() if names else platform.machine()}, "
        f"{os.cpu_count()} logical cores",
        "versions": {name: installed_version(name) for name in ("onnxruntime", "numpy", "pillow")},
        "checkpoint": str(args.checkpoint.resolve().relative_to(REPO.resolve())),
        "graph_mb": {
            precision: default_graph(args.checkpoint, precision).stat().st_size / 1e6
            for precision in PRECISIONS
        },
        "method": {"rounds": args.rounds, "cell_s": args.cell_s, "threads": 1},
    }


def main() -> None:
    args = parse_args()
    test_crops = load_crops(args.data, args.crops, "test")
    result = environment(args)
    result["model_only"] = model_only(args, test_crops)
    for batch, cells in result["model_only"].items():
        print_timing(f"model only, {batch}", cells)
    result["end_to_end_batch_1"] = end_to_end(args, test_crops)
    print_timing("bytes -> probability, batch 1", result["end_to_end_batch_1"])
    if not args.skip_accuracy:
        splits = decoded_splits(args)
        result["accuracy"] = accuracy(args, splits)
        print_accuracy("PETA, as served", result["accuracy"])
        if args.draws:
            draws = calibration_draws(args, splits, args.draws.split(","))
            result["calibration_draws"] = draws
            print_accuracy("PETA, INT8 from other calibration draws (count/seed)", draws)
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()
