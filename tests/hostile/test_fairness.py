"""A request's cost falls on itself: heavy requests (many crops that decode to large images) take
turns with light ones, each batch decodes a bounded number of pixels, and a request's images are
bounded in all. Checked by the order in which the model sees crops, not by timing."""

import asyncio

import numpy as np
import pytest
from PIL import Image

from tests.support import payloads as p
from tests.support.answers import JPEG
from tests.support.fakes import FakePredictor, client_for, fake_app

pytestmark = pytest.mark.anyio

LIGHT = p.encode(p.picture(), "JPEG")  # varied pixels
HEAVY_SIDE = 512
HEAVY = p.encode(Image.new("RGB", (HEAVY_SIDE, HEAVY_SIDE), (90, 30, 200)), "PNG")  # a few KB
HEAVY_PIXELS = HEAVY_SIDE * HEAVY_SIDE


def heavy_files(count: int) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (f"{i}.png", HEAVY, "image/png")) for i in range(count)]


def light_rows(batch: np.ndarray) -> np.ndarray:
    """The rows of light crops: a heavy crop is one colour, a light one is not."""
    return batch.reshape(len(batch), 3, -1).std(axis=2).max(axis=1) > 1e-3


async def test_light_requests_take_turns_with_heavy_batches() -> None:
    predictor = FakePredictor()
    app = fake_app(
        predictor,
        max_batch_size=4,
        decode_workers=1,
        max_batch_pixels=2 * HEAVY_PIXELS,
        max_request_pixels=64 * HEAVY_PIXELS,
    )
    async with client_for(app) as client:
        predictor.calls.clear()
        predictor.gate.clear()
        blocker = asyncio.create_task(client.post("/predict", content=LIGHT, headers=JPEG))
        while not predictor.calls:
            await asyncio.sleep(0.005)
        heavy = [
            asyncio.create_task(client.post("/predict/batch", files=heavy_files(16)))
            for _ in range(2)
        ]
        while app.state.service.queue_depth < 8:  # each heavy request: a window of 4 crops
            await asyncio.sleep(0.005)
        light = asyncio.create_task(client.post("/predict", content=LIGHT, headers=JPEG))
        while app.state.service.queue_depth < 9:
            await asyncio.sleep(0.005)
        predictor.gate.set()
        answers = await asyncio.gather(blocker, light, *heavy)
    assert [a.status_code for a in answers] == [200] * 4
    assert all("error" not in r for a in answers[2:] for r in a.json()["results"])
    batches = predictor.calls[1:]  # after the blocker's
    light_batch = next(i for i, b in enumerate(batches) if light_rows(b).any())
    assert light_batch == 0  # its turn came in the next batch, not after 32 heavy crops
    for batch in batches:  # at most the first crop plus max_batch_pixels of heavy crops
        assert (~light_rows(batch)).sum() <= 3
    assert sum(len(b) for b in batches) == 33


async def test_a_request_decodes_at_most_its_pixel_budget() -> None:
    predictor = FakePredictor()
    app = fake_app(predictor, max_request_pixels=3 * HEAVY_PIXELS)
    async with client_for(app) as client:
        predictor.calls.clear()
        response = await client.post("/predict/batch", files=heavy_files(5))
        light = await client.post("/predict", content=LIGHT, headers=JPEG)
    results = response.json()["results"]
    assert response.status_code == 200 and light.status_code == 200
    assert ["error" in r for r in results] == [False, False, False, True, True]
    assert results[3]["error"]["code"] == "image_too_large"
    assert str(3 * HEAVY_PIXELS) in results[3]["error"]["message"]
    assert sum(len(b) for b in predictor.calls) == 4  # the refused ones were never decoded
