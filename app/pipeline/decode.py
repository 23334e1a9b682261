"""Encoded crop -> batch row, on the batcher's thread: ``gennet.preprocess``, plus metrics and
the rule that any decoder failure on an upload is bad input, never a 500.

It calls ``gennet.preprocess.decode_to_array`` and ``normalise``, the code path ``gennet evaluate``
uses, so served and evaluated predictions are identical.
"""

import logging
import time
from collections.abc import Callable

import numpy as np

from gennet.errors import GenNetError, InvalidImageError
from gennet.preprocess import PreprocessSpec, decode_to_array, normalise

log = logging.getLogger(__name__)


class Decoder:
    """Decodes and resizes uploads, normalises batches (the batcher's ``Preprocessor``)."""

    def __init__(
        self,
        spec: PreprocessSpec,
        max_pixels: int,
        observe: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._spec = spec
        self._max_pixels = max_pixels
        self._observe = observe

    def decode(self, data: bytes) -> np.ndarray:
        """uint8 (H, W, 3); raises InvalidImageError or ImageTooLargeError for bad input."""
        started = time.perf_counter()
        try:
            array = decode_to_array(data, self._spec, self._max_pixels)
        except GenNetError:
            raise
        except Exception as exc:  # a decoder bug on hostile input is still bad input, not a 500
            log.warning(
                "decoder raised %s on an upload; answered invalid_image", type(exc).__name__
            )
            raise InvalidImageError("not a decodable image") from exc
        self._observe(time.perf_counter() - started)
        return array

    def normalise(self, images: np.ndarray, out: np.ndarray) -> None:
        normalise(images, self._spec, out)
