"""Running one batch on the worker thread: decode, assemble, predict, and keep each crop's
failure its own.

A crop that does not decode fails alone; a row whose probability is not finite fails alone; a
model call that raises is retried by halves, so that only the crops that fail on their own get an
error and the others get their answers.
"""

import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from app.errors import InferenceFailedError
from app.pipeline.crops import BatchFn, BatchObserver, Crop, Outcome, Preprocessor
from gennet.inference import merge_flips

log = logging.getLogger(__name__)


class BatchRunner:
    """Turns a batch of crops into their outcomes with ``predictor``."""

    def __init__(
        self,
        predictor: BatchFn,
        preprocessor: Preprocessor | None,
        decode_workers: int,
        observer: BatchObserver,
    ) -> None:
        self._predictor = predictor
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
        flags = np.array([item.tta for item in live], dtype=bool)
        batch = self._assemble(rows, flags)
        started = time.perf_counter()
        try:
            probs = self._infer(batch, flags)
        except Exception:
            results: list[float | BaseException]
            if len(live) == 1:
                results = [self._failed()]
            else:
                results = self._isolate(batch[: len(live)], flags)
        else:
            self._observer.batch_done(len(batch), time.perf_counter() - started)
            results = self._finite(probs)
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

    def _assemble(self, rows: list[tuple[Crop, np.ndarray]], flags: np.ndarray) -> np.ndarray:
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

    def _isolate(self, rows: np.ndarray, flags: np.ndarray) -> list[float | BaseException]:
        """Each crop's P(male) or its own error, after a call on all of them raised: retried by
        halves, down to single crops (``rows``: the crops, without their mirrors)."""
        log.warning("inference failed on a batch of %d crops; retrying by halves", len(rows))
        half = len(rows) // 2
        results: list[float | BaseException] = []
        for part in (slice(None, half), slice(half, None)):
            try:
                probs = self._infer(_with_mirrors(rows[part], flags[part]), flags[part])
            except Exception:
                if len(flags[part]) == 1:
                    results.append(self._failed())
                else:
                    results += self._isolate(rows[part], flags[part])
            else:
                results += self._finite(probs)
        return results

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

    def _infer(self, batch: np.ndarray, flags: np.ndarray) -> np.ndarray:
        """Predict, check the count, merge the mirrors back."""
        probs = np.asarray(self._predictor(batch), dtype=np.float32).reshape(-1)
        if len(probs) != len(batch):
            raise InferenceFailedError(f"model returned {len(probs)} outputs for {len(batch)} rows")
        return merge_flips(probs, flags)


def _with_mirrors(rows: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """``rows`` followed by the mirrors of the flagged ones (the layout of a batch)."""
    return np.concatenate([rows, rows[flags][..., ::-1]]) if flags.any() else rows
