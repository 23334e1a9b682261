"""Image bytes -> model input on a thread pool, so decoding never blocks the event loop.

It calls ``gennet.preprocess.preprocess_bytes``, the code path ``gennet evaluate`` uses, so served
and evaluated predictions are identical.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gennet.errors import GenNetError, InvalidImageError
from gennet.preprocess import PreprocessSpec, preprocess_bytes

log = logging.getLogger(__name__)


class Decoder:
    """Decodes, resizes and normalises uploads on ``workers`` threads."""

    def __init__(
        self,
        spec: PreprocessSpec,
        max_pixels: int,
        workers: int,
        observe: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._spec = spec
        self._max_pixels = max_pixels
        self._observe = observe
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="gennet-decode")

    async def __call__(self, data: bytes) -> np.ndarray:
        """float32 (3, H, W); raises InvalidImageError or ImageTooLargeError for bad input."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._decode, data)

    def _decode(self, data: bytes) -> np.ndarray:
        started = time.perf_counter()
        try:
            array = preprocess_bytes(data, self._spec, self._max_pixels)
        except GenNetError:
            raise
        except Exception as exc:  # a decoder bug on hostile input is still bad input, not a 500
            log.warning(
                "decoder raised %s on an upload; answered invalid_image", type(exc).__name__
            )
            raise InvalidImageError("not a decodable image") from exc
        self._observe(time.perf_counter() - started)
        return array

    def close(self) -> None:
        self._pool.shutdown(wait=True)
