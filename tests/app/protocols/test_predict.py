"""``POST /predict`` and ``/predict/batch`` (``app.protocols.predict``) through the real ASGI app, with
a fake predictor: answers, thresholds, TTA, every refusal and failure, and their OpenAPI document."""

import asyncio

import pytest

from app import schemas
from tests.support.answers import assert_error, form
from tests.support.fakes import FakePredictor, client_for, fake_app, fake_meta
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio


async def test_predict_multipart_and_raw_body(crops: list[bytes]) -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        multipart = await client.post("/predict", files=form(crops[0]))
        raw = await client.post(
            "/predict", content=crops[0], headers={"Content-Type": "image/jpeg"}
        )
    assert multipart.status_code == raw.status_code == 200
    body = multipart.json()
    assert body["probabilities"] == raw.json()["probabilities"]
    male = body["probabilities"]["male"]
    assert body["probabilities"]["female"] == pytest.approx(1 - male)
    assert body["label"] == ("male" if male >= 0.5 else "female")
    assert body["score"] == pytest.approx(max(male, 1 - male))
    assert body["tta"] is False
    assert body["model"] == {"name": "gennet", "version": "1.0.0"}
    assert body["latency_ms"] > 0


async def test_label_uses_the_checkpoint_threshold(crops: list[bytes]) -> None:
    predictor = FakePredictor()
    predictor.transform = lambda batch: batch[:, 0, 0, 0] * 0 + 0.6
    for threshold, label, score in ((0.5, "male", 0.6), (0.7, "female", 0.4)):
        app = fake_app(predictor, fake_meta(threshold=threshold))
        async with client_for(app) as client:
            body = (await client.post("/predict", files=form(crops[0]))).json()
        assert (body["label"], body["score"]) == (label, pytest.approx(score))


async def test_tta_query(crops: list[bytes]) -> None:
    predictor = FakePredictor()
    async with client_for(fake_app(predictor, tta=False, tta_margin=1.0)) as client:
        plain = await client.post("/predict", files=form(crops[0]))
        tta = await client.post("/predict?tta=true", files=form(crops[0]))
        bad = await client.post("/predict?tta=maybe", files=form(crops[0]))
    assert (plain.json()["tta"], tta.json()["tta"]) == (False, True)
    assert tta.json()["probabilities"] != plain.json()["probabilities"]
    assert predictor.sizes[-3:] == [1, 1, 1]  # plain; the TTA crop, then its mirror
    assert_error(bad, 422, "invalid_request")
    assert "tta" in bad.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/predict", "/predict/batch"])
@pytest.mark.parametrize("query", ["camera=a&camera=b", "tta=true&tta=false"])
async def test_a_parameter_said_twice_is_refused(path: str, query: str, crops: list[bytes]) -> None:
    predictor = FakePredictor()
    field = "file" if path == "/predict" else "files"
    async with client_for(fake_app(predictor)) as client:
        warmed = len(predictor.calls)
        answer = await client.post(f"{path}?{query}", files={field: crops[0]})
    assert_error(answer, 422, "invalid_request")
    assert "given more than once" in answer.json()["error"]["message"]
    assert query.partition("=")[0] in answer.json()["error"]["message"]
    assert len(predictor.calls) == warmed  # the crop never reached the model


async def test_bad_inputs(crops: list[bytes]) -> None:
    app = fake_app(FakePredictor(), max_upload_bytes=50_000, max_image_pixels=2_000)
    big = crops[0] + b"\0" * 60_000

    async def chunks():  # no Content-Length: the cap must hold while streaming
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    async with client_for(app) as client:
        cases = [
            (400, "invalid_image", await client.post("/predict", files=form(b"not an image"))),
            (413, "payload_too_large", await client.post("/predict", files=form(big))),
            (
                413,
                "payload_too_large",
                await client.post(
                    "/predict", content=chunks(), headers={"Content-Type": "image/jpeg"}
                ),
            ),
            (413, "image_too_large", await client.post("/predict", files=form(crops[0]))),
            (
                415,
                "unsupported_media_type",
                await client.post(
                    "/predict", content=crops[0], headers={"Content-Type": "text/plain"}
                ),
            ),
            (422, "invalid_request", await client.post("/predict", files=form(b"x", "image"))),
        ]
        for status, code, response in cases:
            assert_error(response, status, code)
        empty = await client.post("/predict", content=b"", headers={"Content-Type": "image/png"})
        assert_error(empty, 400, "invalid_image")
        metrics = (await client.get("/metrics")).text
    assert metric_value(metrics, "gennet_rejections_total", reason="invalid_image") == 2
    assert metric_value(metrics, "gennet_rejections_total", reason="image_too_large") == 1


