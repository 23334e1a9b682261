"""A client that goes away while queued costs no model time."""

import asyncio
from collections.abc import Callable

import pytest
from starlette.types import Message

from app.http.disconnect import ON_DISCONNECT
from tests.support.asgi import post_scope
from tests.support.fakes import FakePredictor, client_for, fake_app
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("told_by", ["receive", "protocol"])
async def test_disconnected_client_is_skipped(crops: list[bytes], told_by: str) -> None:
    """The ASGI way (``http.disconnect`` on ``receive``) and ``gennet serve``'s protocol hooks."""
    predictor = FakePredictor()
    app = fake_app(predictor)
    gone = asyncio.Event()
    messages = iter([{"type": "http.request", "body": crops[1], "more_body": False}])
    scope = post_scope({"Content-Type": "image/jpeg"}, crops[1])
    hooks: list[Callable[[], None]] = []
    if told_by == "protocol":
        scope[ON_DISCONNECT] = hooks

    async def receive() -> Message:
        message = next(messages, None)
        if message is not None:
            return message
        await (gone if told_by == "receive" else asyncio.Event()).wait()  # protocol: never
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    async with client_for(app) as client:
        service = app.state.service
        predictor.calls.clear()
        predictor.gate.clear()
        busy = asyncio.create_task(
            client.post("/predict", content=crops[0], headers={"Content-Type": "image/jpeg"})
        )
        while len(predictor.calls) < 1:
            await asyncio.sleep(0.005)
        leaving = asyncio.create_task(app(scope, receive, send))
        while service.queue_depth < 1:
            await asyncio.sleep(0.005)
        if told_by == "receive":
            gone.set()
        else:
            assert len(hooks) == 1
            hooks[0]()
        await leaving
        predictor.gate.set()
        assert (await busy).status_code == 200
        after = await client.post(
            "/predict", content=crops[2], headers={"Content-Type": "image/jpeg"}
        )
        metrics = (await client.get("/metrics")).text
    assert after.status_code == 200
    assert predictor.sizes == [1, 1]  # the busy request and the one after; never the leaver
    assert metric_value(metrics, "gennet_rejections_total", reason="client_disconnected") == 1
    assert hooks == []  # the request took its hook back
