"""Generated data folders: random images and the ``manifest.csv`` that lists them."""

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.support.images import noise

ManifestRow = tuple[str, str, str, str]  # path, label, source, split
MakeDataset = Callable[[Path, Sequence[ManifestRow]], Path]


def write_image(path: Path, size: tuple[int, int] = (24, 48), seed: int = 0) -> Path:
    """A random RGB image of ``size`` (W, H), in the format of ``path``'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise(size, seed).save(path)
    return path


def write_manifest(root: Path, rows: Sequence[ManifestRow], header: Sequence[str] = ()) -> Path:
    """``root/manifest.csv`` listing ``rows`` (under the standard header unless given); ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header or ("path", "label", "source", "split"))
        writer.writerows(rows)
    return root
