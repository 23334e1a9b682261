"""The Open Inference Protocol with the real ``tritonclient.http`` client against a real uvicorn.

One server (ONNX Runtime, the test checkpoint, an API key) answers every test: readiness and
metadata, BYTES and FP32 inputs in JSON and binary data, TTA, errors; each answer equals what
``/predict`` says for the same crop. Real PETA crops when ``../shared`` is present, else generated.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from gennet.preprocess import PreprocessSpec, preprocess_bytes
from tests.support.server import service_env, serving

pytestmark = pytest.mark.slow

KEY = "e2e-v2-key"
MODEL = "gennet"
# Batch composition differs from /predict (one crop a call) to a tensor (all crops in one call).
TOLERANCE = 1e-5


def auth() -> dict[str, str]:
    """A fresh dict each call: tritonclient adds its binary-data header to the one it is given."""
    return {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def crops(crops: list[bytes]) -> list[bytes]:
    """Six of the suite's generated crops (tests/conftest.py)."""
    return crops[:6]


@pytest.fixture(scope="module")
def base_url(
    checkpoint_path: Path, onnx_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = service_env(checkpoint_path, GENNET_API_KEY=KEY, GENNET_MAX_BATCH_SIZE="8")
    args = ["-m", "uvicorn", "--factory", "app.main:create_app", "--port", env["GENNET_PORT"]]
    with serving(args, env, tmp_path_factory.mktemp("v2") / "log"):
        yield f"127.0.0.1:{env['GENNET_PORT']}"


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(base_url, connection_timeout=30, network_timeout=60) as c:
        yield c


def predict(base_url: str, crops: list[bytes], tta: bool | None = None) -> np.ndarray:
    """P(male) of each crop from POST /predict (``tta`` None: the service's default, as v2's)."""
    query = "" if tta is None else f"?tta={str(tta).lower()}"
    with httpx.Client(base_url=f"http://{base_url}", headers=auth(), timeout=60) as http:
        answers = [
            http.post(f"/predict{query}", files={"file": ("c.jpg", c)}).json() for c in crops
        ]
    return np.asarray([a["probabilities"]["male"] for a in answers], dtype=np.float32)


def bytes_input(crops: list[bytes], binary: bool) -> triton.InferInput:
    tensor = triton.InferInput("encoded_image", [len(crops)], "BYTES")
    if binary:
        tensor.set_data_from_numpy(np.array(crops, dtype=np.object_), binary_data=True)
    else:  # JSON strings cannot carry raw bytes: the protocol's JSON form is base64
        import base64

        encoded = [base64.b64encode(c) for c in crops]
        tensor.set_data_from_numpy(np.array(encoded, dtype=np.object_), binary_data=False)
    return tensor


def fp32_input(
    client: triton.InferenceServerClient, crops: list[bytes], binary: bool
) -> triton.InferInput:
    """Crops preprocessed by the caller, from what the model's metadata says."""
    metadata = client.get_model_metadata(MODEL, headers=auth())
    _, _, height, width = metadata["inputs"][1]["shape"]
    params = metadata["parameters"]
    spec = PreprocessSpec((height, width), tuple(params["mean"]), tuple(params["std"]))
    array = np.stack([preprocess_bytes(c, spec) for c in crops])
    tensor = triton.InferInput("preprocessed_image", list(array.shape), "FP32")
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def outputs(binary: bool) -> list[triton.InferRequestedOutput]:
    return [triton.InferRequestedOutput(n, binary_data=binary) for n in ("prob_male", "label")]


def labels(result: triton.InferResult) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label")]


def test_readiness_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, "1.0.0")
    assert not client.is_model_ready("resnet")
    server = client.get_server_metadata()
    assert server["name"] == "gennet" and "binary_tensor_data" in server["extensions"]
    metadata = client.get_model_metadata(MODEL, headers=auth())
    assert metadata["platform"] == "onnx"
    assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [
        ("encoded_image", "BYTES"),
        ("preprocessed_image", "FP32"),
    ]
    assert [t["name"] for t in metadata["outputs"]] == ["prob_male", "label"]


@pytest.mark.parametrize("binary_in", [True, False], ids=["binary-in", "json-in"])
@pytest.mark.parametrize("binary_out", [True, False], ids=["binary-out", "json-out"])
@pytest.mark.parametrize("kind", ["BYTES", "FP32"])
def test_infer_equals_predict(
    client: triton.InferenceServerClient,
    base_url: str,
    crops: list[bytes],
    kind: str,
    binary_in: bool,
    binary_out: bool,
) -> None:
    if kind == "FP32" and not binary_in:
        crops = crops[:3]  # ~1.9 MB of JSON numbers a crop; the body limit is 8 MiB
    tensor = (
        bytes_input(crops, binary_in) if kind == "BYTES" else fp32_input(client, crops, binary_in)
    )
    result = client.infer(
        MODEL, [tensor], outputs=outputs(binary_out), headers=auth(), request_id="r1"
    )
    expected = predict(base_url, crops)
    probs = result.as_numpy("prob_male")
    assert probs.dtype == np.float32 and probs.shape == (len(crops),)
    np.testing.assert_allclose(probs, expected, atol=TOLERANCE, rtol=0)
    assert labels(result) == ["male" if p >= 0.5 else "female" for p in expected]
    assert result.get_response()["id"] == "r1"


def test_tta_parameter_and_default_binary_outputs(
    client: triton.InferenceServerClient, base_url: str, crops: list[bytes]
) -> None:
    # No outputs named: tritonclient asks for every output as binary data (binary_data_output).
    result = client.infer(
        MODEL,
        [bytes_input(crops, True)],
        model_version="1.0.0",
        headers=auth(),
        parameters={"tta": True},
    )
    np.testing.assert_allclose(
        result.as_numpy("prob_male"), predict(base_url, crops, tta=True), atol=TOLERANCE, rtol=0
    )


def test_errors_reach_the_client_as_the_protocol_says(
    client: triton.InferenceServerClient, crops: list[bytes]
) -> None:
    wrong = triton.InferInput("preprocessed_image", [1, 3, 224, 224], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 3, 224, 224), np.float32))
    with pytest.raises(InferenceServerException) as bad_shape:
        client.infer(MODEL, [wrong], headers=auth())
    with pytest.raises(InferenceServerException) as no_key:
        client.infer(MODEL, [bytes_input(crops[:1], True)])
    with pytest.raises(InferenceServerException) as not_image:
        client.infer(MODEL, [bytes_input([b"not an image"], True)], headers=auth())
    assert bad_shape.value.status() == "400"
    assert "must have shape [N, 3, 256, 128] for this model" in bad_shape.value.message()
    assert no_key.value.status() == "401" and "API key" in no_key.value.message()
    assert not_image.value.status() == "400" and "image" in not_image.value.message()