async def test_queue_full_is_503_with_retry_after(crops: list[bytes]) -> None:
    predictor = FakePredictor()
    app = fake_app(predictor, max_queue=1, max_batch_size=1)
    async with client_for(app) as client:
        predictor.delay = 0.5
        responses = await asyncio.gather(
            *(client.post("/predict", files=form(c)) for c in crops[:6])
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    refused = next(r for r in responses if r.status_code == 503)
    assert_error(refused, 503, "queue_full")
    assert int(refused.headers["Retry-After"]) >= 1


async def test_deadline_is_504_and_failure_is_500_then_recovers(crops: list[bytes]) -> None:
    predictor = FakePredictor()
    app = fake_app(predictor, request_timeout_ms=500)
    async with client_for(app) as client:
        predictor.delay = 1.0
        late = await client.post("/predict", files=form(crops[0]))
        await asyncio.sleep(0.6)  # the model thread is still on the late request's batch
        predictor.delay, predictor.fail_next = 0.0, 1
        failed = await client.post("/predict", files=form(crops[0]))
        after = await client.post("/predict", files=form(crops[0]))
        metrics = (await client.get("/metrics")).text
    assert_error(late, 504, "deadline_exceeded")
    assert_error(failed, 500, "inference_failed")
    assert after.status_code == 200
    assert metric_value(metrics, "gennet_inference_errors_total") == 1
    assert metric_value(metrics, "gennet_rejections_total", reason="deadline_exceeded") == 1


async def test_batch_endpoint(crops: list[bytes]) -> None:
    app = fake_app(FakePredictor(), max_batch_items=3)
    files = [("files", ("a.jpg", crops[0])), ("files", ("b.jpg", b"junk"))]
    files.append(("files", ("c.jpg", crops[1])))
    async with client_for(app) as client:
        batch = await client.post("/predict/batch?tta=true", files=files)
        singles = [
            (await client.post("/predict?tta=true", files=form(c))).json() for c in crops[:2]
        ]
        too_many = await client.post("/predict/batch", files=files + files[:1])
        raw = await client.post(
            "/predict/batch", content=crops[0], headers={"Content-Type": "image/jpeg"}
        )
        none = await client.post("/predict/batch", files={"other": ("a.jpg", crops[0])})
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2]
    assert results[1]["error"]["code"] == "invalid_image"
    assert results[0]["probabilities"] == singles[0]["probabilities"]
    assert results[2]["probabilities"] == singles[1]["probabilities"]
    assert batch.json()["tta"] is True
    assert_error(too_many, 422, "invalid_request")
    assert_error(raw, 415, "unsupported_media_type")
    assert_error(none, 422, "invalid_request")


async def test_openapi_documents_bodies_statuses_and_errors() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        docs = await client.get("/docs")
        spec = (await client.get("/openapi.json")).json()
    assert docs.status_code == 200
    predict = spec["paths"]["/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {"multipart/form-data", "image/*"}
    assert {"200", "400", "401", "413", "415", "422", "500", "503", "504"} <= set(
        predict["responses"]
    )
    error_ref = predict["responses"]["413"]["content"]["application/json"]["schema"]["$ref"]
    assert error_ref.endswith("/ErrorResponse")
    assert "/predict/batch" in spec["paths"] and "/model" in spec["paths"]
    for name in dir(schemas):
        schema = spec["components"]["schemas"].get(name, {})
        for field, prop in schema.get("properties", {}).items():
            assert "description" in prop, (name, field)
