"""The shared bytes -> tensor path: image modes, EXIF, pixel cap, corrupt input, normalisation."""

import io

import numpy as np
import pytest
from PIL import Image

from gennet.checkpoint import IMAGENET_MEAN, IMAGENET_STD
from gennet.errors import ImageTooLargeError, InvalidImageError
from gennet.preprocess import (
    PreprocessSpec,
    decode_to_array,
    load_rgb,
    normalise,
    preprocess_bytes,
)

SPEC = PreprocessSpec((32, 16), IMAGENET_MEAN, IMAGENET_STD)
EXIF_ORIENTATION = 0x0112


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _gradient(mode: str, size: tuple[int, int] = (20, 40)) -> Image.Image:
    base = Image.linear_gradient("L").resize(size)
    if mode == "I;16":
        return Image.fromarray(np.asarray(base, dtype=np.uint16) * 200)  # 16-bit grey
    if mode == "F":
        return Image.fromarray(np.asarray(base, dtype=np.float32) / 7.0)
    if mode == "P":
        return base.convert("RGB").convert("P")
    return base.convert(mode)


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("L", "PNG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("RGB", "JPEG"),
        ("RGBA", "PNG"),
        ("CMYK", "JPEG"),
        ("I;16", "PNG"),
        ("F", "TIFF"),
    ],
)
def test_every_mode_becomes_rgb_at_the_input_size(mode: str, fmt: str) -> None:
    data = _encode(_gradient(mode), fmt)
    assert Image.open(io.BytesIO(data)).mode == mode
    assert load_rgb(data, SPEC.input_size).mode == "RGB"
    array = decode_to_array(data, SPEC)
    assert array.shape == (32, 16, 3) and array.dtype == np.uint8
    assert array.max() > array.min()  # the gradient survived the conversion


def test_transparent_pixels_become_grey() -> None:
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert load_rgb(_encode(image, "PNG"), (8, 8)).getpixel((4, 4)) == (128, 128, 128)


def test_exif_orientation_is_honoured() -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    image.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # stored rotated; display rotated 90 degrees clockwise
    upright = load_rgb(_encode(image, "JPEG", exif=exif, quality=95), (40, 20))
    assert upright.size == (20, 40)
    top, bottom = np.asarray(upright)[2, 10], np.asarray(upright)[-3, 10]
    assert top[0] > 200 and top[2] < 60  # the red (left) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_pixel_cap_is_checked_before_decoding() -> None:
    data = _encode(Image.new("RGB", (200, 100)), "PNG")
    with pytest.raises(ImageTooLargeError, match="200x100"):
        load_rgb(data, SPEC.input_size, max_pixels=10_000)
    # A truncated file still declares its size: the cap fires before any pixel is read.
    header_only = data[:64]
    with pytest.raises(ImageTooLargeError):
        decode_to_array(header_only, SPEC, max_pixels=10_000)
    with pytest.raises(InvalidImageError):
        decode_to_array(header_only, SPEC)


@pytest.mark.parametrize(
    "data", [b"", b"definitely not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40]
)
def test_corrupt_bytes_are_invalid_images(data: bytes) -> None:
    with pytest.raises(InvalidImageError):
        preprocess_bytes(data, SPEC)


def test_truncated_jpeg_is_an_invalid_image() -> None:
    data = _encode(_gradient("RGB", (64, 128)), "JPEG")
    with pytest.raises(InvalidImageError):
        decode_to_array(data[: len(data) // 2], SPEC)


def test_normalise_standardises_channels_first() -> None:
    mean_pixel = np.round(np.asarray(IMAGENET_MEAN) * 255).astype(np.uint8)
    batch = np.broadcast_to(mean_pixel, (2, 4, 3, 3)).copy()
    out = normalise(batch, SPEC)
    assert out.shape == (2, 3, 4, 3) and out.dtype == np.float32
    assert np.abs(out).max() < 0.01
    white = normalise(np.full((1, 1, 1, 3), 255, np.uint8), SPEC)[0, :, 0, 0]
    expected = (1 - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)
    np.testing.assert_allclose(white, expected, rtol=1e-5)


def test_preprocess_bytes_matches_its_steps() -> None:
    data = _encode(_gradient("RGB"), "PNG")
    tensor = preprocess_bytes(data, SPEC)
    assert tensor.shape == (3, 32, 16) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor, normalise(decode_to_array(data, SPEC)[None], SPEC)[0])
