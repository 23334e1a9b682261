"""Nothing one crop contains can fail another crop: a poisoned crop batched with good ones gets
the error, the good ones their answers, whatever protocol and input kind each came in."""

import asyncio
import base64
import time

import numpy as np
import pytest
from PIL import Image

from app.errors import InferenceFailedError
from app.pipeline.batcher import MicroBatcher
from tests.support import payloads as p
from tests.support.answers import JPEG
from tests.support.fakes import (
    INPUT_SIZE,
    FakePredictor,
    client_for,
    fake_app,
    fake_meta,
    score_rows,
)
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio

GOOD = p.encode(p.picture(), "JPEG")
POISON = p.encode(Image.new("RGB", (32, 64), (255, 255, 255)), "PNG")  # all white: the marker
INFER = "/v2/models/gennet/infer"


def poisoned(batch: np.ndarray) -> np.ndarray:
    """Which rows are the marker: every value at the top of its channel's range."""
    return (batch.reshape(len(batch), 3, -1).min(axis=2) > 2.0).all(axis=1)


def raise_on_poison(batch: np.ndarray) -> np.ndarray:
    """A model that raises whenever its batch holds a poisoned row (an overflow, an engine
    error), and answers any batch without one."""
    if poisoned(batch).any():
        raise FloatingPointError("overflow in a convolution")
    return score_rows(batch)


def nan_on_poison(batch: np.ndarray) -> np.ndarray:
    """A model whose output for a poisoned row is NaN (the rest of the batch is fine)."""
    probs = score_rows(batch)
    probs[poisoned(batch)] = np.nan
    return probs


def white_rows(count: int) -> np.ndarray:
    """White crops as the checkpoint's normalisation makes them: in range, and the marker."""
    meta = fake_meta()
    white = (1 - np.asarray(meta.mean, dtype=np.float32)) / np.asarray(meta.std, dtype=np.float32)
    return np.broadcast_to(white[None, :, None, None], (count, 3, *INPUT_SIZE)).copy()


@pytest.mark.parametrize("model", [raise_on_poison, nan_on_poison])
@pytest.mark.parametrize("tta", [False, True])
async def test_batcher_fails_the_poisoned_crop_alone(model, tta: bool) -> None:  # type: ignore[no-untyped-def]
    predictor = FakePredictor()
    predictor.transform = model
    good = (
        np.zeros((5, 3, *INPUT_SIZE), dtype=np.float32) + np.linspace(-1, 1, 5)[:, None, None, None]
    )
    crops = [good[0], good[1], white_rows(1)[0], good[2], good[3], good[4]]
    batcher = MicroBatcher(predictor, max_batch_size=8, tta_margin=1.0)  # TTA mirrors every crop
    batcher.start()
    predictor.gate.clear()
    around = 0.5 if tta else None
    blocker = batcher.enqueue(good[0], around, time.monotonic() + 5)
    while not predictor.calls:
        await asyncio.sleep(0.005)
    futures = [batcher.enqueue(crop, around, time.monotonic() + 5) for crop in crops]
    predictor.gate.set()
    await blocker
    outcomes = await asyncio.gather(*futures, return_exceptions=True)
    await batcher.drain()
    assert isinstance(outcomes[2], InferenceFailedError)
    good_outcomes = [o for i, o in enumerate(outcomes) if i != 2]
    assert all(isinstance(o, float) for o in good_outcomes)
    expected = [
        float(score_rows(c[None])[0] + score_rows(c[None, ..., ::-1])[0]) / 2
        if tta
        else float(score_rows(c[None])[0])
        for i, c in enumerate(crops)
        if i != 2
    ]
    assert good_outcomes == pytest.approx(expected, abs=1e-6)
    batch = 2 if tta else 1  # after the blocker (and its mirror)
    assert predictor.sizes[batch] == len(crops)  # one batch held them all
    if tta:
        assert predictor.sizes[-1] == len(crops) - 1  # the good crops' mirrors, in one call
    if model is nan_on_poison:
        assert len(predictor.calls) == 2 * batch  # no retry: the NaN row fails alone


async def _held_batch(app, predictor: FakePredictor, client, poisoned_request):  # type: ignore[no-untyped-def]
    """Hold the model, queue four good /predict crops and the poisoned request, release: they
    all run in one batch (max_batch_size 16)."""
    predictor.calls.clear()
    predictor.gate.clear()
    first = asyncio.create_task(client.post("/predict", content=GOOD, headers=JPEG))
    while not predictor.calls:
        await asyncio.sleep(0.005)
    good = [
        asyncio.create_task(client.post("/predict", content=GOOD, headers=JPEG)) for _ in range(4)
    ]
    bad = asyncio.create_task(poisoned_request())
    while app.state.service.queue_depth < 5:
        await asyncio.sleep(0.005)
    predictor.gate.set()
    answers = await asyncio.gather(first, *good)
    return answers, await bad


def _v2_bytes() -> dict:  # type: ignore[type-arg]
    data = [base64.b64encode(POISON).decode()]
    return {"inputs": [{"name": "encoded_image", "datatype": "BYTES", "shape": [1], "data": data}]}


def _v2_fp32() -> dict:  # type: ignore[type-arg]
    height, width = INPUT_SIZE
    data = white_rows(1).reshape(-1).tolist()
    return {
        "inputs": [
            {
                "name": "preprocessed_image",
                "datatype": "FP32",
                "shape": [1, 3, height, width],
                "data": data,
            }
        ]
    }


@pytest.mark.parametrize("kind", ["predict", "batch", "v2 bytes", "v2 fp32"])
async def test_a_poisoned_item_fails_alone_whatever_its_protocol(kind: str) -> None:
    predictor = FakePredictor()
    app = fake_app(predictor, max_batch_size=16)
    async with client_for(app) as client:
        predictor.transform = raise_on_poison
        requests = {
            "predict": lambda: client.post(
                "/predict", content=POISON, headers={"Content-Type": "image/png"}
            ),
            "batch": lambda: client.post(
                "/predict/batch",
                files=[
                    ("files", ("a.png", POISON, "image/png")),
                    ("files", ("b.jpg", GOOD, "image/jpeg")),
                ],
            ),
            "v2 bytes": lambda: client.post(INFER, json=_v2_bytes()),
            "v2 fp32": lambda: client.post(INFER, json=_v2_fp32()),
        }
        answers, bad = await _held_batch(app, predictor, client, requests[kind])
        metrics = (await client.get("/metrics")).text
    assert [a.status_code for a in answers] == [200] * 5
    assert max(predictor.sizes) >= 5  # the poisoned crop shared a batch with the good ones
    if kind == "batch":
        results = bad.json()["results"]
        assert bad.status_code == 200
        assert results[0]["error"]["code"] == "inference_failed"
        assert results[1]["label"] in {"male", "female"}
    elif kind.startswith("v2"):
        assert bad.status_code == 500 and isinstance(bad.json()["error"], str)
    else:
        assert bad.status_code == 500 and bad.json()["error"]["code"] == "inference_failed"
    assert metric_value(metrics, "gennet_inference_errors_total") == 1
