"""The micro-batcher: concurrent crops share one model call, run on one worker thread.

A crop is queued from the event loop with a put on a thread-safe queue: no task and no thread hop
of its own. One worker thread lines the queued crops up by request, composes a batch, decodes its
encoded crops (on a small pool when there are cores to spare), normalises them into one batch
buffer, runs the model and hands every answer back to the event loop in one call.

It never waits when idle: with ``max_wait_s == 0`` (the default, like Triton's zero queue delay) a
crop that finds the worker idle runs at once; a positive ``max_wait_s`` lets the worker gather more
crops for that long once the first one is queued.

What one request sends cannot cost another request its answer: requests take turns and crops are
priced before they are decoded (``app.pipeline.turns``), and failures stay with their crop
(``app.pipeline.runner``).

Every crop carries its own future and a monotonic deadline; crops whose client went away (future
cancelled) or whose deadline passed are dropped before they are decoded. A TTA crop close to its
threshold gets a second, mirrored look after the batch's call (``app.pipeline.runner``).
"""

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

from app.errors import DeadlineExceededError, InferenceFailedError, NotReadyError
from app.pipeline.crops import (
    BatchFn,
    BatchObserver,
    Crop,
    NullObserver,
    Outcome,
    Payload,
    Preprocessor,
    Share,
)
from app.pipeline.runner import BatchRunner
from app.pipeline.turns import Turns
from gennet.inference import DEFAULT_TTA_MARGIN

log = logging.getLogger(__name__)

_STOP = None  # queued by drain(): the worker answers what is ahead of it, then exits


class MicroBatcher:
    """Batches ``submit`` calls into calls of ``predictor`` (float32 (N,3,H,W) -> (N,))."""

    def __init__(
        self,
        predictor: BatchFn,
        *,
        preprocessor: Preprocessor | None = None,
        max_batch_size: int = 16,
        max_wait_s: float = 0.0,
        max_batch_pixels: int = 2**62,
        decode_workers: int = 1,
        observer: BatchObserver | None = None,
        tta_margin: float = DEFAULT_TTA_MARGIN,
    ) -> None:
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._max_batch_pixels = max_batch_pixels
        observer = observer or NullObserver()
        self._queue: queue.SimpleQueue[Crop | None] = queue.SimpleQueue()
        self._turns = Turns(preprocessor, observer.queue_waited)  # the worker's
        self._runner = BatchRunner(predictor, preprocessor, decode_workers, observer, tta_margin)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._accepting = False

    @property
    def depth(self) -> int:
        """Crops waiting for the model (not counting the batch running now)."""
        return self._queue.qsize() + self._turns.waiting

    def start(self) -> None:
        """Start the worker thread; call from the event loop that will submit."""
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        self._thread = threading.Thread(target=self._work, name="gennet-batch", daemon=True)
        self._thread.start()
        self._accepting = True

    def enqueue(
        self,
        payload: Payload,
        mirror_around: float | None,
        deadline: float,
        share: Share | None = None,
    ) -> asyncio.Future[float]:
        """Queue one crop of the request ``share`` (None: a request of its own); its future
        gets P(male), or the error, by ``deadline`` (monotonic). ``mirror_around``: the crop's
        decision threshold when it asks for flip TTA, else None.

        Raises at once when shutting down or already late (room is ``app.pipeline.admission``'s
        business). Cancelling the future drops the crop before it is decoded.
        """
        if not self._accepting or self._loop is None:
            raise NotReadyError("the service is shutting down")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceededError()
        item = Crop(payload, mirror_around, deadline, self._loop.create_future(), share or Share())
        item.timer = self._loop.call_later(remaining, _expire, item.future)
        self._queue.put(item)
        return item.future

    async def submit(self, payload: Payload, mirror_around: float | None, deadline: float) -> float:
        """P(male) of one crop, answered by ``deadline`` (time.monotonic())."""
        return await self.enqueue(payload, mirror_around, deadline)

    async def drain(self) -> None:
        """Stop accepting, answer everything already accepted, then stop the worker."""
        self._accepting = False
        if self._thread is not None and self._stopped is not None:
            self._queue.put(_STOP)
            await self._stopped
            self._thread = None
        self._runner.close()

    # ---- the worker thread: lining up and composing batches ----

    def _work(self) -> None:
        while self._wait_for_work():
            items, outcomes = self._turns.compose(self._max_batch_size, self._max_batch_pixels)
            try:
                outcomes += self._runner.run(items)
            except Exception:  # a bug here must not kill the worker
                log.exception("batcher worker error")
                outcomes += [(item, InferenceFailedError()) for item in items]
            self._post(self._deliver, outcomes)
        self._post(_finish, self._stopped)

    def _wait_for_work(self) -> bool:
        """Line up what is queued, after waiting for a first crop; False: stop."""
        if not self._turns.waiting:
            first = None if self._stopping else self._queue.get()
            if not self._line_up(first):
                return False
            until = time.monotonic() + self._max_wait_s
            while self._turns.waiting < self._max_batch_size:
                left = until - time.monotonic()
                try:
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if not self._line_up(item):
                    break
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return True
            self._line_up(item)

    def _line_up(self, item: Crop | None) -> bool:
        if item is None:
            self._stopping = True  # answer every crop lined up, then stop
            return False
        self._turns.line_up(item)
        return True

    def _post(self, callback: Callable[..., None], *args: object) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(callback, *args)

    # ---- back on the event loop ----

    @staticmethod
    def _deliver(outcomes: list[Outcome]) -> None:
        for item, outcome in outcomes:
            if item.timer is not None:
                item.timer.cancel()
            if item.future.done():
                continue
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)


def _expire(future: asyncio.Future[float]) -> None:
    if not future.done():
        future.set_exception(DeadlineExceededError())


def _finish(stopped: asyncio.Future[None] | None) -> None:
    if stopped is not None and not stopped.done():
        stopped.set_result(None)
