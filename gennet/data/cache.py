"""Decode a list of samples once into a uint8 array at the model's input size, cached on disk.

Epochs then cost no JPEG/PNG decoding. The cached pixels are exactly what serving computes before
normalisation (:func:`gennet.preprocess.decode_to_array`), so training sees served inputs. The key
names the Pillow release too: releases differ by a level here and there (Pillow 12.3 and 13.0 on
6 of 400 PETA crops), and a run must not train on another release's pixels.
"""

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import PIL
from tqdm import tqdm

from gennet.data.manifest import Sample
from gennet.preprocess import PreprocessSpec, decode_to_array

CACHE_VERSION = "1"
DEFAULT_CACHE_DIR = Path(".cache/gennet")


def cache_dir_from_env() -> Path:
    """``GENNET_CACHE_DIR`` when set, else ``.cache/gennet``; read at call time, not import time."""
    return Path(os.environ.get("GENNET_CACHE_DIR") or DEFAULT_CACHE_DIR)


def _key(samples: Sequence[Sample], input_size: tuple[int, int]) -> str:
    digest = hashlib.sha256(f"{CACHE_VERSION}|{input_size}|pillow {PIL.__version__}".encode())
    for sample in samples:
        stat = sample.path.stat()
        digest.update(f"{sample.path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def decode_samples(
    samples: Sequence[Sample],
    spec: PreprocessSpec,
    cache_dir: Path | Literal["env"] | None = "env",
) -> np.ndarray:
    """uint8 array (N, H, W, 3) of every sample, read from the cache when it is current.

    ``cache_dir=None`` disables the cache; the default is :func:`cache_dir_from_env`.
    """
    if cache_dir == "env":
        cache_dir = cache_dir_from_env()
    cache_file = cache_dir / f"{_key(samples, spec.input_size)}.npy" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        return np.load(cache_file, mmap_mode="r")

    def decode(sample: Sample) -> np.ndarray:
        return decode_to_array(sample.path.read_bytes(), spec)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        arrays = list(
            tqdm(pool.map(decode, samples), total=len(samples), desc="decode", leave=False)
        )
    images = np.stack(arrays)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npy")
        np.save(tmp, images)
        tmp.replace(cache_file)
    return images
