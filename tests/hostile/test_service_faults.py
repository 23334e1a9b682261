"""Faults inside the service: a failing batch, a broken model output, clients that leave early."""

import asyncio
import signal
from collections.abc import Callable

import numpy as np
import pytest
import uvicorn
from starlette.types import Message

from app.http.server import DrainingServer
from tests.support import payloads as p
from tests.support.answers import JPEG
from tests.support.asgi import post_scope
from tests.support.fakes import FakePredictor, client_for, fake_app, score_rows
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio

CROP = p.encode(p.picture(), "JPEG")


def fail_on_rows(rows: int) -> Callable[[np.ndarray], np.ndarray]:
    """A model that raises on batches of exactly ``rows`` rows and answers the others."""

    def transform(batch: np.ndarray) -> np.ndarray:
        if len(batch) == rows:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return score_rows(batch)

    return transform


async def test_a_failing_batch_is_retried_by_halves_and_its_requests_answered() -> None:
    predictor = FakePredictor()
    app = fake_app(predictor, max_batch_size=4)
    async with client_for(app) as client:
        predictor.calls.clear()  # the warm-up's
        predictor.transform = fail_on_rows(3)
        predictor.gate.clear()
        first = asyncio.create_task(client.post("/predict", content=CROP, headers=JPEG))
        while not predictor.calls:  # the first request holds the model
            await asyncio.sleep(0.005)
        doomed = [
            asyncio.create_task(client.post("/predict", content=CROP, headers=JPEG))
            for _ in range(3)
        ]
        while app.state.service.queue_depth < 3:
            await asyncio.sleep(0.005)
        predictor.gate.set()
        answers = await asyncio.gather(first, *doomed)
        after = await client.post("/predict", content=CROP, headers=JPEG)
        metrics = (await client.get("/metrics")).text
    # The batch of 3 raised; its halves (1 and 2 crops) ran: no crop fails on its own, so every
    # request is answered (test_isolation.py: a crop that does fail alone gets a 500).
    assert [r.status_code for r in answers] == [200, 200, 200, 200]
    assert after.status_code == 200
    assert predictor.sizes == [1, 3, 1, 2, 1]
    assert metric_value(metrics, "gennet_inference_errors_total") == 0
    assert metric_value(metrics, "gennet_rejections_total", reason="inference_failed") == 0


@pytest.mark.parametrize(
    "output",
    [
        lambda b: score_rows(b)[:-1],
        lambda b: score_rows(b) * np.nan,
        lambda b: score_rows(b)[:, None] * [1, 1],
    ],
    ids=["too-few-outputs", "nan", "too-many-outputs"],
)
async def test_a_broken_model_output_is_inference_failed(
    output: Callable[[np.ndarray], np.ndarray],
) -> None:
    predictor = FakePredictor()
    async with client_for(fake_app(predictor)) as client:
        predictor.transform = output
        broken = await client.post("/predict", content=CROP, headers=JPEG)
        predictor.transform = score_rows
        after = await client.post("/predict", content=CROP, headers=JPEG)
        metrics = (await client.get("/metrics")).text
    assert broken.status_code == 500 and broken.json()["error"]["code"] == "inference_failed"
    assert after.status_code == 200
    assert metric_value(metrics, "gennet_inference_errors_total") == 1


MULTIPART_HEAD = (
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n\r\n"
)


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/predict", "image/jpeg", CROP),
        ("/predict", "multipart/form-data; boundary=b", MULTIPART_HEAD + CROP),
        (
            "/predict/batch",
            "multipart/form-data; boundary=b",
            MULTIPART_HEAD.replace(b"file", b"files") + CROP,
        ),
    ],
    ids=["raw", "multipart", "batch"],
)
async def test_a_client_gone_mid_upload_costs_nothing_and_logs_no_error(
    path: str, content_type: str, body: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    predictor = FakePredictor()
    app = fake_app(predictor, log_level="INFO")
    half = body[: len(body) // 2]
    messages = iter([{"type": "http.request", "body": half, "more_body": True}])
    sent: list[Message] = []

    async def receive() -> Message:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: Message) -> None:
        sent.append(message)

    async with client_for(app) as client:
        predictor.calls.clear()
        await app(post_scope({"Content-Type": content_type}, body, path), receive, send)
        after = await client.post("/predict", content=CROP, headers=JPEG)
        metrics = (await client.get("/metrics")).text
    log = capsys.readouterr().err
    assert predictor.sizes == [1]  # only the request after
    assert metric_value(metrics, "gennet_rejections_total", reason="client_disconnected") == 1
    assert metric_value(metrics, "gennet_requests_total", route=path, status="500") == 0
    assert " ERROR " not in log and "Traceback" not in log
    assert f"POST {path} 499" in log  # one quiet access line
    assert after.status_code == 200


async def test_a_stop_signal_turns_readiness_503_at_once_and_finishes_the_accepted() -> None:
    predictor = FakePredictor()
    app = fake_app(predictor)
    async with client_for(app) as client:
        server = DrainingServer(uvicorn.Config(app), app.state.service)
        predictor.calls.clear()  # the warm-up's
        predictor.gate.clear()
        accepted = asyncio.create_task(client.post("/predict", content=CROP, headers=JPEG))
        while not predictor.calls:  # the accepted request holds the model
            await asyncio.sleep(0.005)
        server.handle_exit(signal.SIGTERM, None)  # what the signal handler runs
        ready = await client.get("/health/ready")
        refused = await client.post("/predict", content=CROP, headers=JPEG)
        metrics = (await client.get("/metrics")).text
        predictor.gate.set()
        answer = await accepted
    assert server.should_exit and metric_value(metrics, "gennet_ready") == 0
    assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "not_ready"
    assert refused.headers["Retry-After"]
    assert answer.status_code == 200
