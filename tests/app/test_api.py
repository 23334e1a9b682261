"""Every endpoint and status through the real ASGI app, with a fake predictor."""

import asyncio
import json
import logging

import httpx
import pytest
from service_fakes import FakePredictor, client_for, fake_app, fake_meta, metric_value

from app import schemas

pytestmark = pytest.mark.anyio


def form(data: bytes, name: str = "file") -> dict[str, tuple[str, bytes, str]]:
    return {name: ("crop.jpg", data, "image/jpeg")}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


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
    async with client_for(fake_app(predictor)) as client:
        plain = await client.post("/predict", files=form(crops[0]))
        tta = await client.post("/predict?tta=true", files=form(crops[0]))
        bad = await client.post("/predict?tta=maybe", files=form(crops[0]))
    assert tta.json()["tta"] is True
    assert tta.json()["probabilities"] != plain.json()["probabilities"]
    assert predictor.sizes[-2:] == [1, 2]
    assert_error(bad, 422, "invalid_request")
    assert "tta" in bad.json()["error"]["message"]


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


async def test_api_key(crops: list[bytes]) -> None:
    app = fake_app(FakePredictor(), api_key="s3cret")
    async with client_for(app) as client:
        missing = await client.post("/predict", files=form(crops[0]))
        wrong = await client.post("/predict", files=form(crops[0]), headers={"X-API-Key": "nope"})
        bearer = await client.post(
            "/predict", files=form(crops[0]), headers={"Authorization": "Bearer s3cret"}
        )
        header = await client.get("/model", headers={"X-API-Key": "s3cret"})
        model = await client.get("/model")
        open_routes = [await client.get(p) for p in ("/health", "/health/live", "/metrics")]
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(wrong, 401, "unauthorized")
    assert_error(model, 401, "unauthorized")
    assert bearer.status_code == header.status_code == 200
    assert all(r.status_code == 200 for r in open_routes)


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


async def test_unknown_error_is_a_fixed_500(crops: list[bytes]) -> None:
    app = fake_app(FakePredictor())
    async with client_for(app) as client:
        service = app.state.service

        def broken(*args: object) -> float:
            raise RuntimeError("/secret/path details")

        service.submit = broken
        response = await client.post("/predict", files=form(crops[0]))
    assert_error(response, 500, "internal_error")
    assert "secret" not in response.text
    assert response.headers["X-Request-ID"]


async def test_not_ready_before_start_and_while_draining(crops: list[bytes]) -> None:
    app = fake_app(FakePredictor())
    async with client_for(app, start=False) as client:
        starting = await client.get("/health/ready")
        refused = await client.post("/predict", files=form(crops[0]))
        summary = (await client.get("/health")).json()
        live = await client.get("/health/live")
        async with app.router.lifespan_context(app):
            ready = await client.get("/health/ready")
        draining = await client.get("/health/ready")
        after = await client.post("/predict", files=form(crops[0]))
    assert (starting.status_code, starting.json()) == (503, {"status": "starting"})
    assert_error(refused, 503, "not_ready")
    assert summary["status"] == "starting" and summary["model"] is None
    assert live.status_code == ready.status_code == 200
    assert (draining.status_code, draining.json()) == (503, {"status": "draining"})
    assert_error(after, 503, "not_ready")


async def test_health_summary_and_model_card() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        health = (await client.get("/health")).json()
        card = await client.get("/model")
    assert health["status"] == "ready"
    assert (health["device"], health["runtime"], health["queue_depth"]) == ("cpu", "fake", 0)
    assert health["model"] == {"name": "gennet", "version": "1.0.0"}
    assert health["uptime_s"] >= 0
    body = card.json()
    assert body["weights_sha256"] == "f" * 64
    assert body["input_size"] == [32, 16]
    assert body["data"] == {"dataset": "fake"} and body["recipe"] == {"lr": 0.1}
    assert "secret" not in card.text


async def test_request_id_echoed_or_generated() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
        generated = await client.get("/health/live")
        unsafe = await client.get("/health/live", headers={"X-Request-ID": "a b\tc"})
        missing = await client.get("/nowhere")
        wrong_method = await client.get("/predict")
    assert echoed.headers["X-Request-ID"] == "abc-123"
    assert len(generated.headers["X-Request-ID"]) == 32
    assert unsafe.headers["X-Request-ID"] not in ("a b\tc", "")
    assert_error(missing, 404, "not_found")
    assert missing.headers["X-Request-ID"]
    assert_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["Allow"] == "POST"


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


async def test_metrics_exposes_every_contract_name(crops: list[bytes]) -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        await client.post("/predict", files=form(crops[0]))
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "gennet_requests_total",
        "gennet_request_duration_seconds_bucket",
        "gennet_queue_wait_seconds_bucket",
        "gennet_inference_duration_seconds_bucket",
        "gennet_decode_duration_seconds_bucket",
        "gennet_batch_size_bucket",
        "gennet_queue_depth",
        "gennet_in_flight_requests",
        "gennet_predictions_total",
        "gennet_prediction_score_bucket",
        "gennet_rejections_total",
        "gennet_inference_errors_total",
        "gennet_model_info",
        "gennet_ready",
    ):
        assert f"\n{name}" in text, name
    assert metric_value(text, "gennet_requests_total", route="/predict", status="200") == 1
    assert metric_value(text, "gennet_ready") == 1
    assert 'runtime="fake"' in text


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


async def test_json_log_lines_carry_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    app = fake_app(FakePredictor(), log_json=True, log_level="INFO")
    async with client_for(app) as client:
        await client.get("/health/live", headers={"X-Request-ID": "trace-42"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    access = [line for line in lines if line["logger"] == "app.access"]
    assert access[-1]["request_id"] == "trace-42"
    assert (access[-1]["path"], access[-1]["status"]) == ("/health/live", 200)


async def test_json_logs_cover_the_library_too(capsys: pytest.CaptureFixture[str]) -> None:
    """gennet's own records (a stale ONNX graph re-exported at start-up, say) are JSON too."""
    fake_app(FakePredictor(), log_json=True, log_level="INFO")
    logging.getLogger("gennet.export").warning("graph re-exported")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1  # JSON only, never also a plain line from Python's last resort
    assert json.loads(lines[0])["logger"] == "gennet.export"
