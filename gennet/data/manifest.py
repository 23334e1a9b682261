"""Read a data folder's ``manifest.csv`` (``path,label[,identity,camera,source,split]``)."""

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gennet.errors import ManifestError

LABEL_TO_TARGET = {"male": 1, "female": 0}
REQUIRED_COLUMNS = ("path", "label")
OPTIONAL_COLUMNS = ("identity", "camera", "source", "split")


@dataclass(frozen=True)
class Sample:
    path: Path
    target: int  # 1 = male, 0 = female
    identity: str = ""
    camera: str = ""
    source: str = ""
    split: str = ""


def _sample(root: Path, row: dict[str, str], line: int, check_files: bool) -> Sample:
    label = (row.get("label") or "").strip().lower()
    if label not in LABEL_TO_TARGET:
        raise ManifestError(
            f"{root / 'manifest.csv'}:{line}: label {label!r} is not male or female"
        )
    path = root / (row.get("path") or "").strip()
    if check_files and not path.is_file():
        raise ManifestError(f"{root / 'manifest.csv'}:{line}: image {path} does not exist")
    extra = {c: (row.get(c) or "").strip() for c in OPTIONAL_COLUMNS}
    return Sample(path=path, target=LABEL_TO_TARGET[label], **extra)


def read_manifest(root: Path, check_files: bool = True) -> list[Sample]:
    """All rows of ``root/manifest.csv``; image paths are relative to ``root``."""
    manifest = Path(root) / "manifest.csv"
    if not manifest.is_file():
        raise ManifestError(f"{manifest}: manifest not found")
    with manifest.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{manifest}: missing column(s) {', '.join(missing)}")
        samples = [
            _sample(Path(root), row, i, check_files) for i, row in enumerate(reader, start=2)
        ]
    if not samples:
        raise ManifestError(f"{manifest}: no rows")
    return samples


def select(
    samples: Iterable[Sample],
    split: str = "all",
    exclude_sources: Sequence[str] = (),
    only_sources: Sequence[str] = (),
) -> list[Sample]:
    """Rows of one split (``all`` keeps every row), optionally without or only some sources."""
    chosen = [
        s
        for s in samples
        if (split == "all" or s.split == split)
        and s.source not in exclude_sources
        and (not only_sources or s.source in only_sources)
    ]
    if not chosen:
        raise ManifestError(f"no rows for split {split!r} with the given source filters")
    return chosen
