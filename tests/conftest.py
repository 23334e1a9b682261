"""Shared fixtures: a small random-weight checkpoint and its ONNX export, and real PETA crops.

Tests never depend on the shipped model being trained: they build their own checkpoint once per
session. Real crops come from ``../shared/data/peta`` (read-only); tests that need them skip when it
is absent.
"""

from pathlib import Path

import pytest
import torch
from torch import nn

from gennet.checkpoint import CheckpointMeta, save_checkpoint
from gennet.data.manifest import Sample, read_manifest
from gennet.export import export_onnx
from gennet.models import create_model

PETA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "peta"


@pytest.fixture(scope="session")
def peta_root() -> Path:
    if not (PETA_ROOT / "manifest.csv").is_file():
        pytest.skip("../shared/data/peta is not present")
    return PETA_ROOT


@pytest.fixture(scope="session")
def peta_samples(peta_root: Path) -> list[Sample]:
    return read_manifest(peta_root, check_files=False)


@pytest.fixture(scope="session")
def real_crops(peta_samples: list[Sample]) -> list[bytes]:
    """Sixteen real crops: two from each sub-set, of both labels where possible."""
    chosen: list[Sample] = []
    for source in sorted({s.source for s in peta_samples}):
        rows = [s for s in peta_samples if s.source == source and s.split == "test"]
        rows = rows or [s for s in peta_samples if s.source == source]
        males = [s for s in rows if s.target == 1][:1]
        females = [s for s in rows if s.target == 0][:1]
        chosen += (males + females) or rows[:2]
    return [s.path.read_bytes() for s in chosen[:16]]


def _calibrate_batch_norm(model: nn.Module) -> nn.Module:
    """Set BatchNorm running statistics from two random batches.

    With the default (0, 1) statistics a randomly initialised GenNet's activations vanish and every
    crop gets the same probability, which would make parity and evaluation tests vacuous.
    """
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, 3, 256, 128))
    return model.eval()


@pytest.fixture(scope="session")
def checkpoint_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight GenNet checkpoint (seeded, BatchNorm calibrated) with valid metadata."""
    torch.manual_seed(0)
    model = _calibrate_batch_norm(create_model("gennet"))
    path = tmp_path_factory.mktemp("ckpt") / "gennet.pt"
    meta = CheckpointMeta(
        arch="gennet",
        arch_kwargs={},
        threshold=0.5,
        metrics={"val": {"macro_f1": 0.5}, "test": {"macro_f1": 0.5}},
        data={"dataset": "none (random weights for tests)"},
    )
    save_checkpoint(path, model, meta)
    return path


@pytest.fixture(scope="session")
def onnx_path(checkpoint_path: Path) -> Path:
    """The ONNX export of ``checkpoint_path``, beside it as ``gennet.onnx``."""
    out = checkpoint_path.with_suffix(".onnx")
    export_onnx(checkpoint_path, out)
    return out
