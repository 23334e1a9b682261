"""The one place that refuses work for lack of room, and the one capacity formula.

Two things are bounded: inference *requests* in flight (uploading, parsing, queued or running),
and *images* in the service (queued for the batch worker, decoding, or in the running batch).
A request is refused before its body is read when the requests are at their limit (at the
connection under ``gennet serve``, ``app.http.server``; else by ``app.http.gate``); an image is
refused when the images are (``take_image``), before it is decoded. Refusing must cost far less
than answering, or overload turns into collapse: a refusal is a counter and a pre-encoded answer.
"""

from dataclasses import dataclass

from app.errors import QueueFullError
from app.settings import Settings


@dataclass(frozen=True)
class Capacity:
    """How much work the service holds at once."""

    images: int  # queued for the batch worker, decoding or in the running batch
    requests: int  # inference requests in flight
    window: int  # images of one request in the service at once: the rest wait their turn

    @classmethod
    def from_settings(cls, settings: Settings) -> "Capacity":
        images = settings.max_queue + settings.max_batch_size
        return cls(
            images=images,
            requests=settings.max_concurrent_requests or images,
            window=settings.max_batch_size,
        )


class Admission:
    """Counts requests and images in flight against :class:`Capacity`."""

    __slots__ = ("capacity", "images", "requests")

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.requests = 0
        self.images = 0

    def requests_full(self) -> bool:
        return self.requests >= self.capacity.requests

    def room_for_image(self) -> bool:
        return self.images < self.capacity.images

    def take_image(self) -> None:
        """Count one more image in the service; 503 queue_full when it holds its most."""
        if self.images >= self.capacity.images:
            raise QueueFullError()
        self.images += 1

    def release_image(self) -> None:
        self.images -= 1
