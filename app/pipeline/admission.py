"""The one place that refuses work for lack of room, and the one capacity formula.

Three things are bounded: inference *requests* in flight (uploading, parsing, queued or running),
the *bytes* of their bodies held in memory, and *images* in the service (queued for the batch
worker, decoding, or in the running batch).
A request is refused before its body is read when the requests are at their limit (at the
connection under ``gennet serve``, ``app.http.server``; else by ``app.http.gate``); an image is
refused when the images are (``take_image``), before it is decoded. Refusing must cost far less
than answering, or overload turns into collapse: a refusal is a counter and a pre-encoded answer.
"""

from dataclasses import dataclass

from app.errors import QueueFullError
from app.settings import Settings

# A body this small (crops are tens of KB) is never refused for the bytes others hold: a burst of
# large bodies must not shut out the ordinary requests queued beside it.
SMALL_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class Capacity:
    """How much work the service holds at once."""

    images: int  # queued for the batch worker, decoding or in the running batch
    requests: int  # inference requests in flight
    window: int  # images of one request in the service at once: the rest wait their turn
    body_bytes: int  # request bodies held in memory, over all requests in flight

    @classmethod
    def from_settings(cls, settings: Settings) -> "Capacity":
        images = settings.max_queue + settings.max_batch_size
        return cls(
            images=images,
            requests=settings.max_concurrent_requests or images,
            window=settings.max_batch_size,
            body_bytes=settings.max_buffered_bytes,
        )


class Admission:
    """Counts requests and images in flight against :class:`Capacity`."""

    __slots__ = ("body_bytes", "capacity", "images", "requests")

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.requests = 0
        self.images = 0
        self.body_bytes = 0

    def room_for_body(self, size: int) -> bool:
        """Whether a body of ``size`` bytes may be held now: a small one always may (the
        requests limit bounds those), a larger one while the bodies held stay within the budget
        (one larger than the whole budget is the body limit's to refuse, with 413)."""
        return (
            size <= SMALL_BODY_BYTES
            or size > self.capacity.body_bytes
            or self.body_bytes + size <= self.capacity.body_bytes
        )

    def take_body_bytes(self, size: int, body_so_far: int) -> None:
        """Count ``size`` more bytes of a body now ``body_so_far`` bytes long; 503 queue_full
        when that body is no longer small and the bodies held would pass the budget."""
        if body_so_far > SMALL_BODY_BYTES and self.body_bytes + size > self.capacity.body_bytes:
            raise QueueFullError("the server holds its most request bytes; retry later")
        self.body_bytes += size

    def release_body_bytes(self, size: int) -> None:
        self.body_bytes -= size

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
