"""Fixtures of the model-side tests: a pinned thread count and small generated data folders."""

import csv
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ManifestRow = tuple[str, str, str, str]  # path, label, source, split
MakeDataset = Callable[[Path, Sequence[ManifestRow]], Path]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: the CPU is shared (CI, background runs) and oversubscribed OpenMP
    threads slow small models down by an order of magnitude. Restored after each test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_image(path: Path, size: tuple[int, int] = (24, 48), seed: int = 0) -> Path:
    """A random RGB image of ``size`` (W, H), in the format of ``path``'s suffix."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path)
    return path


def write_manifest(root: Path, rows: Sequence[ManifestRow], header: Sequence[str] = ()) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header or ("path", "label", "source", "split"))
        writer.writerows(rows)
    return root


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
