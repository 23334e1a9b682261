"""Running one batch on the worker thread: decode, assemble, predict, and keep each crop's
failure its own.

A crop that does not decode fails alone; a row whose probability is not finite fails alone; a
model call that raises is retried by halves, so that only the crops that fail on their own get an
error and the others get their answers. Flip TTA is a second look: after the batch's call, the TTA
crops whose answer is close to their threshold run again mirrored, in one more call.
"""

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from app.errors import InferenceFailedError
from app.pipeline.crops import BatchFn, BatchObserver, Crop, Outcome, Preprocessor
from gennet.inference import needs_mirror

log = logging.getLogger(__name__)


class BatchRunner:
    """Turns a batch of crops into their outcomes with ``predictor``."""

    def __init__(
        self,
        predictor: BatchFn,
        preprocessor: Preprocessor | None,
        decode_workers: int,
        observer: BatchObserver,
        tta_margin: float,
    ) -> None:
        self._predictor = predictor
        self._margin = tta_margin
        self._preprocessor = preprocessor
        self._observer = observer
        # One decode thread would only add a hop: the worker decodes itself then.
        self._decode_pool = (
            ThreadPoolExecutor(decode_workers, thread_name_prefix="gennet-decode")
            if decode_workers > 1
            else None
        )

    def close(self) -> None:
        if self._decode_pool is not None:
            self._decode_pool.shutdown(wait=True)

    def run(self, items: list[Crop]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        rows = self._rows(items, outcomes)
        if not rows:
            return outcomes
        live = [item for item, _ in rows]
        batch = self._assemble(rows)
        results = self._scores(batch)
        self._second_look(live, batch, results)
        return outcomes + list(zip(live, results, strict=True))

    def _rows(self, live: list[Crop], outcomes: list[Outcome]) -> list[tuple[Crop, np.ndarray]]:
        """Each crop with its row source: a float32 (3, H, W) crop as submitted, or a decoded
        uint8 (H, W, 3) image. A crop that fails to decode fails alone."""
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

    def _assemble(self, rows: list[tuple[Crop, np.ndarray]]) -> np.ndarray:
        """One float32 batch, every row normalised in place."""
        first = rows[0][1]
        height, width = first.shape[:2] if first.dtype == np.uint8 else first.shape[1:]
        batch = np.empty((len(rows), 3, height, width), dtype=np.float32)
        for i, (_, source) in enumerate(rows):
            if source.dtype == np.uint8:
                assert self._preprocessor is not None
                self._preprocessor.normalise(source[None], batch[i : i + 1])
            else:
                batch[i] = source
        return batch

    def _second_look(
        self, live: list[Crop], batch: np.ndarray, results: list[float | BaseException]
    ) -> None:
        """Flip TTA where it can change the answer: a TTA crop whose P(male) lies within the
        margin of its threshold runs again mirrored, in one more call, and gets the mean of both
        (``gennet.inference.needs_mirror``); a failure of its mirror is its own."""
        near = [
            row
            for row, (item, result) in enumerate(zip(live, results, strict=True))
            if isinstance(result, float) and needs_mirror(result, item.mirror_around, self._margin)
        ]
        if not near:
            return
        mirrors = np.empty((len(near), *batch.shape[1:]), dtype=np.float32)
        for mirror, row in zip(mirrors, near, strict=True):
            np.copyto(mirror, batch[row, :, :, ::-1])  # one copy, from a reversed view
        for row, second in zip(near, self._scores(mirrors), strict=True):
            first = results[row]
            assert isinstance(first, float)
            if isinstance(second, BaseException):
                results[row] = second
            else:  # in float32, as gennet.inference.merge_flips: the library's TTA, bit for bit
                results[row] = float((np.float32(first) + np.float32(second)) / 2)

    def _decode_all(self, items: list[Crop]) -> list[np.ndarray | BaseException | None]:
        if not items:
            return []
        if self._decode_pool is None or len(items) == 1:
            return [self._decode_one(item) for item in items]
        return list(self._decode_pool.map(self._decode_one, items))

    def _decode_one(self, item: Crop) -> np.ndarray | BaseException | None:
        """uint8 (H, W, 3), the crop's own error, or None when nobody waits for it any more
        (checked again here: a slow decode ahead of it may have outlived its deadline)."""
        if item.future.done():
            return None
        assert self._preprocessor is not None  # _price refused encoded crops without one
        try:
            return self._preprocessor.decode(item.image)
        except Exception as exc:  # reported to its own request only
            return exc
        finally:
            item.image = None  # the decoder's buffers go with it

    def _scores(self, rows: np.ndarray) -> list[float | BaseException]:
        """Each row's P(male) or its own error: one model call, and when it raises, the rows
        again by halves, down to single rows."""
        started = time.perf_counter()
        try:
            probs = self._infer(rows)
        except Exception:
            if len(rows) == 1:
                return [self._failed()]
            log.warning("inference failed on a batch of %d rows; retrying by halves", len(rows))
            half = len(rows) // 2
            return self._scores(rows[:half]) + self._scores(rows[half:])
        self._observer.batch_done(len(rows), time.perf_counter() - started)
        return self._finite(probs)

    def _failed(self) -> InferenceFailedError:
        """The error of a crop whose call failed on its own (call from the ``except`` block)."""
        log.exception("inference failed on a crop")
        self._observer.batch_failed()
        return InferenceFailedError()

    def _finite(self, probs: np.ndarray) -> list[float | BaseException]:
        """The probabilities; a non-finite one fails its crop alone."""
        results: list[float | BaseException] = []
        for prob in probs.tolist():
            if math.isfinite(prob):
                results.append(prob)
            else:
                self._observer.batch_failed()
                results.append(InferenceFailedError("the model gave no finite probability"))
        return results

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """Predict and check the count."""
        probs = np.asarray(self._predictor(batch), dtype=np.float32).reshape(-1)
        if len(probs) != len(batch):
            raise InferenceFailedError(f"model returned {len(probs)} outputs for {len(batch)} rows")
        return probs
