"""Write a random-weight GenNet checkpoint and its ONNX export, for developing the benchmarks.

Timings only depend on the architecture, not on the weights, so the benchmarks can be built and
debugged before the shipped model exists. Never report accuracy from these files.
"""

import argparse
from pathlib import Path

import torch

from gennet.checkpoint import CheckpointMeta, save_checkpoint
from gennet.export import export_onnx
from gennet.models import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/gennet-bench"), help="folder")
    parser.add_argument("--arch", default="gennet", help="architecture name")
    args = parser.parse_args()
    torch.manual_seed(0)
    checkpoint = args.out / "gennet.pt"
    meta = CheckpointMeta(arch=args.arch, data={"dataset": "none (random weights, benchmarks)"})
    save_checkpoint(checkpoint, create_model(args.arch).eval(), meta)
    export_onnx(checkpoint, checkpoint.with_suffix(".onnx"))
    print(f"wrote {checkpoint} and {checkpoint.with_suffix('.onnx')}")


if __name__ == "__main__":
    main()
