"""The micro-batcher: concurrent requests share one model call, run on one worker thread.

A request is queued from the event loop with a put on a thread-safe queue: no task and no thread
hop of its own. One worker thread takes whatever is queued (up to ``max_batch_size`` requests),
decodes the encoded crops of that batch (on a small pool when there are cores to spare),
normalises them into one batch buffer, runs the model and hands every answer of the batch back to
the event loop in one call. A request therefore costs one queue put and a share of one loop
wake-up, instead of a decode-pool hop and a batch-thread hop with a wake-up each.

It never waits when idle: with ``max_wait_s == 0`` (the default, like Triton's zero queue delay) a
request that finds the worker idle runs at once; a positive ``max_wait_s`` lets the worker gather
more requests for that long once the first one is queued.

Every request carries its own future and a monotonic deadline. Requests whose client went away
(future cancelled) or whose deadline passed are dropped before they are decoded. A crop that does
not decode fails alone. TTA requests add their mirrored copy as extra rows of the same batch. A
failing model call fails only the requests of its batch.
"""

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from app.errors import (
    DeadlineExceededError,
    InferenceFailedError,
    NotReadyError,
    QueueFullError,
)
from gennet.inference import merge_flips

log = logging.getLogger(__name__)

BatchFn = Callable[[np.ndarray], np.ndarray]
Payload = bytes | np.ndarray  # an encoded image, or a preprocessed float32 (3, H, W) crop


class BatchObserver(Protocol):
    """What the batcher reports (``app.metrics.Metrics`` implements it); called on its thread."""

    def queue_waited(self, seconds: float) -> None: ...

    def batch_done(self, rows: int, seconds: float) -> None: ...

    def batch_failed(self) -> None: ...


class Preprocessor(Protocol):
    """Turns encoded crops into rows of the batch (``app.pipeline.decode.Decoder`` implements it)."""

    def decode(self, data: bytes) -> np.ndarray:
        """uint8 (H, W, 3) at the model's input size; raises for bad input."""
        ...

    def normalise(self, images: np.ndarray, out: np.ndarray) -> None:
        """uint8 (N, H, W, 3) -> float32 (N, 3, H, W), written into ``out``."""
        ...


class _NullObserver:
    def queue_waited(self, seconds: float) -> None:
        pass

    def batch_done(self, rows: int, seconds: float) -> None:
        pass

    def batch_failed(self) -> None:
        pass


@dataclass(eq=False, slots=True)
class _Item:
    payload: Payload
    tta: bool
    deadline: float
    future: asyncio.Future[float]
    timer: asyncio.TimerHandle | None = None
    enqueued: float = field(default_factory=time.monotonic)


