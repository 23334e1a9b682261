"""The admission gate ahead of FastAPI, arrival-based deadlines, and decoding on the batch thread."""

import asyncio
import gc
import io
import time

import httpx
import numpy as np
import pytest
from PIL import Image
from service_fakes import FakePredictor, client_for, fake_app, metric_value

from app.errors import DeadlineExceededError, QueueFullError
from app.http import uploads
from app.http.gate import ARRIVED, BODY_COMPLETE, arrival, body_complete, is_inference
from app.pipeline.admission import Admission, Capacity
from app.pipeline.batcher import MicroBatcher
from app.pipeline.decode import Decoder
from app.pipeline.service import GC_THRESHOLDS
from app.settings import Settings
from gennet.errors import InvalidImageError
from gennet.preprocess import PreprocessSpec, preprocess_bytes

pytestmark = pytest.mark.anyio


def crop(seed: int = 0, fmt: str = "JPEG") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 24, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt)
    return out.getvalue()


JPEG = {"Content-Type": "image/jpeg"}
CROP = crop()
SPEC = PreprocessSpec((32, 16), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/predict", True),
        ("POST", "/predict/batch", True),
        ("POST", "/v2/models/gennet/infer", True),
        ("GET", "/predict", False),
        ("GET", "/health", False),
        ("POST", "/model", False),
    ],
)
def test_only_inference_requests_are_gated(method: str, path: str, expected: bool) -> None:
    assert is_inference(method, path) is expected


def test_arrival_prefers_the_protocol_stamp() -> None:
    assert arrival({ARRIVED: 12.5}) == 12.5
    before = time.monotonic()
    assert arrival({}) >= before


async def test_gate_refuses_past_the_limit_with_our_503_body_unread() -> None:
    predictor = FakePredictor()
    app = fake_app(predictor, max_concurrent_requests=2, max_queue=64, request_timeout_ms=30_000)
    async with client_for(app) as client:
        predictor.gate.clear()
        held = [asyncio.create_task(client.post("/predict", content=CROP, headers=JPEG))]
        held.append(asyncio.create_task(client.post("/predict", content=CROP, headers=JPEG)))
        while app.state.service.admission.requests < 2:
            await asyncio.sleep(0.005)
        pulled = []

        async def body():  # type: ignore[no-untyped-def]
            pulled.append(1)
            yield CROP

        refused = await client.post("/predict", content=body(), headers=JPEG)
        v2_refused = await client.post("/v2/models/gennet/infer", json={"inputs": []})
        health = await client.get("/health")  # not an inference request: never gated
        predictor.gate.set()
        answers = await asyncio.gather(*held)
        metrics = (await client.get("/metrics")).text
    assert refused.status_code == 503
    assert refused.json() == {
        "error": {"code": "queue_full", "message": "the server is overloaded; retry later"}
    }
    assert refused.headers["Retry-After"] == "1"
    assert refused.headers["X-Request-ID"]
    assert pulled == []
    # a refusal speaks the protocol of the path it refuses
    assert v2_refused.status_code == 503 and v2_refused.headers["Retry-After"] == "1"
    assert v2_refused.json() == {"error": "the server is overloaded; retry later"}
    assert health.status_code == 200
    assert [a.status_code for a in answers] == [200, 200]
    assert metric_value(metrics, "gennet_rejections_total", reason="queue_full") == 2


async def test_deadline_counts_from_arrival_not_from_the_route() -> None:
    """A request stamped as having arrived long ago is already late when the route sees it."""
    app = fake_app(FakePredictor(), request_timeout_ms=1000)

    async def arrived_5s_ago(scope, receive, send):  # type: ignore[no-untyped-def]
        scope[ARRIVED] = time.monotonic() - 5.0  # as if it had waited 5 s for the event loop
        await app(scope, receive, send)

    transport = httpx.ASGITransport(app=arrived_5s_ago)
    async with (
        client_for(app) as client,
        httpx.AsyncClient(transport=transport, base_url="http://test") as stale_client,
    ):
        late = await stale_client.post("/predict", content=CROP, headers=JPEG)
        fresh = await client.post("/predict", content=CROP, headers=JPEG)
    assert late.status_code == 504 and late.json()["error"]["code"] == "deadline_exceeded"
    assert fresh.status_code == 200


async def test_a_bad_crop_fails_alone_when_decoded_in_the_batch() -> None:
    predictor = FakePredictor()
    predictor.gate.clear()
    decoder = Decoder(SPEC, max_pixels=10_000_000)
    batcher = MicroBatcher(predictor, preprocessor=decoder, max_batch_size=8, decode_workers=2)
    batcher.start()
    deadline = time.monotonic() + 10
    blocker = batcher.enqueue(CROP, False, deadline)
    while not predictor.calls:
        await asyncio.sleep(0.005)
    good = [crop(seed, "PNG") for seed in (1, 2, 3)]
    futures = [batcher.enqueue(data, False, deadline) for data in (good[0], b"junk", *good[1:])]
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


