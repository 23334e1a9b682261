"""Bytes -> normalised tensor: the one code path shared by training, evaluation and serving.

Served and evaluated predictions are identical because both call :func:`load_rgb` and
:func:`to_input_array` here, and the training cache stores exactly what :func:`to_input_array`
returns before normalisation.
"""

import functools
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from gennet.errors import ImageTooLargeError, InvalidImageError

DEFAULT_MAX_PIXELS = 16_000_000
# The formats Pillow may try: the documented ones. Others (EPS runs Ghostscript, and a dozen rarely
# used decoders) are attack surface that no camera crop needs.
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
_HIGH_BIT_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


DEFAULT_INPUT_SIZE = (256, 128)  # (H, W) of every architecture in the zoo, unless a recipe says


@dataclass(frozen=True)
class PreprocessSpec:
    """What a checkpoint says about feeding it: input size (H, W) and normalisation."""

    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def _open(data: bytes, max_pixels: int) -> Image.Image:
    if not data:
        raise InvalidImageError("empty image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError("image dimensions exceed the pixel limit") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError("not a decodable image") from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImageError("image has a zero dimension")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}"
        )
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _HIGH_BIT_DEPTH_MODES:
        array = np.asarray(image, dtype=np.float64)
        low, high = float(array.min()), float(array.max())
        scaled = (array - low) / (high - low) * 255.0 if high > low else np.zeros_like(array)
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        background = Image.new("RGB", image.size, (128, 128, 128))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").getchannel("A"))
        return background
    return image.convert("RGB")


def _may_be_rotated(image: Image.Image) -> bool:
    """False when the image cannot carry an EXIF orientation: a JPEG without an APP1 EXIF segment
    (Pillow reads it at open). Parsing EXIF costs about as much as resizing a crop, and camera
    crops rarely carry it; every other format is checked the full way."""
    return image.format != "JPEG" or "exif" in image.info


def open_image(
    data: bytes, input_size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Open ``data`` without decoding a pixel: its declared size is checked against the pixel
    cap, and a large JPEG is set to decode in draft mode straight to a size at least twice the
    input size (exact enough for the following bilinear resize, and much cheaper). The image's
    ``size`` is then the size decoding will produce: what decoding it costs."""
    image = _open(data, max_pixels)
    if image.format == "JPEG":
        height, width = input_size
        try:
            image.draft("RGB", (width * 2, height * 2))
        except (OSError, SyntaxError, ValueError, TypeError, EOFError) as exc:
            raise InvalidImageError("image data is truncated or corrupt") from exc
    return image


def upright_rgb(image: Image.Image) -> Image.Image:
    """Decode an image from :func:`open_image` into an upright RGB image (first frame of
    animations)."""
    try:
        if _may_be_rotated(image):
            image = ImageOps.exif_transpose(image) or image
        return _to_rgb(image)
    except (OSError, SyntaxError, ValueError, TypeError, EOFError) as exc:
        raise InvalidImageError("image data is truncated or corrupt") from exc


def load_rgb(
    data: bytes, input_size: tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode ``data`` into an upright RGB image; the pixel cap is checked before decoding."""
    return upright_rgb(open_image(data, input_size, max_pixels))


def to_input_array(image: Image.Image, input_size: tuple[int, int]) -> np.ndarray:
    """Resize an RGB image to ``input_size`` (H, W): uint8 array of shape (H, W, 3)."""
    height, width = input_size
    resized = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


@functools.lru_cache(maxsize=16)
def _lookup_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """float32 (3, 256): the normalised value of every uint8 level, per channel.

    Computed with the same float32 operations as a per-pixel ``(x - 255 mean) / (255 std)``, so a
    lookup gives bit-identical results at a fraction of the cost (no strided transpose, no
    full-size temporaries).
    """
    levels = np.arange(256, dtype=np.float32)
    offset = np.asarray(mean, dtype=np.float32).reshape(3, 1) * 255.0
    scale = 1.0 / (np.asarray(std, dtype=np.float32).reshape(3, 1) * 255.0)
    return (levels[None, :] - offset) * scale


def normalise(batch: np.ndarray, spec: PreprocessSpec, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 (N, H, W, 3) -> float32 (N, 3, H, W), scaled to [0, 1] then standardised.

    ``out`` (float32 (N, 3, H, W)) receives the result when given, e.g. rows of a batch buffer.
    """
    table = _lookup_table(spec.mean, spec.std)
    if out is None:
        n, height, width, _ = batch.shape
        out = np.empty((n, 3, height, width), dtype=np.float32)
    for channel in range(3):
        # mode="clip" skips the bounds check (uint8 indices are always in range) and the buffering
        np.take(table[channel], batch[..., channel], out=out[:, channel], mode="clip")
    return out


def decode_to_array(
    data: bytes, spec: PreprocessSpec, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Encoded image bytes -> uint8 (H, W, 3) at the model's input size."""
    return to_input_array(load_rgb(data, spec.input_size, max_pixels), spec.input_size)


def preprocess_bytes(
    data: bytes, spec: PreprocessSpec, max_pixels: int = DEFAULT_MAX_PIXELS
) -> np.ndarray:
    """Encoded image bytes -> float32 (3, H, W), ready for the model."""
    return normalise(decode_to_array(data, spec, max_pixels)[None], spec)[0]
