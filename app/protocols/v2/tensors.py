"""The one input tensor of an inference request, checked before anything big is built from it.

- ``encoded_image``: BYTES ``[N]``, one encoded person crop per element (raw file bytes in binary
  data, base64 strings in JSON, which cannot carry raw bytes);
- ``preprocessed_image``: FP32 ``[N, 3, H, W]``, crops already resized and normalised as the
  model's metadata says (little-endian in binary data).

Counts are checked against the shape, and the shape against the item limit, before any element
is decoded, split or converted: a body of millions of tiny values costs what reading its length
costs. Every refusal is a :class:`ProtocolError` (400).
"""

import base64
import binascii
import math
import struct
from typing import Any

import numpy as np
import simdjson

from app.protocols.v2.errors import ProtocolError, shown
from gennet.preprocess import PreprocessSpec

ENCODED = "encoded_image"
PREPROCESSED = "preprocessed_image"
# How far a caller's pixel values may stray from [0, 1] before normalisation: a quarter of an
# 8-bit level, far above float32 rounding, far below what overflows the network.
PIXEL_TOLERANCE = 1e-3


def encoded_images(data: Any, shape: list[int], max_items: int) -> list[bytes]:
    """The files of a BYTES input: ``data`` is the binary data (bytes) or the JSON ``data``."""
    if len(shape) != 1:
        raise ProtocolError(
            f"input {ENCODED!r} must have shape [N] (one crop per element); got {shown(shape)}"
        )
    count = _count(shape, ENCODED, max_items)
    if isinstance(data, bytes):
        return _split_bytes(data, count)
    return _base64_strings(data, count)


def _count(shape: list[int], name: str, max_items: int) -> int:
    count = shape[0] if shape else 0
    if not 1 <= count <= max_items:
        raise ProtocolError(f"input {name!r}: send 1 to {max_items} crops per request; got {count}")
    return count


def _split_bytes(raw: bytes, count: int) -> list[bytes]:
    """BYTES binary data: each element is a 4-byte little-endian length, then that many bytes.

    Stops at the first element past ``count`` (at most the item limit): 8 MB of empty elements
    would otherwise be two million of them.
    """
    elements: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if len(elements) == count:
            raise ProtocolError(
                f"input {ENCODED!r}: shape says {count} elements, the data has more"
            )
        if offset + 4 > len(raw):
            raise ProtocolError(f"binary {ENCODED!r}: truncated element length at byte {offset}")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise ProtocolError(
                f"binary {ENCODED!r}: element {len(elements)} declares {length} bytes, "
                f"{len(raw) - offset} remain"
            )
        elements.append(raw[offset : offset + length])
        offset += length
    if len(elements) != count:
        raise ProtocolError(
            f"input {ENCODED!r}: shape says {count} elements, the data has {len(elements)}"
        )
    return elements


def _base64_strings(data: Any, count: int) -> list[bytes]:
    """JSON BYTES data: the array's length is checked first, then one string at a time is read
    from the document and decoded."""
    if not isinstance(data, simdjson.Array):
        raise ProtocolError(f"JSON {ENCODED!r} data must be a list of base64 strings")
    if len(data) != count:
        raise ProtocolError(
            f"input {ENCODED!r}: shape says {count} elements, the data has {len(data)}"
        )
    images: list[bytes] = []
    for item in data:
        if not isinstance(item, str):
            raise ProtocolError(f"JSON {ENCODED!r} data must be a list of base64 strings")
        try:
            images.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise ProtocolError(
                f"JSON {ENCODED!r} elements must be base64 (standard alphabet, padded); "
                "or send raw bytes with the binary data extension"
            ) from None
    return images


def preprocessed(data: Any, shape: list[int], spec: PreprocessSpec, max_items: int) -> np.ndarray:
    """The float32 ``(N, 3, H, W)`` crops of an FP32 input, in the range normalisation gives."""
    height, width = spec.input_size
    if len(shape) != 4 or shape[1:] != [3, height, width]:
        raise ProtocolError(
            f"input {PREPROCESSED!r} must have shape [N, 3, {height}, {width}] for this model; "
            f"got {shown(shape)}"
        )
    _count(shape, PREPROCESSED, max_items)
    size = math.prod(shape)
    if isinstance(data, bytes):
        if len(data) != size * 4:
            raise ProtocolError(
                f"binary {PREPROCESSED!r}: shape {shown(shape)} needs {size * 4} bytes of FP32, "
                f"got {len(data)}"
            )
        values = np.frombuffer(data, dtype="<f4")
    else:
        values = _json_numbers(data, shape)
    array = values.reshape(shape)
    _check_range(array, spec)
    return array.astype(np.float32, copy=False)


def _json_numbers(data: Any, shape: list[int]) -> np.ndarray:
    """JSON data as float64: row-major numbers, flat or nested as the shape (its leading
    dimensions may be merged: ``[N * 3, H, W]``), copied out in C++ once their count is right."""
    size = math.prod(shape)
    lengths = _lengths(data, len(shape))
    nestings = [[math.prod(shape[:merged]), *shape[merged:]] for merged in range(len(shape), 0, -1)]
    if lengths in nestings and _regular(data, lengths):
        try:
            values = np.frombuffer(data.as_buffer(of_type="d"), dtype=np.float64)
        except TypeError:  # a string, boolean, null or object among the numbers
            values = None
        if values is not None and values.size == size:
            return values
    raise ProtocolError(
        f"JSON {PREPROCESSED!r} data must be {size} numbers (row-major, flat or nested as "
        "its shape)"
    )


def _lengths(data: Any, most: int) -> list[int]:
    """Lengths down the first elements of nested arrays: ``[2, 3]`` for ``[[1, 2, 3], [4, 5, 6]]``."""
    lengths: list[int] = []
    node = data
    while isinstance(node, simdjson.Array):
        if len(lengths) == most:
            raise ProtocolError(
                f"JSON {PREPROCESSED!r} data may be nested at most {most} deep (as its shape)"
            )
        lengths.append(len(node))
        node = node[0] if len(node) else None
    return lengths


def _regular(array: simdjson.Array, lengths: list[int]) -> bool:
    """Whether every nested array has its level's length: one proxy per row, none per number
    (the numbers' count is the copy's size)."""
    if len(lengths) == 1:
        return True
    return all(
        isinstance(row, simdjson.Array) and len(row) == lengths[1] and _regular(row, lengths[1:])
        for row in array
    )


def _check_range(array: np.ndarray, spec: PreprocessSpec) -> None:
    """Refuse values that normalising pixels in [0, 1] cannot give: finite but huge values
    overflowed the network, and failed every request batched with them."""
    if not np.isfinite(array).all():
        raise ProtocolError(f"input {PREPROCESSED!r} holds NaN or infinite values")
    lows, highs = array.min(axis=(0, 2, 3)), array.max(axis=(0, 2, 3))
    for channel, (mean, std) in enumerate(zip(spec.mean, spec.std, strict=True)):
        floor, ceiling = sorted(
            ((-PIXEL_TOLERANCE - mean) / std, (1 + PIXEL_TOLERANCE - mean) / std)
        )
        if lows[channel] < floor or highs[channel] > ceiling:
            value = lows[channel] if lows[channel] < floor else highs[channel]
            raise ProtocolError(
                f"input {PREPROCESSED!r}: channel {channel} holds {value:.6g}, outside "
                f"[{floor:.4f}, {ceiling:.4f}]: (x - mean) / std of pixel values x in [0, 1] "
                f"(mean {mean:g}, std {std:g})"
            )
