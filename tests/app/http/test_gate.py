"""The admission gate ahead of FastAPI (``app.http.gate``): which requests it gates, the arrival
stamp deadlines count from, refusals past the limit with the body unread, and the byte budget."""

import asyncio
import time

import httpx
import pytest

from app.http.gate import ARRIVED, BODY_COMPLETE, arrival, body_complete, is_inference
from tests.support.answers import JPEG
from tests.support.fakes import FakePredictor, client_for, fake_app
from tests.support.images import noise_crop
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio

CROP = noise_crop(fmt="JPEG")


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


def test_the_scope_says_whether_the_body_is_complete() -> None:
    assert body_complete({BODY_COMPLETE: True}) is True
    assert body_complete({}) is False  # another server: read under the deadline guard


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
