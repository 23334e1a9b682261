"""Overload, short and deterministic: a tiny queue and a blocked model or decoder.

The excess is answered 503 with Retry-After while the model (or the decoder) is still blocked, so
"at once" is not a timing guess; what was admitted succeeds once the model moves again. A request
whose deadline passes while it waits for a decode thread is answered 504 while the decoder is
still blocked, and its decode never runs.
"""

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from gennet.preprocess import upright_rgb
from tests.support import payloads as p
from tests.support.answers import JPEG
from tests.support.fakes import FakePredictor, client_for, fake_app
from tests.support.prometheus import metric_value
from tests.support.waiting import until

pytestmark = pytest.mark.anyio

CROP = p.encode(p.picture(), "JPEG")
MAX_QUEUE, BATCH = 2, 1
ADMITTED = MAX_QUEUE + BATCH  # waiting (decode or queue) + the batch being run


async def timed_post(client: httpx.AsyncClient) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.post("/predict", content=CROP, headers=JPEG)
    return response, time.monotonic() - started


async def test_excess_gets_503_at_once_and_the_admitted_succeed() -> None:
    predictor = FakePredictor()
    app = fake_app(predictor, max_queue=MAX_QUEUE, max_batch_size=BATCH, request_timeout_ms=30_000)
    async with client_for(app) as client:
        predictor.gate.clear()  # the model is stuck on its first batch
        tasks = [asyncio.create_task(timed_post(client)) for _ in range(10)]
        await until(lambda: sum(task.done() for task in tasks) == 10 - ADMITTED)
        await asyncio.sleep(0.05)
        assert sum(task.done() for task in tasks) == 10 - ADMITTED  # the admitted still wait
        refused = [task.result() for task in tasks if task.done()]
        predictor.gate.set()
        answers = [await task for task in tasks]
        after, _ = await timed_post(client)
        metrics = (await client.get("/metrics")).text
    statuses = sorted(response.status_code for response, _ in answers)
    assert statuses == [200] * ADMITTED + [503] * (10 - ADMITTED)
    for response, seconds in refused:
        assert response.status_code == 503 and response.json()["error"]["code"] == "queue_full"
        assert int(response.headers["Retry-After"]) >= 1
        assert seconds < 1.0  # answered while the model was blocked: no waiting on it
    assert after.status_code == 200
    assert metric_value(metrics, "gennet_rejections_total", reason="queue_full") == 10 - ADMITTED
    assert metric_value(metrics, "gennet_queue_depth") == 0


async def test_deadline_covers_the_decode_queue_and_drops_waiting_decodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, decoded = threading.Event(), []

    def stuck_decoder(image: Image.Image) -> Image.Image:
        decoded.append(image)
        gate.wait(timeout=10)
        return upright_rgb(image)

    monkeypatch.setattr("app.pipeline.decode.upright_rgb", stuck_decoder)
    app = fake_app(
        FakePredictor(),
        max_queue=MAX_QUEUE,
        max_batch_size=BATCH,
        decode_workers=1,
        request_timeout_ms=300,
    )
    async with client_for(app) as client:
        answers = await asyncio.gather(*(timed_post(client) for _ in range(6)))
        assert not gate.is_set()  # every answer came while the decoder was still stuck
        gate.set()
        after, _ = await timed_post(client)
        metrics = (await client.get("/metrics")).text
    codes = sorted(response.json()["error"]["code"] for response, _ in answers)
    assert codes == ["deadline_exceeded"] * ADMITTED + ["queue_full"] * (6 - ADMITTED)
    assert all(seconds < 5 for _, seconds in answers)
    assert len(decoded) == 2  # the stuck one and the request after; the queued ones never ran
    assert after.status_code == 200
    assert metric_value(metrics, "gennet_rejections_total", reason="deadline_exceeded") == ADMITTED


async def test_a_full_service_refuses_before_reading_the_upload() -> None:
    pulled = []

    async def body() -> AsyncIterator[bytes]:
        pulled.append(len(CROP))
        yield CROP

    predictor = FakePredictor()
    app = fake_app(predictor, max_queue=MAX_QUEUE, max_batch_size=BATCH, request_timeout_ms=30_000)
    async with client_for(app) as client:
        predictor.gate.clear()
        admitted = [asyncio.create_task(timed_post(client)) for _ in range(ADMITTED)]
        await until(lambda: app.state.service.queue_depth == MAX_QUEUE)
        refused = [
            await client.post(path, content=body(), headers=JPEG)
            for path in ("/predict", "/predict/batch")
        ]
        predictor.gate.set()
        answers = [response for response, _ in await asyncio.gather(*admitted)]
    assert [r.status_code for r in refused] == [503, 503]
    assert pulled == []
    assert [r.status_code for r in answers] == [200] * ADMITTED
