"""Shared fixtures: a small random-weight checkpoint and its ONNX export, generated crops, and
real PETA crops for the few tests that need them.

Tests never depend on the shipped model being trained: they build their own checkpoint once per
session, and the suite stands on its own with generated crops (``crops``). Tests that truly need the
real data (``real_crops``, ``peta_root``, ``peta_samples``) are marked ``real_data`` automatically and
skip when ``../shared/data/peta`` is absent; the summary counts them, and in CI (``CI`` set) a
skipped one fails the run, since CI always has the data beside the clone.
"""

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gennet.checkpoint import CheckpointMeta, save_checkpoint
from gennet.data.manifest import Sample, read_manifest
from gennet.export import export_onnx
from gennet.models import create_model
from tests.support.graphs import copy_model

PETA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "peta"


REAL_DATA_FIXTURES = {"peta_root", "peta_samples", "real_crops"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_data)


NO_DATA = "../shared/data/peta is not present"


def _real_data_outcomes(terminalreporter: pytest.TerminalReporter) -> dict[str, int]:
    """real_data tests by outcome; ``skipped`` counts only those skipped for want of the data."""
    counts = {}
    for outcome in ("passed", "failed", "skipped"):
        reports = [
            r
            for r in terminalreporter.stats.get(outcome, [])
            if "real_data" in getattr(r, "keywords", {})
        ]
        if outcome == "skipped":
            reports = [r for r in reports if NO_DATA in str(getattr(r, "longrepr", ""))]
        counts[outcome] = len(reports)
    return counts


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = _real_data_outcomes(terminalreporter)
    if sum(counts.values()):
        terminalreporter.write_line(
            "real_data tests (need ../shared/data/peta): "
            + ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
        )


def pytest_sessionfinish(session: pytest.Session) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if os.environ.get("CI") and reporter is not None and _real_data_outcomes(reporter)["skipped"]:
        reporter.write_line("CI: real_data tests were skipped; ../shared/data/peta must be present")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _crop(seed: int) -> bytes:
    """A person-sized synthetic crop: smooth colour fields and a few blocks, JPEG or PNG."""
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(96, 200)), int(rng.integers(40, 90))
    rows = np.linspace(0, 1, height)[:, None, None]
    cols = np.linspace(0, 1, width)[None, :, None]
    base = rng.uniform(0, 255, 3) * rows + rng.uniform(0, 255, 3) * (1 - cols)
    pixels = np.clip(base / 2 + rng.normal(0, 12, (height, width, 3)), 0, 255)
    for _ in range(4):  # a torso, legs, a bag: blocks of one colour
        top, left = int(rng.integers(0, height - 20)), int(rng.integers(0, width - 10))
        pixels[top : top + 20, left : left + 10] = rng.uniform(0, 255, 3)
    out = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(out, "JPEG" if seed % 2 else "PNG")
    return out.getvalue()


@pytest.fixture(scope="session")
def crops() -> list[bytes]:
    """Sixteen generated crops (half JPEG, half PNG), always available."""
    return [_crop(seed) for seed in range(16)]


@pytest.fixture(scope="session")
def peta_root() -> Path:
    if not (PETA_ROOT / "manifest.csv").is_file():
        pytest.skip(NO_DATA)
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


@pytest.fixture
def checkpoint(checkpoint_path: Path, onnx_path: Path, tmp_path: Path) -> Path:
    """``checkpoint_path`` and its FP32 graph copied into ``tmp_path``, a folder of their own (other
    graphs may be put beside them)."""
    return copy_model(checkpoint_path, onnx_path, tmp_path)
