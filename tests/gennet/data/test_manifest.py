"""Reading a data folder's manifest.csv, its errors, and split / source selection."""

from collections.abc import Callable
from pathlib import Path

import pytest

from gennet.data.manifest import read_manifest, select
from gennet.errors import ManifestError

ROWS = [
    ("images/a.png", "male", "GRID", "train"),
    ("images/b.jpg", "Female", "GRID", "val"),
    ("images/c.png", "female ", "MIT", "test"),
    ("images/d.png", "male", "MIT", "test"),
]


@pytest.fixture
def folder(tmp_path: Path, make_dataset: Callable[..., Path]) -> Path:
    return make_dataset(tmp_path / "data", ROWS)


def test_reads_rows_with_targets_and_optional_columns(folder: Path) -> None:
    samples = read_manifest(folder)
    assert [s.target for s in samples] == [1, 0, 0, 1]
    assert samples[0].path == folder / "images" / "a.png"
    assert (samples[1].source, samples[1].split) == ("GRID", "val")
    assert samples[0].identity == samples[0].camera == ""


def test_absolute_paths_are_kept(
    tmp_path: Path, image_file: Callable[..., Path], manifest_file: Callable[..., Path]
) -> None:
    image = image_file(tmp_path / "elsewhere" / "x.png")
    root = manifest_file(tmp_path / "data", [(str(image), "male", "", "")])
    assert read_manifest(root)[0].path == image


def test_only_required_columns(tmp_path: Path, manifest_file: Callable[..., Path]) -> None:
    root = manifest_file(tmp_path, [("x.png", "male")], header=("path", "label"))
    [sample] = read_manifest(root, check_files=False)
    assert (sample.target, sample.source, sample.split) == (1, "", "")


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"manifest.csv: manifest not found"):
        read_manifest(tmp_path)


def test_bad_label_names_the_line(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path, [*ROWS[:2], ("images/x.png", "unknown", "GRID", "test")])
    with pytest.raises(ManifestError, match=r"manifest.csv:4: label 'unknown' is not male"):
        read_manifest(root)


def test_missing_column(tmp_path: Path, manifest_file: Callable[..., Path]) -> None:
    root = manifest_file(tmp_path, [("a.png", "x")], header=("path", "gender"))
    with pytest.raises(ManifestError, match="missing column"):
        read_manifest(root)


def test_missing_image(folder: Path) -> None:
    (folder / "images" / "c.png").unlink()
    with pytest.raises(ManifestError, match=r":4: image .*c\.png does not exist"):
        read_manifest(folder)
    assert len(read_manifest(folder, check_files=False)) == 4


def test_empty_manifest(tmp_path: Path, manifest_file: Callable[..., Path]) -> None:
    with pytest.raises(ManifestError, match="no rows"):
        read_manifest(manifest_file(tmp_path, []))


def test_select_by_split_and_source(folder: Path) -> None:
    samples = read_manifest(folder)
    assert len(select(samples, "all")) == 4
    assert [s.path.name for s in select(samples, "test")] == ["c.png", "d.png"]
    assert [s.path.name for s in select(samples, "all", exclude_sources=["MIT"])] == [
        "a.png",
        "b.jpg",
    ]
    assert [s.path.name for s in select(samples, "test", only_sources=["MIT"])] == [
        "c.png",
        "d.png",
    ]
    with pytest.raises(ManifestError, match="no rows for split 'train'"):
        select(samples, "train", only_sources=["MIT"])
