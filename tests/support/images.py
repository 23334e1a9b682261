"""Generated crops: random pixels, the same for the same seed (no image file is committed)."""

import io

import numpy as np
from PIL import Image


def noise(size: tuple[int, int] = (24, 48), seed: int = 0) -> Image.Image:
    """An RGB picture of random pixels, ``size`` (W, H)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def noise_crop(seed: int = 0, fmt: str = "PNG", size: tuple[int, int] = (24, 48)) -> bytes:
    """``noise(size, seed)`` encoded as ``fmt``."""
    out = io.BytesIO()
    noise(size, seed).save(out, fmt)
    return out.getvalue()
