"""The micro-batcher alone (no FastAPI), with a fake predictor; crops decoded on the batch thread."""

import asyncio
import time

import numpy as np
import pytest

from app.errors import DeadlineExceededError, InferenceFailedError, NotReadyError
from app.pipeline.batcher import MicroBatcher
from app.pipeline.decode import Decoder
from gennet.errors import InvalidImageError
from gennet.inference import merge_flips
from gennet.preprocess import PreprocessSpec, preprocess_bytes
from tests.support.fakes import FakePredictor, score_rows
from tests.support.images import noise_crop
from tests.support.waiting import until

pytestmark = pytest.mark.anyio

CROPS = np.random.default_rng(0).normal(size=(12, 3, 8, 4)).astype(np.float32)
SPEC = PreprocessSpec((32, 16), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


class CountingObserver:
    def __init__(self) -> None:
        self.rows: list[int] = []
        self.failed = 0
        self.waits: list[float] = []

    def queue_waited(self, seconds: float) -> None:
        self.waits.append(seconds)

    def batch_done(self, rows: int, seconds: float) -> None:
        self.rows.append(rows)

    def batch_failed(self) -> None:
        self.failed += 1


def later(seconds: float = 5.0) -> float:
    return time.monotonic() + seconds


def expected(i: int) -> float:
    return float(score_rows(CROPS[i : i + 1])[0])


async def started(predictor: FakePredictor, **kwargs: float) -> MicroBatcher:
    batcher = MicroBatcher(predictor, **kwargs)  # type: ignore[arg-type]
    batcher.start()
    return batcher


async def test_idle_request_runs_at_once() -> None:
    predictor = FakePredictor()
    batcher = await started(predictor)
    t0 = time.perf_counter()
    prob = await batcher.submit(CROPS[0], None, later())
    assert time.perf_counter() - t0 < 0.1  # far below any batching delay worth having
    assert prob == pytest.approx(expected(0))
    assert predictor.sizes == [1]
    await batcher.drain()


async def test_max_wait_gathers_requests_into_one_batch() -> None:
    predictor = FakePredictor()
    batcher = await started(predictor, max_wait_s=0.3)
    first = asyncio.create_task(batcher.submit(CROPS[0], None, later()))
    await asyncio.sleep(0.05)
    second = await batcher.submit(CROPS[1], None, later())
    assert (await first, second) == pytest.approx((expected(0), expected(1)))
    assert predictor.sizes == [2]
    await batcher.drain()


async def test_concurrent_requests_share_batches_without_mixups() -> None:
    predictor = FakePredictor(delay=0.02)
    batcher = await started(predictor, max_batch_size=4)
    probs = await asyncio.gather(*(batcher.submit(c, None, later()) for c in CROPS))
    assert probs == pytest.approx([expected(i) for i in range(len(CROPS))], abs=1e-6)
    assert max(predictor.sizes) > 1
    assert max(predictor.sizes) <= 4
    await batcher.drain()


async def test_tta_crop_near_its_threshold_gets_the_mean_with_its_mirror() -> None:
    """The batch runs once; then the TTA crop near its threshold runs mirrored, alone."""
    predictor = FakePredictor(delay=0.02)
    batcher = await started(predictor, tta_margin=0.25)
    predictor.gate.clear()
    blocker = asyncio.create_task(batcher.submit(CROPS[2], None, later()))
    await until(lambda: len(predictor.calls) == 1)
    tta = asyncio.create_task(batcher.submit(CROPS[0], expected(0) + 0.2, later()))
    plain = asyncio.create_task(batcher.submit(CROPS[1], None, later()))
    await until(lambda: batcher.depth == 2)
    predictor.gate.set()
    mirror = float(score_rows(CROPS[0:1, ..., ::-1])[0])
    # the mean in float32, bit for bit the library's TTA (gennet.inference.merge_flips)
    merged = merge_flips(np.array([expected(0), mirror], dtype=np.float32), np.array([True]))
    assert await tta == float(merged[0]) != pytest.approx(expected(0), abs=1e-4)
    assert await plain == pytest.approx(expected(1))
    await blocker
    assert predictor.sizes == [1, 2, 1]  # the blocker; plain + TTA crop; the mirror
    np.testing.assert_array_equal(predictor.calls[2][0], CROPS[0][..., ::-1])
    await batcher.drain()


@pytest.mark.parametrize("margin", [0.0, 0.25])
async def test_tta_crop_far_from_its_threshold_is_not_mirrored(margin: float) -> None:
    predictor = FakePredictor()
    batcher = await started(predictor, tta_margin=margin)
    around = expected(0) + 0.3  # beyond the margin
    assert await batcher.submit(CROPS[0], around, later()) == pytest.approx(expected(0))
    assert predictor.sizes == [1]
    await batcher.drain()


async def test_expired_request_never_reaches_the_model() -> None:
    predictor = FakePredictor()
    predictor.gate.clear()
    batcher = await started(predictor)
    running = asyncio.create_task(batcher.submit(CROPS[0], None, later()))
    await until(lambda: len(predictor.calls) == 1)
    with pytest.raises(DeadlineExceededError):
        await batcher.submit(CROPS[1], None, later(0.05))
    with pytest.raises(DeadlineExceededError):
        await batcher.submit(CROPS[2], None, time.monotonic() - 1)
    predictor.gate.set()
    await running
    assert await batcher.submit(CROPS[3], None, later()) == pytest.approx(expected(3))
    seen = np.concatenate(predictor.calls)
    assert not any(np.array_equal(row, CROPS[i]) for row in seen for i in (1, 2))
    await batcher.drain()


async def test_cancelled_request_is_skipped() -> None:
    predictor = FakePredictor()
    predictor.gate.clear()
    batcher = await started(predictor)
    running = asyncio.create_task(batcher.submit(CROPS[0], None, later()))
    await until(lambda: len(predictor.calls) == 1)
    gone = asyncio.create_task(batcher.submit(CROPS[1], None, later()))
    kept = asyncio.create_task(batcher.submit(CROPS[2], None, later()))
    await until(lambda: batcher.depth == 2)
    gone.cancel()
    predictor.gate.set()
    assert await kept == pytest.approx(expected(2))
    await running
    assert predictor.sizes == [1, 1]
    assert np.array_equal(predictor.calls[1][0], CROPS[2])
    await batcher.drain()


async def test_failing_batch_fails_only_its_requests() -> None:
    predictor = FakePredictor()
    observer = CountingObserver()
    batcher = await started(predictor, observer=observer)  # type: ignore[arg-type]
    predictor.fail_next = 1
    with pytest.raises(InferenceFailedError):
        await batcher.submit(CROPS[0], None, later())
    assert await batcher.submit(CROPS[1], None, later()) == pytest.approx(expected(1))
    assert observer.failed == 1
    assert observer.rows == [1]
    await batcher.drain()


async def test_output_count_mismatch_fails_the_batch() -> None:
    predictor = FakePredictor()
    batcher = await started(predictor)
    predictor.transform = lambda batch: score_rows(batch)[:-1]
    with pytest.raises(InferenceFailedError):
        await batcher.submit(CROPS[0], 0.5, later())
    predictor.transform = score_rows
    assert await batcher.submit(CROPS[0], None, later()) == pytest.approx(expected(0))
    await batcher.drain()


async def test_drain_answers_accepted_requests_then_refuses() -> None:
    predictor = FakePredictor()
    predictor.gate.clear()
    batcher = await started(predictor, max_batch_size=2)
    accepted = [asyncio.create_task(batcher.submit(c, None, later())) for c in CROPS[:5]]
    await until(lambda: len(predictor.calls) == 1)
    draining = asyncio.create_task(batcher.drain())
    await asyncio.sleep(0.01)
    with pytest.raises(NotReadyError):
        await batcher.submit(CROPS[5], None, later())
    assert not draining.done()
    predictor.gate.set()
    probs = await asyncio.gather(*accepted)
    await draining
    assert probs == pytest.approx([expected(i) for i in range(5)], abs=1e-6)
    assert sum(predictor.sizes) == 5


async def test_a_bad_crop_fails_alone_when_decoded_in_the_batch() -> None:
    predictor = FakePredictor()
    predictor.gate.clear()
    decoder = Decoder(SPEC, max_pixels=10_000_000)
    batcher = MicroBatcher(predictor, preprocessor=decoder, max_batch_size=8, decode_workers=2)
    batcher.start()
    deadline = time.monotonic() + 10
    blocker = batcher.enqueue(noise_crop(fmt="JPEG"), None, deadline)
    while not predictor.calls:
        await asyncio.sleep(0.005)
    good = [noise_crop(seed) for seed in (1, 2, 3)]
    futures = [batcher.enqueue(data, None, deadline) for data in (good[0], b"junk", *good[1:])]
    while batcher.depth < 4:
        await asyncio.sleep(0.005)
    predictor.gate.set()
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    await blocker
    await batcher.drain()
    assert isinstance(outcomes[1], InvalidImageError)
    assert predictor.sizes == [1, 3]  # the three good crops in one model call
    expected = np.stack([preprocess_bytes(data, SPEC) for data in good])
    np.testing.assert_array_equal(predictor.calls[1], expected)  # rows in order, exact values
    assert [outcomes[i] for i in (0, 2, 3)] == pytest.approx(list(predictor.transform(expected)))