async def test_start_up_freezes_what_it_loaded_out_of_the_collectors_sight() -> None:
    """A full garbage collection under load must not walk the libraries and the model: it would
    pause the event loop (refusals took 100 ms at p99 before); nor should a young one run on
    about every request."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)  # Python's default
    assert gc.get_freeze_count() == 0
    async with client_for(fake_app(FakePredictor())) as client:
        assert (await client.get("/health/ready")).status_code == 200
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] >= 10_000


async def test_a_complete_body_is_read_without_the_deadline_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``complete`` (the protocol holds the whole body) skips the guard; otherwise a body that
    stops arriving is answered 504 at the deadline."""
    messages = [{"type": "http.request", "body": CROP[:10], "more_body": True}]
    messages.append({"type": "http.request", "body": CROP[10:], "more_body": False})

    async def buffered() -> dict:
        return messages.pop(0)

    async def stalled() -> dict:
        await asyncio.sleep(60)
        return {}

    scope = {"type": "http", "headers": [(b"content-type", b"image/jpeg")]}
    with monkeypatch.context() as patch:
        patch.setattr(uploads, "within", None)  # not called on this path
        body = await uploads.read_body(
            {**scope, BODY_COMPLETE: True}, buffered, 10**6, time.monotonic()
        )
    assert body == CROP
    with pytest.raises(DeadlineExceededError):
        await uploads.read_body(scope, stalled, 10**6, time.monotonic() + 0.05)


def test_the_scope_says_whether_the_body_is_complete() -> None:
    assert body_complete({BODY_COMPLETE: True}) is True
    assert body_complete({}) is False  # another server: read under the deadline guard


def test_full_queue_refuses_at_once() -> None:
    """The one capacity formula: the images in the service are bounded by max_queue +
    max_batch_size; one more is refused at once, and room comes back as images leave."""
    settings = Settings(max_queue=2, max_batch_size=1)
    admission = Admission(Capacity.from_settings(settings))
    assert admission.capacity == Capacity(images=3, requests=3, window=1, body_bytes=64 << 20)
    for _ in range(3):
        admission.take_image()
    assert not admission.room_for_image()
    with pytest.raises(QueueFullError):
        admission.take_image()
    admission.release_image()
    admission.take_image()
    assert admission.images == 3
    explicit = Capacity.from_settings(
        Settings(max_queue=2, max_batch_size=1, max_concurrent_requests=7)
    )
    assert explicit.requests == 7


def test_large_bodies_share_a_byte_budget_small_ones_always_pass() -> None:
    mib = 1 << 20
    admission = Admission(Capacity(images=8, requests=8, window=4, body_bytes=4 * mib))
    admission.take_body_bytes(3 * mib, 3 * mib)
    assert not admission.room_for_body(2 * mib)  # a large body waits for room: 503
    assert admission.room_for_body(10_000)  # an ordinary crop never does
    admission.take_body_bytes(10_000, 10_000)
    assert admission.room_for_body(100 * mib)  # over the whole budget: the body limit's 413
    with pytest.raises(QueueFullError):  # a chunked body counted as it arrives
        admission.take_body_bytes(mib, 2 * mib)
    admission.release_body_bytes(3 * mib)
    assert admission.room_for_body(2 * mib)


async def test_a_burst_of_large_bodies_cannot_shut_out_ordinary_crops() -> None:
    predictor = FakePredictor()
    mib = 1 << 20
    app = fake_app(predictor, max_upload_bytes=2 * mib, max_buffered_bytes=3 * mib)
    large = b"\xff\xd8" + b"\0" * (2 * mib - 2)  # a 2 MiB body (not a decodable image)
    async with client_for(app) as client:
        admission = app.state.service.admission
        predictor.gate.clear()
        held = asyncio.create_task(client.post("/predict", content=CROP, headers=JPEG))
        while not predictor.calls:
            await asyncio.sleep(0.005)
        admission.take_body_bytes(2 * mib, 2 * mib)  # as if a large body were being read
        refused = await client.post("/predict", content=large, headers=JPEG)
        ordinary = asyncio.create_task(client.post("/predict", content=CROP, headers=JPEG))
        await asyncio.sleep(0.05)
        predictor.gate.set()
        answers = await asyncio.gather(held, ordinary)
        admission.release_body_bytes(2 * mib)
        after = await client.post("/predict", content=large, headers=JPEG)
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "queue_full"
    assert [a.status_code for a in answers] == [200, 200]
    assert after.status_code == 400  # admitted once there is room (and then not an image)
    assert admission.body_bytes == 0
