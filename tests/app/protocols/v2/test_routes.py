"""The Open Inference Protocol routes through the real ASGI app, with a fake predictor: the same
answers as /predict, the same admission, key, limits and metrics, errors in the protocol's shape."""

import base64
import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image

from app.protocols.v2 import messages as oip
from gennet.calibration import Calibration, GroupCalibration
from gennet.preprocess import preprocess_bytes
from tests.support.fakes import FakePredictor, client_for, fake_app, fake_meta
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio

INFER = "/v2/models/gennet/infer"
KEY = "v2-key"


def crop(seed: int) -> bytes:
    """A small JPEG crop whose left and right halves differ (so TTA changes the answer)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (40, 20, 3), dtype=np.uint8)
    pixels[:, :10] //= seed % 3 + 1
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


CROPS = [crop(seed) for seed in range(3)]


def encoded(images: list[bytes], **extra: Any) -> dict[str, Any]:
    data = [base64.b64encode(image).decode() for image in images]
    tensor = {"name": oip.ENCODED, "datatype": "BYTES", "shape": [len(images)], "data": data}
    return {"inputs": [tensor], **extra}


def preprocessed(images: list[bytes]) -> np.ndarray:
    spec = fake_meta().preprocess_spec
    return np.stack([preprocess_bytes(image, spec) for image in images])


def outputs(response: httpx.Response) -> dict[str, list[Any]]:
    assert response.status_code == 200, response.text
    return {o["name"]: o["data"] for o in response.json()["outputs"]}


async def predict_each(
    client: httpx.AsyncClient, images: list[bytes], tta: bool = False
) -> list[float]:
    answers = [
        await client.post(
            f"/predict?tta={str(tta).lower()}",
            content=image,
            headers={"Content-Type": "image/jpeg"},
        )
        for image in images
    ]
    return [a.json()["probabilities"]["male"] for a in answers]


def assert_protocol_error(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert (
        response.json() == {"error": response.json()["error"]} and text in response.json()["error"]
    )
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["x-request-id"]


async def test_health_server_and_model_metadata() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        answers = {
            path: await client.get(path)
            for path in (
                "/v2",
                "/v2/health/live",
                "/v2/health/ready",
                "/v2/models/gennet/ready",
                "/v2/models/gennet/versions/1.0.0/ready",
                "/v2/models/gennet",
                "/v2/models/gennet/versions/1.0.0",
            )
        }
    assert {p: a.status_code for p, a in answers.items()} == dict.fromkeys(answers, 200)
    server = answers["/v2"].json()
    assert server["name"] == "gennet" and "binary_tensor_data" in server["extensions"]
    assert answers["/v2/health/live"].json() == {"live": True}
    assert answers["/v2/health/ready"].json() == {"ready": True}
    assert answers["/v2/models/gennet/ready"].json() == {"name": "gennet", "ready": True}
    metadata = answers["/v2/models/gennet"].json()
    assert metadata == answers["/v2/models/gennet/versions/1.0.0"].json()
    assert metadata["versions"] == ["1.0.0"] and metadata["platform"] == "fake"
    assert metadata["inputs"][1]["shape"] == [-1, 3, 32, 16]  # the fake model's input size
    assert metadata["parameters"]["threshold"] == 0.5


async def test_not_ready_before_start_and_unknown_models() -> None:
    app = fake_app(FakePredictor())
    async with client_for(app, start=False) as client:
        assert (await client.get("/v2/health/live")).status_code == 200
        not_ready = [await client.get(p) for p in ("/v2/health/ready", "/v2/models/gennet/ready")]
        refused = await client.post(INFER, json=encoded(CROPS[:1]))
    assert [(r.status_code, r.json()) for r in not_ready] == [(503, {"ready": False})] * 2
    assert_protocol_error(refused, 503, "not ready")
    assert refused.headers["retry-after"]
    async with client_for(fake_app(FakePredictor())) as client:
        missing = [
            await client.get("/v2/models/resnet"),
            await client.get("/v2/models/resnet/ready"),
            await client.get("/v2/models/gennet/versions/9/ready"),
            await client.post("/v2/models/gennet/versions/9/infer", json=encoded(CROPS[:1])),
            await client.get("/v2/nowhere"),
        ]
        wrong_method = await client.get(INFER)
    for response in missing:
        assert_protocol_error(response, 404, "")
    assert "this server serves 'gennet'" in missing[0].json()["error"]
    assert_protocol_error(wrong_method, 405, "")


@pytest.mark.parametrize("tta", [False, True])
async def test_bytes_and_fp32_inputs_answer_as_predict_does(tta: bool) -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        expected = await predict_each(client, CROPS, tta)
        params = {"parameters": {"tta": tta}}
        as_bytes = outputs(await client.post(INFER, json=encoded(CROPS, id="a", **params)))
        array = preprocessed(CROPS)
        tensor = {"name": oip.PREPROCESSED, "datatype": "FP32", "shape": list(array.shape)}
        body = {"inputs": [{**tensor, "data": array.reshape(-1).tolist()}], **params}
        as_fp32 = outputs(await client.post("/v2/models/gennet/versions/1.0.0/infer", json=body))
    assert as_bytes[oip.PROB_MALE] == pytest.approx(expected, abs=0)  # the same float32 values
    assert as_fp32[oip.PROB_MALE] == pytest.approx(expected, abs=1e-6)
    labels = ["male" if p >= 0.5 else "female" for p in expected]
    assert as_bytes[oip.LABEL] == as_fp32[oip.LABEL] == labels


async def test_binary_data_both_ways_with_tritonclient_messages() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        expected = await predict_each(client, CROPS)
        images = triton.InferInput(oip.ENCODED, [len(CROPS)], "BYTES")
        images.set_data_from_numpy(np.array(CROPS, dtype=np.object_), binary_data=True)
        wanted = [triton.InferRequestedOutput(name, binary_data=True) for name in oip.OUTPUTS]
        body, header_length = triton.InferenceServerClient.generate_request_body([images], wanted)
        headers = {
            oip.BINARY_HEADER: str(header_length),
            "Content-Type": "application/octet-stream",
        }
        response = await client.post(INFER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    result = triton.InferenceServerClient.parse_response_body(
        response.content, header_length=int(response.headers[oip.BINARY_HEADER])
    )
    np.testing.assert_array_equal(result.as_numpy(oip.PROB_MALE), np.asarray(expected, np.float32))
    assert len(result.as_numpy(oip.LABEL)) == len(CROPS)


async def test_elements_of_one_request_share_a_batch() -> None:
    predictor = FakePredictor()
    async with client_for(fake_app(predictor, max_batch_size=4)) as client:
        warm_up = len(predictor.calls)
        array = preprocessed(CROPS)
        tensor = {"name": oip.PREPROCESSED, "datatype": "FP32", "shape": list(array.shape)}
        body = {"inputs": [{**tensor, "data": array.reshape(-1).tolist()}]}
        assert (await client.post(INFER, json=body)).status_code == 200
    assert predictor.sizes[warm_up:] == [len(CROPS)]


async def test_the_api_key_guards_metadata_and_inference_only() -> None:
    async with client_for(fake_app(FakePredictor(), api_key=KEY)) as client:
        refused = [
            await client.get("/v2/models/gennet"),
            await client.post(INFER, json=encoded(CROPS[:1])),
            await client.post(INFER, json=encoded(CROPS[:1]), headers={"X-API-Key": "nope"}),
        ]
        accepted = [
            await client.post(INFER, json=encoded(CROPS[:1]), headers={"X-API-Key": KEY}),
            await client.get("/v2/models/gennet", headers={"Authorization": f"Bearer {KEY}"}),
        ]
        open_routes = [
            await client.get(p) for p in ("/v2", "/v2/health/ready", "/v2/models/gennet/ready")
        ]
        metrics = (await client.get("/metrics")).text
    for response in refused:
        assert_protocol_error(response, 401, "API key")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert [r.status_code for r in accepted + open_routes] == [200] * 5
    assert metric_value(metrics, "gennet_rejections_total", reason="unauthorized") == 3


async def test_errors_have_the_protocol_shape_the_status_and_the_metrics() -> None:
    predictor = FakePredictor()
    app = fake_app(predictor, max_upload_bytes=4096)
    async with client_for(app) as client:
        bad_shape = await client.post(
            INFER,
            json={
                "inputs": [
                    {
                        "name": oip.PREPROCESSED,
                        "datatype": "FP32",
                        "shape": [1, 3, 2, 2],
                        "data": [0] * 12,
                    }
                ]
            },
        )
        not_image = await client.post(INFER, json=encoded([b"not an image"]))
        too_big = await client.post(INFER, content=b"{" + b" " * 5000 + b"}")
        gzip = await client.post(INFER, content=b"\x1f\x8b", headers={"Content-Encoding": "gzip"})
        predictor.fail_next = 1
        failed = await client.post(INFER, json=encoded(CROPS[:1]))
        metrics = (await client.get("/metrics")).text
    assert_protocol_error(
        bad_shape, 400, "must have shape [N, 3, 32, 16] for this model; got [1, 3, 2, 2]"
    )
    assert_protocol_error(not_image, 400, "not a decodable image")
    assert_protocol_error(too_big, 413, "4096")
    assert_protocol_error(gzip, 415, "compressed")
    assert_protocol_error(failed, 500, "")
    reasons = {
        "invalid_request": 1,
        "invalid_image": 1,
        "payload_too_large": 1,
        "inference_failed": 1,
    }
    for reason, count in reasons.items():
        assert metric_value(metrics, "gennet_rejections_total", reason=reason) == count, reason
    assert (
        metric_value(
            metrics, "gennet_requests_total", route="/v2/models/{model_name}/infer", status="400"
        )
        == 2
    )


async def test_one_bad_element_fails_the_request_and_cancels_the_rest() -> None:
    predictor = FakePredictor()
    async with client_for(fake_app(predictor)) as client:
        warm_up = len(predictor.calls)
        response = await client.post(INFER, json=encoded([b"junk", *CROPS]))
        after = (await client.post(INFER, json=encoded(CROPS[:1]))).status_code
    assert_protocol_error(response, 400, "not a decodable image")
    assert after == 200
    assert sum(predictor.sizes[warm_up:]) <= len(CROPS) + 1


async def test_requested_outputs_only_and_in_order() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        response = await client.post(
            INFER, json=encoded(CROPS[:2], outputs=[{"name": oip.LABEL}], id="req-9")
        )
    body = response.json()
    assert response.status_code == 200 and oip.BINARY_HEADER not in response.headers
    assert body["id"] == "req-9" and [o["name"] for o in body["outputs"]] == [oip.LABEL]
    assert body["outputs"][0] == {
        "name": oip.LABEL,
        "datatype": "BYTES",
        "shape": [2],
        "data": body["outputs"][0]["data"],
    }


async def test_openapi_documents_the_protocol_routes() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/v2/models/{model_name}/infer",
        "/v2/models/{model_name}/versions/{model_version}/infer",
    ):
        infer = paths[path]["post"]
        assert set(infer["requestBody"]["content"]) == {
            "application/json",
            "application/octet-stream",
        }
        assert {"200", "400", "401", "404", "413", "503", "504"} <= set(infer["responses"])
        assert oip.BINARY_HEADER in [p["name"] for p in infer["parameters"]]
    assert "model_version" not in json.dumps(paths["/v2/models/{model_name}/infer"])
    assert "/demo" not in paths and "/docs" not in paths and "/" not in paths


LOW, HIGH = 0.001, 0.999  # every fake crop is male at LOW and female at HIGH


def calibration(path: Path) -> Path:
    """Per-camera thresholds: GRID:1 at LOW, GRID:2 at HIGH."""
    groups = {
        camera: GroupCalibration(threshold=threshold, n_male=20, n_female=20, fitted=True)
        for camera, threshold in (("GRID:1", LOW), ("GRID:2", HIGH))
    }
    digest = fake_meta().weights_sha256
    path.write_text(
        Calibration(
            weights_sha256=digest, default_threshold=0.5, mode="labels", by="camera", groups=groups
        ).to_json()
    )
    return path


async def test_the_camera_threshold_applies_as_on_predict(tmp_path: Path) -> None:
    app = fake_app(FakePredictor(), calibration_path=calibration(tmp_path / "cal.json"))
    async with client_for(app) as client:
        answers = {
            camera: await client.post(INFER, json=encoded(CROPS[:2], parameters={"camera": camera}))
            for camera in ("GRID:1", "GRID:2")
        }
        plain = await client.post(INFER, json=encoded(CROPS[:2]))
        predict = await client.post("/predict?camera=GRID:2", files={"file": ("c.jpg", CROPS[0])})
        bad = await client.post(INFER, json=encoded(CROPS[:1], parameters={"camera": "a b"}))
    low, high = (answers[c].json() for c in ("GRID:1", "GRID:2"))
    assert outputs(answers["GRID:1"])[oip.LABEL] == ["male", "male"]
    assert outputs(answers["GRID:2"])[oip.LABEL] == ["female", "female"]
    assert low["parameters"] == {"threshold": LOW, "camera": "GRID:1", "tta": False}
    assert high["parameters"]["threshold"] == HIGH == predict.json()["threshold"]
    assert outputs(answers["GRID:1"])[oip.PROB_MALE] == outputs(answers["GRID:2"])[oip.PROB_MALE]
    assert plain.json()["parameters"] == {"threshold": 0.5, "camera": None, "tta": False}
    assert_protocol_error(bad, 400, "'camera' must match")
