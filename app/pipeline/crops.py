"""What the micro-batcher's parts share: a crop on its way, its request's share, and the
contracts of the preprocessor and of the observer (metrics) the batcher reports to."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from gennet.errors import ImageTooLargeError

BatchFn = Callable[[np.ndarray], np.ndarray]
Payload = bytes | np.ndarray  # an encoded image, or a preprocessed float32 (3, H, W) crop


class BatchObserver(Protocol):
    """What the batcher reports (``app.metrics.Metrics`` implements it); called on its thread."""

    def queue_waited(self, seconds: float) -> None: ...

    def batch_done(self, rows: int, seconds: float) -> None: ...

    def batch_failed(self) -> None: ...


class Preprocessor(Protocol):
    """Turns encoded crops into rows of the batch (``app.pipeline.decode.Decoder``)."""

    def open(self, data: bytes) -> tuple[Any, int]:
        """The opened image and the pixels decoding it produces; raises for bad input."""
        ...

    def decode(self, image: Any) -> np.ndarray:
        """uint8 (H, W, 3) at the model's input size; raises for bad input."""
        ...

    def normalise(self, images: np.ndarray, out: np.ndarray) -> None:
        """uint8 (N, H, W, 3) -> float32 (N, 3, H, W), written into ``out``."""
        ...


class NullObserver:
    def queue_waited(self, seconds: float) -> None:
        pass

    def batch_done(self, rows: int, seconds: float) -> None:
        pass

    def batch_failed(self) -> None:
        pass


class Share:
    """One request's part of the batcher's work: its crops take turns with other requests'
    crops, and together may decode at most ``max_pixels`` (None: no budget)."""

    __slots__ = ("left", "max_pixels")

    def __init__(self, max_pixels: int | None = None) -> None:
        self.max_pixels = max_pixels
        self.left = max_pixels

    def spend(self, pixels: int) -> None:
        if self.left is None:
            return
        self.left -= pixels
        if self.left < 0:
            raise ImageTooLargeError(
                f"the request's images hold more than {self.max_pixels} pixels in all"
            )


@dataclass(eq=False, slots=True)
class Crop:
    """One crop on its way through the batcher."""

    payload: Payload
    mirror_around: float | None  # flip TTA near this threshold (gennet.inference.needs_mirror)
    deadline: float
    future: asyncio.Future[float]
    share: Share
    timer: asyncio.TimerHandle | None = None
    enqueued: float = field(default_factory=time.monotonic)
    image: Any = None  # the opened image, once priced
    pixels: int | None = None  # what decoding it costs, once priced


Outcome = tuple["Crop", float | BaseException]
