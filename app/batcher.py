"""The micro-batcher: concurrent requests share one model call, off the event loop.

One worker task takes whatever is queued (up to ``max_batch_size`` requests) and runs it as one
batch on a dedicated thread. It never waits when idle: with ``max_wait_s == 0`` (the default, like
Triton's zero queue delay) a request that finds the worker idle runs at once; a positive
``max_wait_s`` lets the worker gather more requests for that long once the first one is queued.

Every request carries its own future and a monotonic deadline. Requests whose client went away
(future cancelled) or whose deadline passed are dropped before the model runs. TTA requests add
their mirrored copy as extra rows of the same batch. A failing batch fails only its own requests.
"""

import asyncio
import logging
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
from gennet.inference import merge_flips, with_flips

log = logging.getLogger(__name__)

BatchFn = Callable[[np.ndarray], np.ndarray]


class BatchObserver(Protocol):
    """What the batcher reports (``app.metrics.Metrics`` implements it)."""

    def queue_waited(self, seconds: float) -> None: ...

    def batch_done(self, rows: int, seconds: float) -> None: ...

    def batch_failed(self) -> None: ...


class _NullObserver:
    def queue_waited(self, seconds: float) -> None:
        pass

    def batch_done(self, rows: int, seconds: float) -> None:
        pass

    def batch_failed(self) -> None:
        pass


@dataclass(eq=False)
class _Item:
    array: np.ndarray
    tta: bool
    deadline: float
    future: asyncio.Future[float]
    enqueued: float = field(default_factory=time.monotonic)


class MicroBatcher:
    """Batches ``submit`` calls into calls of ``predictor`` (float32 (N,3,H,W) -> (N,))."""

    def __init__(
        self,
        predictor: BatchFn,
        *,
        max_batch_size: int = 16,
        max_wait_s: float = 0.0,
        max_queue: int = 256,
        observer: BatchObserver | None = None,
    ) -> None:
        self._predictor = predictor
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._observer = observer or _NullObserver()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queue)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="gennet-batch")
        self._worker: asyncio.Task[None] | None = None
        self._accepting = False

    @property
    def depth(self) -> int:
        """Requests waiting for the model (not counting the batch running now)."""
        return self._queue.qsize()

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="gennet-batcher")
        self._accepting = True

    async def submit(self, array: np.ndarray, tta: bool, deadline: float) -> float:
        """P(male) for one float32 (3, H, W) crop, answered by ``deadline`` (time.monotonic())."""
        if not self._accepting:
            raise NotReadyError("the service is shutting down")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceededError()
        item = _Item(array, tta, deadline, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            raise QueueFullError() from None
        try:
            async with asyncio.timeout(remaining):
                return await item.future
        except TimeoutError:
            # The timeout cancelled the future, so the worker skips it if it is still queued.
            raise DeadlineExceededError() from None

    async def drain(self) -> None:
        """Stop accepting, answer everything already accepted, then stop the worker."""
        self._accepting = False
        if self._worker is not None:
            await self._queue.join()
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            items = await self._collect()
            try:
                live = self._admit(items)
                if live:
                    await self._run_batch(live)
            except Exception:  # a bug here must not kill the worker
                log.exception("batcher worker error")
                _fail(items)
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _collect(self) -> list[_Item]:
        items = [await self._queue.get()]
        self._take_queued(items)
        until = time.monotonic() + self._max_wait_s
        while len(items) < self._max_batch_size and (left := until - time.monotonic()) > 0:
            try:
                async with asyncio.timeout(left):
                    items.append(await self._queue.get())
            except TimeoutError:
                break
            self._take_queued(items)
        return items

    def _take_queued(self, items: list[_Item]) -> None:
        while len(items) < self._max_batch_size and not self._queue.empty():
            items.append(self._queue.get_nowait())

    def _admit(self, items: list[_Item]) -> list[_Item]:
        """Drop requests nobody waits for any more and those past their deadline."""
        now = time.monotonic()
        live = []
        for item in items:
            if item.future.done():
                continue
            if now >= item.deadline:
                item.future.set_exception(DeadlineExceededError())
                continue
            self._observer.queue_waited(now - item.enqueued)
            live.append(item)
        return live

    async def _run_batch(self, items: list[_Item]) -> None:
        arrays = [item.array for item in items]
        flags = np.array([item.tta for item in items], dtype=bool)
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        try:
            probs, rows = await loop.run_in_executor(self._executor, self._infer, arrays, flags)
        except Exception:
            log.exception("inference failed on a batch of %d requests", len(items))
            self._observer.batch_failed()
            _fail(items)
            return
        self._observer.batch_done(rows, time.perf_counter() - started)
        for item, prob in zip(items, probs, strict=True):
            if not item.future.done():
                item.future.set_result(float(prob))

    def _infer(self, arrays: list[np.ndarray], flags: np.ndarray) -> tuple[np.ndarray, int]:
        """Runs on the batch thread: stack, add mirrors, predict, check, merge mirrors back."""
        batch = with_flips(np.stack(arrays), flags)
        probs = np.asarray(self._predictor(batch), dtype=np.float32).reshape(-1)
        if len(probs) != len(batch):
            raise InferenceFailedError(f"model returned {len(probs)} outputs for {len(batch)} rows")
        if not np.isfinite(probs).all():
            raise InferenceFailedError("model returned non-finite probabilities")
        return merge_flips(probs, flags), len(batch)


def _fail(items: list[_Item]) -> None:
    for item in items:
        if not item.future.done():
            item.future.set_exception(InferenceFailedError())
