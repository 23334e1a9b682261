"""GPU benchmark: TorchPredictor on CUDA (FP32, what the service runs) against FP16 autocast with
channels_last.

Per batch size, the latency of one predictor call as the service makes it (host float32 batch ->
device -> model -> probabilities back on the host) and the images/s that follows. Inputs are
random normalised tensors: the time does not depend on the pixels. Imports only gennet.models,
gennet.inference and torch/numpy, so it runs where pydantic and the web stack are missing (a
checkpoint is then read with ``torch.load(weights_only=True)`` without validating its metadata).
"""

import argparse
import copy
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from stats import markdown_table
from torch import nn

from gennet.inference import ProbabilityModel, TorchPredictor
from gennet.models import create_model
from gennet.preprocess import DEFAULT_INPUT_SIZE

Predict = Callable[[np.ndarray], np.ndarray]
REPO = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "model_store" / "gennet.pt")
    parser.add_argument("--arch", default="gennet", help="random weights when no checkpoint")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32,64,128,256")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per cell")
    parser.add_argument("--json", type=Path, help="default: $OUT/gpu_bench.json or bench/results/")
    args = parser.parse_args()
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else REPO / "bench" / "results"
    args.json = args.json or out / "gpu_bench.json"
    return args


def load_model(path: Path, arch: str) -> tuple[nn.Module, tuple[int, int], str]:
    """The checkpoint's model and input size; random ``arch`` weights when there is no file."""
    if not path.is_file():
        torch.manual_seed(0)
        return (
            create_model(arch).eval(),
            DEFAULT_INPUT_SIZE,
            f"random {arch} weights ({path} absent)",
        )
    try:
        from gennet.checkpoint import load_checkpoint  # needs pydantic
    except ImportError:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = payload["meta"]
        model = create_model(meta["arch"], **meta.get("arch_kwargs", {}))
        model.load_state_dict(payload["state_dict"])
        return model.eval(), tuple(meta["input_size"]), f"{path} (metadata not validated)"
    model, meta = load_checkpoint(path)
    return model, meta.input_size, str(path)


class Fp16ChannelsLastPredictor:
    """The candidate the service does not use (it lost here): FP16 autocast, channels_last."""

    def __init__(self, model: nn.Module) -> None:
        self.model = ProbabilityModel(model).eval().to("cuda")
        self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    @torch.inference_mode()
    def __call__(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to("cuda").contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.float16):
            return self.model(x).float().cpu().numpy()


def latencies(predictor: Predict, batch: np.ndarray, min_time: float) -> list[float]:
    """Seconds per call after a warm-up; at least ten calls and ``min_time`` seconds."""
    for _ in range(5):
        predictor(batch)
    times: list[float] = []
    while sum(times) < min_time or len(times) < 10:
        start = time.perf_counter()
        predictor(batch)  # returns host numpy: the call is synchronous
        times.append(time.perf_counter() - start)
    return times


def cell(predictor: Predict, batch: np.ndarray, min_time: float) -> dict[str, float]:
    p50 = float(np.median(latencies(predictor, batch, min_time)))
    return {"p50_ms": p50 * 1000, "images_per_s": len(batch) / p50}


def benchmark(model: nn.Module, size: tuple[int, int], batches: list[int], min_time: float) -> dict:
    """Every batch size for both predictors, plus their largest probability difference."""
    variants = {
        "fp32": TorchPredictor(copy.deepcopy(model), "cuda"),  # what the service runs
        "fp16_channels_last": Fp16ChannelsLastPredictor(copy.deepcopy(model)),
    }
    rng = np.random.default_rng(0)
    results: dict = {name: {} for name in variants}
    for b in batches:
        batch = rng.standard_normal((b, 3, *size), dtype=np.float32)
        for name, predictor in variants.items():
            results[name][str(b)] = cell(predictor, batch, min_time)
    diff = np.abs(variants["fp32"](batch) - variants["fp16_channels_last"](batch)).max()
    results["max_abs_prob_diff"] = float(diff)
    return results


def print_table(results: dict) -> None:
    rows = []
    for b, fp32 in results["fp32"].items():
        fp16 = results["fp16_channels_last"][b]
        speed = f"{fp16['images_per_s'] / fp32['images_per_s']:.2f}x"
        rows.append(
            [
                b,
                fp32["p50_ms"],
                round(fp32["images_per_s"]),
                fp16["p50_ms"],
                round(fp16["images_per_s"]),
                speed,
            ]
        )
    header = ["batch", "FP32 ms", "FP32 img/s", "FP16 CL ms", "FP16 CL img/s", "speed-up"]
    print(markdown_table(header, rows))
    print(f"\nmax |P(fp16) - P(fp32)| on the last batch: {results['max_abs_prob_diff']:.2e}")


def main() -> None:
    args = parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_bench.py: no CUDA device")
    model, size, source = load_model(args.checkpoint, args.arch)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}, model: {source}, input {size}"
    )
    results = benchmark(model, size, batches, args.min_time)
    results |= {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "model": source}
    print_table(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()
