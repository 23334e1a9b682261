"""Fair turns: the batch worker's crops, lined up by request, composed into batches.

Each request's crops wait in their own line (its :class:`~app.pipeline.crops.Share`); a batch takes
one crop from each line in turn, so a request of 64 crops does not hold the crops queued after it.
A crop is priced before it is paid for: its header is read (the pixels decoding it produces) and
charged to its request's pixel budget, and a batch decodes at most ``max_pixels`` beyond its first
crop, so a few large images cannot delay every crop batched with them.
"""

import time
from collections import deque
from collections.abc import Callable

from app.errors import DeadlineExceededError
from app.pipeline.crops import Crop, Outcome, Preprocessor, Share


class Turns:
    """Crops by request, in turn; used by the batch worker thread only."""

    def __init__(
        self, preprocessor: Preprocessor | None, queue_waited: Callable[[float], None]
    ) -> None:
        self._preprocessor = preprocessor
        self._queue_waited = queue_waited
        self._lines: dict[Share, deque[Crop]] = {}
        self.waiting = 0  # crops lined up

    def line_up(self, crop: Crop) -> None:
        line = self._lines.get(crop.share)
        if line is None:
            self._lines[crop.share] = line = deque()
        line.append(crop)
        self.waiting += 1

    def compose(self, max_crops: int, max_pixels: int) -> tuple[list[Crop], list[Outcome]]:
        """The next batch: one crop per request in turn, up to the batch size and the batch's
        pixel budget (``max_pixels`` beyond its first crop); and the outcomes of crops dropped on the way (late, or refused at their
        price). A request served last time goes to the back of the turn."""
        batch: list[Crop] = []
        outcomes: list[Outcome] = []
        pixels = 0
        now = time.monotonic()
        took = True
        while took and self._lines and len(batch) < max_crops:
            took = False
            for share in list(self._lines):
                if len(batch) == max_crops:
                    break
                item = self._lines[share][0]
                if item.future.done():  # cancelled (client gone) or expired: nothing to do
                    self._pop(share)
                    continue
                if now >= item.deadline:
                    self._pop(share)
                    outcomes.append((item, DeadlineExceededError()))
                    continue
                price = self._price(item)
                if isinstance(price, BaseException):
                    self._pop(share)
                    outcomes.append((item, price))
                    continue
                if batch and pixels + price > max_pixels:
                    continue  # its turn comes in a later batch
                if not batch:
                    price = 0  # the first crop is always taken: the budget is for the others
                self._pop(share, rotate=True)
                self._queue_waited(now - item.enqueued)
                batch.append(item)
                pixels += price
                took = True
        return batch, outcomes

    def _pop(self, share: Share, rotate: bool = False) -> None:
        """Take the first crop of ``share``'s line; ``rotate``: its request goes to the back."""
        line = self._lines[share]
        line.popleft()
        self.waiting -= 1
        if not line:
            del self._lines[share]
        elif rotate:
            self._lines[share] = self._lines.pop(share)

    def _price(self, item: Crop) -> int | BaseException:
        """The pixels decoding ``item`` costs (opening it once, and charging its request)."""
        if item.pixels is not None:
            return item.pixels
        if not isinstance(item.payload, bytes):
            item.pixels = 0  # already preprocessed: nothing to decode
            return 0
        if self._preprocessor is None:
            return TypeError("encoded crops need a preprocessor")
        try:
            item.image, pixels = self._preprocessor.open(item.payload)
            item.share.spend(pixels)
        except Exception as exc:  # reported to its own request only
            return exc
        item.pixels = pixels
        return pixels
