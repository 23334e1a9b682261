"""The decoded-crop cache: written once, read back, and never reused across what changes pixels."""

import os
from pathlib import Path

import numpy as np
import PIL
import pytest

from gennet.data import cache
from gennet.data.manifest import Sample
from gennet.preprocess import PreprocessSpec

SPEC = PreprocessSpec((32, 16), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


@pytest.fixture
def samples(tmp_path: Path, crops: list[bytes]) -> list[Sample]:
    paths = []
    for index, data in enumerate(crops[:4]):
        path = tmp_path / f"crop{index}.img"
        path.write_bytes(data)
        paths.append(path)
    return [Sample(path=path, target=index % 2) for index, path in enumerate(paths)]


def test_a_second_decode_reads_the_cache(samples: list[Sample], tmp_path: Path) -> None:
    store = tmp_path / "cache"
    first = cache.decode_samples(samples, SPEC, store)
    (written,) = store.glob("*.npy")
    second = cache.decode_samples(samples, SPEC, store)
    assert first.shape == (4, 32, 16, 3) and first.dtype == np.uint8
    assert isinstance(second, np.memmap) and np.array_equal(first, second)
    assert list(store.glob("*.npy")) == [written]


def test_the_key_changes_with_what_changes_the_pixels(
    samples: list[Sample], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = cache._key(samples, SPEC.input_size)
    assert cache._key(samples, SPEC.input_size) == key
    assert cache._key(samples, (64, 32)) != key
    assert cache._key(samples[:3], SPEC.input_size) != key
    stat = samples[0].path.stat()
    os.utime(samples[0].path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert cache._key(samples, SPEC.input_size) != key
    touched = cache._key(samples, SPEC.input_size)
    monkeypatch.setattr(PIL, "__version__", "0.0.1")  # another decoder release
    assert cache._key(samples, SPEC.input_size) != touched
