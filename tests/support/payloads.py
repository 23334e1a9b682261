"""Hostile and awkward uploads, generated in memory: no image file is ever committed.

Headers that claim huge dimensions are written byte by byte (PNG IHDR, JPEG SOF, GIF screen, BMP
DIB), so a decompression bomb costs a few bytes here and must cost nothing more in the service.
"""

import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EXIF_ORIENTATION = 0x0112
_ROTATED_90_CW = 6  # EXIF: rotate the stored pixels 90 degrees clockwise to display them


def picture(width: int = 24, height: int = 48, mode: str = "RGB") -> Image.Image:
    """A deterministic, non-uniform picture (a gradient plus noise) in ``mode``."""
    rng = np.random.default_rng(width * 7919 + height)
    ys, xs = np.mgrid[0:height, 0:width]
    gray = (xs * 255 // max(width - 1, 1) + ys * 3 + rng.integers(0, 40, (height, width))) % 256
    rgb = np.stack([gray, 255 - gray, (gray * 3) % 256], axis=-1).astype(np.uint8)
    high_bit_depth = {
        "I;16": (gray * 257).astype(np.uint16),
        "I": (gray * 65537).astype(np.int32),
        "F": gray.astype(np.float32) / 7.0,
    }
    if mode in high_bit_depth:
        image = Image.fromarray(high_bit_depth[mode])
        assert image.mode == mode
        return image
    return Image.fromarray(rgb).convert(mode)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def palette_with_transparency() -> bytes:
    image = picture().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(image, "PNG", transparency=0)


def animated_gif() -> bytes:
    frames = [picture(24, 48).rotate(angle).convert("P") for angle in (0, 90, 180)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def exif_rotated_jpeg(upright: Image.Image) -> bytes:
    """JPEG whose stored pixels are ``upright`` turned a quarter counter-clockwise, with the EXIF
    orientation that turns them back: only a decoder that honours EXIF sees ``upright``."""
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = _ROTATED_90_CW
    return encode(stored, "JPEG", exif=exif, quality=95)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` RGB pixels, with almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png_with_broken_crc() -> bytes:
    """A valid PNG with one bit of the IHDR checksum flipped."""
    data = bytearray(encode(picture(), "PNG"))
    crc_at = len(PNG_SIGNATURE) + 8 + 13  # length + type, then the 13 IHDR bytes
    data[crc_at] ^= 0x01
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF header is rewritten to claim ``width`` x ``height``."""
    data = bytearray(encode(picture(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF whose logical screen and single frame claim ``width`` x ``height``."""
    data = bytearray(encode(picture(8, 8).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    frame = data.index(b"\x2c")  # the image descriptor: left, top, width, height
    data[frame + 5 : frame + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def bmp_claiming(width: int, height: int) -> bytes:
    """A 24-bit BMP header claiming ``width`` x ``height`` with a few bytes of pixels."""
    pixels = b"\0" * 64
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    header = struct.pack("<2sIHHI", b"BM", 14 + len(dib) + len(pixels), 0, 0, 14 + len(dib))
    return header + dib + pixels


def png_with_text_bomb(inflated: int = 16 * 1024 * 1024) -> bytes:
    """A small PNG with a compressed text chunk that inflates to ``inflated`` bytes."""
    data = encode(picture(), "PNG")
    after_ihdr = len(PNG_SIGNATURE) + 8 + 13 + 4
    bomb = _png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"\0" * inflated, 9))
    return data[:after_ihdr] + bomb + data[after_ihdr:]


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def random_bytes(size: int = 4096) -> bytes:
    return os.urandom(size)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10"/></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
TEXT = b"hello, this is not an image\n"
# EPS makes Pillow run Ghostscript: a server must never try it on an upload.
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
