"""Encoded crop -> batch row, on the batcher's thread: ``gennet.preprocess``, plus metrics and
the rule that any decoder failure on an upload is bad input, never a 500.

Decoding is split in two so that the batcher can price a crop before paying for it: ``open``
reads the header (the declared size, checked against the pixel cap) and says how many pixels
decoding will produce; ``decode`` does the work. Both call ``gennet.preprocess``, the code path
``gennet evaluate`` uses, so served and evaluated predictions are identical.
"""

import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np
from PIL import Image

from gennet.errors import GenNetError, InvalidImageError
from gennet.preprocess import (
    PreprocessSpec,
    normalise,
    open_image,
    to_input_array,
    upright_rgb,
)

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class Decoder:
    """Opens, decodes and resizes uploads, normalises batches (the batcher's ``Preprocessor``)."""

    def __init__(
        self,
        spec: PreprocessSpec,
        max_pixels: int,
        observe: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._spec = spec
        self._max_pixels = max_pixels
        self._observe = observe

    def open(self, data: bytes) -> tuple[Image.Image, int]:
        """The opened image and the pixels decoding it will produce; raises InvalidImageError
        or ImageTooLargeError for bad input."""
        image = _as_bad_input(open_image, data, self._spec.input_size, self._max_pixels)
        width, height = image.size
        return image, width * height

    def decode(self, image: Image.Image) -> np.ndarray:
        """uint8 (H, W, 3) at the model's input size; raises InvalidImageError."""
        started = time.perf_counter()
        rgb = _as_bad_input(upright_rgb, image)
        array = to_input_array(rgb, self._spec.input_size)
        self._observe(time.perf_counter() - started)
        return array

    def normalise(self, images: np.ndarray, out: np.ndarray) -> None:
        normalise(images, self._spec, out)


def _as_bad_input(step: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    try:
        return step(*args, **kwargs)
    except GenNetError:
        raise
    except Exception as exc:  # a decoder bug on hostile input is still bad input, not a 500
        log.warning("decoder raised %s on an upload; answered invalid_image", type(exc).__name__)
        raise InvalidImageError("not a decodable image") from exc