Outcome = tuple[_Item, float | BaseException]
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
        max_queue: int = 256,
        decode_workers: int = 1,
        observer: BatchObserver | None = None,
    ) -> None:
        self._predictor = predictor
        self._preprocessor = preprocessor
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._max_queue = max_queue
        self._observer = observer or _NullObserver()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        # One decode thread would only add a hop: the worker decodes itself then.
        self._decode_pool = (
            ThreadPoolExecutor(decode_workers, thread_name_prefix="gennet-decode")
            if decode_workers > 1
            else None
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._accepting = False

    @property
    def depth(self) -> int:
        """Requests waiting for the model (not counting the batch running now)."""
        return self._queue.qsize()

    def start(self) -> None:
        """Start the worker thread; call from the event loop that will submit."""
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        self._thread = threading.Thread(target=self._work, name="gennet-batch", daemon=True)
        self._thread.start()
        self._accepting = True

    def enqueue(self, payload: Payload, tta: bool, deadline: float) -> asyncio.Future[float]:
        """Queue one crop; its future gets P(male), or the error, by ``deadline`` (monotonic).

        Raises at once when shutting down, already late or full. Cancelling the future drops the
        crop before it is decoded.
        """
        if not self._accepting or self._loop is None:
            raise NotReadyError("the service is shutting down")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceededError()
        if self._queue.qsize() >= self._max_queue:
            raise QueueFullError()
        item = _Item(payload, tta, deadline, self._loop.create_future())
        item.timer = self._loop.call_later(remaining, _expire, item.future)
        self._queue.put(item)
        return item.future

    async def submit(self, payload: Payload, tta: bool, deadline: float) -> float:
        """P(male) of one crop, answered by ``deadline`` (time.monotonic())."""
        return await self.enqueue(payload, tta, deadline)

    async def drain(self) -> None:
        """Stop accepting, answer everything already accepted, then stop the worker."""
        self._accepting = False
        if self._thread is not None and self._stopped is not None:
            self._queue.put(_STOP)
            await self._stopped
            self._thread = None
        if self._decode_pool is not None:
            self._decode_pool.shutdown(wait=True)

    # ---- the worker thread ----

    def _work(self) -> None:
        while (items := self._collect()) is not None:
            try:
                outcomes = self._run_batch(items)
            except Exception:  # a bug here must not kill the worker
                log.exception("batcher worker error")
                outcomes = [(item, InferenceFailedError()) for item in items]
            self._post(self._deliver, outcomes)
        self._post(_finish, self._stopped)

    def _collect(self) -> list[_Item] | None:
        """The next batch: whatever is queued, after waiting for a first request; None: stop."""
        first = self._queue.get()
        if first is _STOP:
            return None
        items = [first]
        until = time.monotonic() + self._max_wait_s
        while len(items) < self._max_batch_size:
            left = until - time.monotonic()
            try:
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # after this batch
                break
            items.append(item)
        return items

    def _run_batch(self, items: list[_Item]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        rows = self._rows(self._admit(items, outcomes), outcomes)
        if not rows:
            return outcomes
        batch_items = [item for item, _ in rows]
        flags = np.array([item.tta for item in batch_items], dtype=bool)
        started = time.perf_counter()
        try:
            probs = self._infer(self._assemble(rows, flags), flags)
        except Exception:
            log.exception("inference failed on a batch of %d requests", len(batch_items))
            self._observer.batch_failed()
            return outcomes + [(item, InferenceFailedError()) for item in batch_items]
        self._observer.batch_done(len(rows) + int(flags.sum()), time.perf_counter() - started)
        return outcomes + list(zip(batch_items, (float(p) for p in probs), strict=True))

    def _admit(self, items: list[_Item], outcomes: list[Outcome]) -> list[_Item]:
        """Drop requests nobody waits for any more and those past their deadline."""
        now = time.monotonic()
        live = []
        for item in items:
            if item.future.done():  # cancelled (client gone) or expired: nothing to do
                continue
            if now >= item.deadline:
                outcomes.append((item, DeadlineExceededError()))
                continue
            self._observer.queue_waited(now - item.enqueued)
            live.append(item)
        return live

    def _rows(self, live: list[_Item], outcomes: list[Outcome]) -> list[tuple[_Item, np.ndarray]]:
        """Each live request with its row source: a float32 (3, H, W) crop as submitted, or a
        decoded uint8 (H, W, 3) image. A crop that fails to decode fails alone."""
        encoded = [item for item in live if isinstance(item.payload, bytes)]
        decoded = dict(zip(encoded, self._decode_all(encoded), strict=True))
        rows = []
        for item in live:
            source = decoded.get(item, item.payload)
            if isinstance(source, np.ndarray):
                rows.append((item, source))
            elif isinstance(source, BaseException):
                outcomes.append((item, source))
        return rows

    def _assemble(self, rows: list[tuple[_Item, np.ndarray]], flags: np.ndarray) -> np.ndarray:
        """One float32 batch: every row normalised in place, then the mirrors of TTA rows."""
        first = rows[0][1]
        height, width = first.shape[:2] if first.dtype == np.uint8 else first.shape[1:]
        batch = np.empty((len(rows) + int(flags.sum()), 3, height, width), dtype=np.float32)
        for i, (_, source) in enumerate(rows):
            if source.dtype == np.uint8:
                assert self._preprocessor is not None
                self._preprocessor.normalise(source[None], batch[i : i + 1])
            else:
                batch[i] = source
        if flags.any():  # the layout gennet.inference.merge_flips undoes
            batch[len(rows) :] = batch[: len(rows)][flags][..., ::-1]
        return batch

    def _decode_all(self, items: list[_Item]) -> list[np.ndarray | BaseException | None]:
        if not items:
            return []
        if self._decode_pool is None or len(items) == 1:
            return [self._decode_one(item) for item in items]
        return list(self._decode_pool.map(self._decode_one, items))

    def _decode_one(self, item: _Item) -> np.ndarray | BaseException | None:
        """uint8 (H, W, 3), the crop's own error, or None when nobody waits for it any more
        (checked again here: a slow decode ahead of it may have outlived its deadline)."""
        if item.future.done():
            return None
        if self._preprocessor is None:
            return TypeError("encoded crops need a preprocessor")
        assert isinstance(item.payload, bytes)
        try:
            return self._preprocessor.decode(item.payload)
        except Exception as exc:  # reported to its own request only
            return exc

    def _infer(self, batch: np.ndarray, flags: np.ndarray) -> np.ndarray:
        """Predict, check, merge the mirrors back."""
        probs = np.asarray(self._predictor(batch), dtype=np.float32).reshape(-1)
        if len(probs) != len(batch):
            raise InferenceFailedError(f"model returned {len(probs)} outputs for {len(batch)} rows")
        if not np.isfinite(probs).all():
            raise InferenceFailedError("model returned non-finite probabilities")
        return merge_flips(probs, flags)

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
