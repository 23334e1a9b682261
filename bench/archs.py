"""The four architectures side by side on this CPU: parameters, GFLOPs at 256x128 and the
latency of one crop (model only, batch of one) in ONNX Runtime (1 and 2 threads) and PyTorch eager.

Weights are random: latency does not depend on them. Each architecture is exported to a
temporary ONNX file first (about 15 s each).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from stats import markdown_table, percentiles_ms

from gennet.checkpoint import CheckpointMeta, save_checkpoint
from gennet.export import export_onnx
from gennet.inference import OnnxPredictor, Predictor, TorchPredictor
from gennet.models import create_model, list_models
from gennet.models.complexity import count_gflops, count_parameters
from gennet.preprocess import DEFAULT_INPUT_SIZE


def median_ms(predictor: Predictor, runs: int) -> float:
    x = np.random.default_rng(0).standard_normal((1, 3, *DEFAULT_INPUT_SIZE), dtype=np.float32)
    for _ in range(10):
        predictor(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        predictor(x)
        times.append(time.perf_counter() - start)
    p50 = percentiles_ms(times)["p50"]
    assert p50 is not None
    return p50


def measure(arch: str, folder: Path, runs: int) -> list[object]:
    model = create_model(arch).eval()
    checkpoint = folder / f"{arch}.pt"
    save_checkpoint(checkpoint, model, CheckpointMeta(arch=arch))
    onnx = folder / f"{arch}.onnx"
    export_onnx(checkpoint, onnx)
    return [
        arch,
        count_parameters(model) / 1e6,
        count_gflops(model, DEFAULT_INPUT_SIZE),
        median_ms(OnnxPredictor(onnx, threads=1), runs),
        median_ms(OnnxPredictor(onnx, threads=2), runs),
        median_ms(TorchPredictor(model), runs),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="timed calls per cell")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(arch, Path(tmp), args.runs) for arch in list_models()]
    header = ["arch", "params (M)", "GFLOPs", "ORT 1 thr ms", "ORT 2 thr ms", "torch ms"]
    print(markdown_table(header, rows))
    if args.json:
        args.json.write_text(json.dumps([dict(zip(header, row, strict=True)) for row in rows]))


if __name__ == "__main__":
    main()
