"""Fixtures of the model-side tests: a pinned thread count and small generated data folders."""

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch

from tests.support.data import MakeDataset, ManifestRow, write_image, write_manifest


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: the CPU is shared (CI, background runs) and oversubscribed OpenMP
    threads slow small models down by an order of magnitude. Restored after each test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def image_file() -> Callable[..., Path]:
    """``image_file(path, size=(W, H), seed=0)`` writes a random image."""
    return write_image


@pytest.fixture
def manifest_file() -> Callable[..., Path]:
    """``manifest_file(root, rows, header=())`` writes ``root/manifest.csv``."""
    return write_manifest


@pytest.fixture
def make_dataset() -> MakeDataset:
    """``make_dataset(root, rows)``: a data folder with ``manifest.csv`` and generated images."""

    def make(root: Path, rows: Sequence[ManifestRow]) -> Path:
        for seed, (path, *_) in enumerate(rows):
            write_image(root / path, seed=seed)
        return write_manifest(root, rows)

    return make
