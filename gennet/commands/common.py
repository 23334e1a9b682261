"""Helpers the model-side commands share: reading image files and writing outputs.

They turn the errors a user can cause (a missing or unreadable file, a folder that cannot be
written) into :class:`GenNetError` messages that name the file, so ``gennet`` exits with one line.
"""

import argparse
import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from gennet.errors import GenNetError, ImageTooLargeError, InvalidImageError
from gennet.preprocess import PreprocessSpec, decode_to_array


def os_reason(exc: OSError) -> str:
    """The short reason of an OS error ("No such file or directory")."""
    return exc.strerror or type(exc).__name__


def read_image_bytes(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidImageError(f"{path}: cannot read ({os_reason(exc)})") from None


def decode_file(path: Path, spec: PreprocessSpec) -> np.ndarray:
    """An image file -> uint8 (H, W, 3) at the input size, by the serving path."""
    data = read_image_bytes(path)
    try:
        return decode_to_array(data, spec)
    except (InvalidImageError, ImageTooLargeError) as exc:
        raise type(exc)(f"{path}: {exc}") from None


def decode_files(paths: Sequence[Path], spec: PreprocessSpec, workers: int = 4) -> np.ndarray:
    """uint8 (N, H, W, 3) of every file, decoded in a few threads (Pillow releases the GIL)."""
    height, width = spec.input_size
    if not paths:
        return np.zeros((0, height, width, 3), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.stack(list(pool.map(lambda p: decode_file(p, spec), paths)))


def json_ready(value: Any) -> Any:
    """``value`` with NaN/inf floats as None (strict JSON) and tuples as lists."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def to_json(value: Any) -> str:
    return json.dumps(json_ready(value), indent=2, allow_nan=False)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (parents created); failures become a one-line error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GenNetError(f"{path}: cannot write ({os_reason(exc)})") from None


def make_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenNetError(f"{path}: cannot create folder ({os_reason(exc)})") from None
    return path


def int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is not at least {minimum}")
        return value

    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)
