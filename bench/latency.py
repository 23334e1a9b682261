"""Single crop from encoded bytes to probability, and batch throughput, in process (no HTTP).

Single crop: per real PETA crop, ``preprocess_bytes`` (decode + resize + normalise) and the
model on a batch of one, for ONNX Runtime with 1 and 2 threads and PyTorch eager; p50/p90/p99.
Batch throughput: ONNX Runtime at each batch size, model only and end to end (preprocess every
crop, stack, run): the best end-to-end figure is the raw in-process limit that ``serve.py``
compares the service with. ``--throughput-only`` measures just that (``serve.py`` runs it pinned).
"""

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from crops import PETA_ROOT, REPO, load_crops
from stats import markdown_table, percentiles_ms, verdict

from gennet.checkpoint import load_checkpoint, read_meta
from gennet.inference import OnnxPredictor, Predictor, TorchPredictor
from gennet.preprocess import PreprocessSpec, preprocess_bytes

RESULT = REPO / "bench" / "results" / "latency.json"  # the newest run; history in git
TARGET_P50_MS = 3.0  # issue 2: single crop, bytes -> probability, ONNX Runtime, 2-core CPU
WARMUP = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "model_store" / "gennet.pt")
    parser.add_argument("--onnx", type=Path, default=REPO / "model_store" / "gennet.onnx")
    parser.add_argument("--data", type=Path, default=PETA_ROOT, help="PETA folder")
    parser.add_argument("--crops", type=int, default=1000, help="real crops to time")
    parser.add_argument("--split", default="test", help="split they come from (all: every one)")
    parser.add_argument("--threads", default="1,2", help="ONNX Runtime thread counts")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32")
    parser.add_argument("--min-time", type=float, default=2.0, help="seconds per throughput cell")
    parser.add_argument("--throughput-only", action="store_true", help="skip single-crop timing")
    parser.add_argument("--json", type=Path, default=RESULT, help="where to write the figures")
    return parser.parse_args()


def int_list(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def time_each(fn: Callable[[bytes], object], crops: list[bytes]) -> list[float]:
    """Seconds per call of ``fn`` on every crop, after a warm-up."""
    for data in crops[:WARMUP]:
        fn(data)
    times = []
    for data in crops:
        start = time.perf_counter()
        fn(data)
        times.append(time.perf_counter() - start)
    return times


def predictor_latency(predictor: Predictor, crops: list[bytes], spec: PreprocessSpec) -> dict:
    """Model-only latency on one fixed crop, and bytes -> probability on every crop."""
    x = preprocess_bytes(crops[0], spec)[None]
    return {
        "model only": percentiles_ms(time_each(lambda _d: predictor(x), crops)),
        "bytes -> probability": percentiles_ms(
            time_each(lambda d: predictor(preprocess_bytes(d, spec)[None]), crops)
        ),
    }


def single_crop(predictors: dict[str, Predictor], crops: list[bytes], spec: PreprocessSpec) -> dict:
    """Latency percentiles of preprocessing alone, then per predictor."""
    results = {
        "decode only (bytes -> tensor)": percentiles_ms(
            time_each(lambda d: preprocess_bytes(d, spec), crops)
        )
    }
    for name, predictor in predictors.items():
        for stage, figures in predictor_latency(predictor, crops, spec).items():
            results[f"{name}: {stage}"] = figures
    return results


def rate(fn: Callable[[int], int], min_time: float) -> float:
    """Items per second of ``fn(call_index) -> items`` over at least ``min_time`` seconds."""
    fn(0)
    calls, items, start = 0, 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_time or calls < 3:
        calls += 1
        items += fn(calls)
    return items / elapsed


def throughput(
    predictor: Predictor, crops: list[bytes], spec: PreprocessSpec, batch: int, min_time: float
) -> dict[str, float]:
    """Crops/s at one batch size: model only, and preprocess + stack + model (end to end)."""
    x = np.stack([preprocess_bytes(d, spec) for d in crops[:batch]])
    chunks = [crops[i : i + batch] for i in range(0, len(crops) - batch + 1, batch)]

    def end_to_end(call: int) -> int:
        chunk = chunks[call % len(chunks)]
        predictor(np.stack([preprocess_bytes(d, spec) for d in chunk]))
        return batch

    model = rate(lambda _c: len(predictor(x)), min_time)
    return {"model": model, "end_to_end": rate(end_to_end, min_time)}


def throughput_table(
    onnx: Path,
    threads: list[int],
    batches: list[int],
    crops: list[bytes],
    spec: PreprocessSpec,
    min_time: float,
) -> dict:
    """Per thread count and batch size, crops/s; plus the best end-to-end cell (the raw limit)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for n in threads:
        predictor = OnnxPredictor(onnx, threads=n)
        table[str(n)] = {str(b): throughput(predictor, crops, spec, b, min_time) for b in batches}
    best = max(
        (
            {"threads": int(n), "batch": int(b), "crops_per_s": cell["end_to_end"]}
            for n, cells in table.items()
            for b, cell in cells.items()
        ),
        key=lambda row: row["crops_per_s"],
    )
    return {"cells": table, "raw_limit": best}


def print_single(results: dict) -> None:
    rows = [[name, r["p50"], r["p90"], r["p99"], r["mean"]] for name, r in results.items()]
    print(markdown_table(["single crop (ms)", "p50", "p90", "p99", "mean"], rows))
    onnx_e2e = [
        r["p50"] for name, r in results.items() if name.startswith("onnx") and "bytes" in name
    ]
    best = min(onnx_e2e)
    print(
        f"\nONNX bytes -> probability p50 {best:.2f} ms < {TARGET_P50_MS} ms: {verdict(best < TARGET_P50_MS)}"
    )


def print_throughput(results: dict) -> None:
    cells = results["cells"]
    header = ["batch"] + [f"{kind} {n} thr (crops/s)" for n in cells for kind in ("model", "e2e")]
    batches = next(iter(cells.values())).keys()
    rows = [
        [b] + [c[b][k] for c in cells.values() for k in ("model", "end_to_end")] for b in batches
    ]
    print("\n" + markdown_table(header, rows))
    best = results["raw_limit"]
    print(
        f"\nraw in-process limit: {best['crops_per_s']:.1f} crops/s "
        f"(batch {best['batch']}, {best['threads']} thread(s))"
    )


def main() -> None:
    args = parse_args()
    meta, _ = read_meta(args.checkpoint)
    spec = meta.preprocess_spec
    crops = load_crops(args.data, args.crops, args.split)
    if len(crops) < max(int_list(args.batch_sizes)):
        raise SystemExit("latency.py: --crops must be at least the largest batch size")
    results: dict = {
        "checkpoint": str(args.checkpoint),
        "onnx": str(args.onnx),
        "crops": len(crops),
    }
    if not args.throughput_only:
        model, _ = load_checkpoint(args.checkpoint)
        predictors: dict[str, Predictor] = {
            f"onnx {n} thread(s)": OnnxPredictor(args.onnx, threads=n)
            for n in int_list(args.threads)
        }
        predictors[f"torch {torch.get_num_threads()} thread(s)"] = TorchPredictor(model)
        results["single"] = single_crop(predictors, crops, spec)
        print_single(results["single"])
    results["throughput"] = throughput_table(
        args.onnx, int_list(args.threads), int_list(args.batch_sizes), crops, spec, args.min_time
    )
    print_throughput(results["throughput"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
