"""The Open Inference Protocol messages, without HTTP: parsing (JSON and binary), every refusal,
and responses that the real ``tritonclient`` builds and reads."""

import json
import struct
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from app.protocols.v2 import messages as oip
from tests.support.v2 import MAX_ITEMS, META, SIZE, SPEC, encoded, normalised, parse


def pixels(count: int = 1) -> np.ndarray:
    """Distinct crops as the model's normalisation gives them (pixel values in [0, 1])."""
    levels = np.arange(count * 3 * SIZE[0] * SIZE[1]).reshape(count, 3, *SIZE) % 256 / 255
    return normalised(levels)


def preprocessed(array: np.ndarray, **tensor: Any) -> dict[str, Any]:
    fields = {"name": oip.PREPROCESSED, "datatype": "FP32", "shape": list(array.shape)}
    return {"inputs": [{**fields, "data": array.reshape(-1).tolist(), **tensor}]}


def bytes_tensor(*elements: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


def test_json_bytes_input_is_base64_and_defaults_are_all_outputs_as_json() -> None:
    request = parse({**encoded(b"crop-a", b"crop-b"), "id": "r1"})
    assert request.images == [b"crop-a", b"crop-b"] and request.arrays is None
    assert request.id == "r1" and request.tta is None and request.camera is None
    assert request.outputs == (
        oip.RequestedOutput(oip.PROB_MALE, False),
        oip.RequestedOutput(oip.LABEL, False),
    )


def test_binary_bytes_input_is_length_prefixed_raw_bytes() -> None:
    raw = bytes_tensor(b"\xff\xd8first", b"", b"third")
    doc = {
        "inputs": [
            {
                "name": oip.ENCODED,
                "datatype": "BYTES",
                "shape": [3],
                "parameters": {"binary_data_size": len(raw)},
            }
        ]
    }
    assert parse(doc, raw).images == [b"\xff\xd8first", b"", b"third"]


def test_fp32_input_json_flat_or_nested_and_binary_little_endian() -> None:
    array = pixels(2)
    flat = parse(preprocessed(array)).arrays
    nested = parse(
        {"inputs": [{**preprocessed(array)["inputs"][0], "data": array.tolist()}]}
    ).arrays
    raw = array.astype("<f4").tobytes()
    tensor = {
        "name": oip.PREPROCESSED,
        "datatype": "FP32",
        "shape": [2, 3, *SIZE],
        "parameters": {"binary_data_size": len(raw)},
    }
    binary = parse({"inputs": [tensor]}, raw).arrays
    for got in (flat, nested, binary):
        assert got is not None and got.dtype == np.float32 and got.shape == (2, 3, *SIZE)
        np.testing.assert_array_equal(got, array)


def test_parameters_and_requested_outputs() -> None:
    doc = {
        **encoded(b"x"),
        "parameters": {"tta": True, "camera": "gate-3", "binary_data_output": True},
        "outputs": [
            {"name": oip.LABEL},
            {"name": oip.PROB_MALE, "parameters": {"binary_data": False}},
        ],
    }
    request = parse(doc)
    assert request.tta is True and request.camera == "gate-3"
    assert request.outputs == (  # request order; binary_data_output is the default per output
        oip.RequestedOutput(oip.LABEL, True),
        oip.RequestedOutput(oip.PROB_MALE, False),
    )


def test_requests_built_by_tritonclient_parse() -> None:
    images = np.array([b"\x89PNG-one", b"two\x00\xff"], dtype=np.object_)
    binary_input = triton.InferInput(oip.ENCODED, [2], "BYTES")
    binary_input.set_data_from_numpy(images, binary_data=True)
    body, header = triton.InferenceServerClient.generate_request_body(
        [binary_input], parameters={"tta": True}, request_id="7"
    )
    request = oip.parse_infer_request(body, str(header), SPEC, MAX_ITEMS)
    assert request.images == list(images) and request.tta and request.id == "7"
    assert all(o.binary for o in request.outputs)  # no outputs named: binary_data_output

    array = pixels(1)
    json_input = triton.InferInput(oip.PREPROCESSED, list(array.shape), "FP32")
    json_input.set_data_from_numpy(array, binary_data=False)
    wanted = [triton.InferRequestedOutput(oip.PROB_MALE, binary_data=False)]
    body, header = triton.InferenceServerClient.generate_request_body([json_input], outputs=wanted)
    assert header is None
    request = oip.parse_infer_request(body, None, SPEC, MAX_ITEMS)
    assert request.arrays is not None
    np.testing.assert_array_equal(request.arrays, array)
    assert request.outputs == (oip.RequestedOutput(oip.PROB_MALE, False),)


def _fp32(shape: list[int], data: Any = None, **extra: Any) -> dict[str, Any]:
    tensor = {"name": oip.PREPROCESSED, "datatype": "FP32", "shape": shape, **extra}
    if data is not None:
        tensor["data"] = data
    return {"inputs": [tensor]}


_PIXELS = pixels(1).reshape(-1).tolist()
_BAD_JSON: dict[str, tuple[Any, str]] = {
    "not json": (b"{nope", "not valid JSON"),
    "not utf-8": (b'{"inputs": "\xff"}', "not valid JSON"),
    "deeply nested": (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    "not an object": ([1, 2], "the request must be a JSON object"),
    "no inputs": ({}, "send exactly one input"),
    "two inputs": ({"inputs": [encoded(b"a")["inputs"][0]] * 2}, "send exactly one input"),
    "input not an object": ({"inputs": ["x"]}, "an input must be a JSON object"),
    "unknown input": (
        {"inputs": [{**encoded(b"a")["inputs"][0], "name": "INPUT0"}]},
        "unknown input 'INPUT0'",
    ),
    "bytes as fp32": (
        {"inputs": [{**encoded(b"a")["inputs"][0], "datatype": "FP32"}]},
        "must have datatype BYTES",
    ),
    "fp32 as uint8": (_fp32([1, 3, *SIZE], _PIXELS, datatype="UINT8"), "must have datatype FP32"),
    "shape not a list": ({"inputs": [{**encoded(b"a")["inputs"][0], "shape": 1}]}, "'shape' must"),
    "negative dim": ({"inputs": [{**encoded(b"a")["inputs"][0], "shape": [-1]}]}, "'shape' must"),
    "bool dim": ({"inputs": [{**encoded(b"a")["inputs"][0], "shape": [True]}]}, "'shape' must"),
    "bytes 2-d": ({"inputs": [{**encoded(b"a")["inputs"][0], "shape": [1, 1]}]}, "shape [N]"),
    "no crops": ({"inputs": [{**encoded(b"a")["inputs"][0], "shape": [0], "data": []}]}, "got 0"),
    "too many crops": (encoded(b"a", b"b", b"c", b"d"), "send 1 to 3 crops per request; got 4"),
    "count differs": (
        {"inputs": [{**encoded(b"a", b"b")["inputs"][0], "shape": [3]}]},
        "3 elements",
    ),
    "not base64": ({"inputs": [{**encoded(b"a")["inputs"][0], "data": ["%%%"]}]}, "base64"),
    "not strings": ({"inputs": [{**encoded(b"a")["inputs"][0], "data": [1]}]}, "base64 strings"),
    "no data": (
        {"inputs": [{"name": oip.ENCODED, "datatype": "BYTES", "shape": [1]}]},
        "needs 'data'",
    ),
    "fp32 wrong size": (
        _fp32([1, 3, 224, 224], [0.0]),
        "shape [N, 3, 8, 4] for this model; got [1, 3, 224, 224]",
    ),
    "fp32 not 4-d": (_fp32([3, *SIZE], _PIXELS), "shape [N, 3, 8, 4]"),
    "fp32 too few numbers": (_fp32([1, 3, *SIZE], _PIXELS[:-1]), f"{len(_PIXELS)} numbers"),
    "fp32 strings": (_fp32([1, 3, *SIZE], ["1.0"] * len(_PIXELS)), "numbers"),
    "fp32 booleans": (_fp32([1, 3, *SIZE], [True] * len(_PIXELS)), "numbers"),
    "fp32 ragged": (_fp32([1, 3, *SIZE], [[1.0], [1.0, 2.0]]), "numbers"),
    "fp32 nan": (  # NaN is no JSON (json.loads took it as an extension); binary NaN: below
        b'{"inputs":[{"name":"preprocessed_image","datatype":"FP32","shape":[1,3,8,4],"data":[NaN'
        + b",0" * 95
        + b"]}]}",
        "not valid JSON",
    ),
    "parameters not an object": (
        {**encoded(b"a"), "parameters": []},
        "'parameters' must be a JSON object",
    ),
    "tta not a bool": (
        {**encoded(b"a"), "parameters": {"tta": "yes"}},
        "'tta' must be true or false",
    ),
    "camera not a string": (
        {**encoded(b"a"), "parameters": {"camera": 3}},
        "'camera' must match",
    ),
    "camera empty": ({**encoded(b"a"), "parameters": {"camera": ""}}, "'camera' must match"),
    "camera with a space": (
        {**encoded(b"a"), "parameters": {"camera": "gate 3"}},
        "'camera' must match",
    ),
    "id not a string": ({**encoded(b"a"), "id": 5}, "'id' must be a string"),
    "outputs empty": ({**encoded(b"a"), "outputs": []}, "'outputs' must be a non-empty list"),
    "unknown output": (
        {**encoded(b"a"), "outputs": [{"name": "OUTPUT0"}]},
        "unknown output 'OUTPUT0'",
    ),
    "output twice": ({**encoded(b"a"), "outputs": [{"name": oip.LABEL}] * 2}, "requested twice"),
    "classification": (
        {**encoded(b"a"), "outputs": [{"name": oip.LABEL, "parameters": {"classification": 2}}]},
        "classification extension is not supported",
    ),
    "binary_data not a bool": (
        {**encoded(b"a"), "outputs": [{"name": oip.LABEL, "parameters": {"binary_data": 1}}]},
        "'binary_data' must be true or false",
    ),
}


@pytest.mark.parametrize("case", list(_BAD_JSON))
def test_malformed_json_requests_are_refused_with_a_clear_400(case: str) -> None:
    doc, message = _BAD_JSON[case]
    with pytest.raises(oip.ProtocolError) as refused:
        parse(doc)
    assert refused.value.status == 400 and message in refused.value.message


def _binary_bytes(size: int | str | None, shape: list[int] | None = None) -> dict[str, Any]:
    params = {} if size is None else {"binary_data_size": size}
    tensor = {"name": oip.ENCODED, "datatype": "BYTES", "shape": shape or [1], "parameters": params}
    return {"inputs": [tensor]}


_GOOD = bytes_tensor(b"crop")
_BAD_BINARY: dict[str, tuple[Any, bytes, str | None, str]] = {
    "header length not a number": (
        _binary_bytes(8),
        _GOOD,
        "eight",
        "must be the JSON header's length",
    ),
    "header length a superscript digit": (
        _binary_bytes(8),
        _GOOD,
        "\u00b2",  # Starlette decodes header bytes as latin-1; str.isdigit() passes it
        "must be the JSON header's length",
    ),
    "header length of 5,000 digits": (
        _binary_bytes(8),
        _GOOD,
        "1" * 5000,  # past int()'s digit limit
        "must be the JSON header's length",
    ),
    "header length past the body": (
        _binary_bytes(8),
        _GOOD,
        "100000",
        "must be the JSON header's length",
    ),
    "bytes but no binary input": (_binary_bytes(None), _GOOD, None, "no input declares"),
    "size differs from the bytes": (
        _binary_bytes(3),
        _GOOD,
        None,
        "binary_data_size is 3 but 8 bytes",
    ),
    "size not an integer": (
        _binary_bytes("8"),
        _GOOD,
        None,
        "binary_data_size is '8'",
    ),
    "data and binary": (
        {"inputs": [{**_binary_bytes(8)["inputs"][0], "data": ["Y3JvcA=="]}]},
        _GOOD,
        None,
        "both 'data' and a binary_data_size",
    ),
    "truncated length prefix": (_binary_bytes(2), _GOOD[:2], None, "truncated element length"),
    "element past the end": (_binary_bytes(7), _GOOD[:7], None, "declares 4 bytes, 3 remain"),
    "fp32 bytes short": (
        _fp32([1, 3, *SIZE], None, parameters={"binary_data_size": 8}),
        b"\0" * 8,
        None,
        "needs 384 bytes of FP32, got 8",
    ),
    "fp32 infinite": (
        _fp32([1, 3, *SIZE], None, parameters={"binary_data_size": 384}),
        np.full(96, np.inf, "<f4").tobytes(),
        None,
        "NaN or infinite",
    ),
}


@pytest.mark.parametrize("case", list(_BAD_BINARY))
def test_malformed_binary_requests_are_refused_with_a_clear_400(case: str) -> None:
    doc, binary, header, message = _BAD_BINARY[case]
    with pytest.raises(oip.ProtocolError) as refused:
        parse(doc, binary, header)
    assert message in refused.value.message


def test_model_name_and_version_must_be_the_served_ones() -> None:
    oip.check_model(META, "gennet", None)
    oip.check_model(META, "gennet", META.version)
    for name, version in (("resnet", None), ("gennet", "2")):
        with pytest.raises(oip.ModelNotFoundError) as missing:
            oip.check_model(META, name, version)
        assert missing.value.status == 404


def _answer(request: oip.InferRequest) -> triton.InferResult:
    body, header = oip.encode_infer_response(
        META, request, [0.75, 0.25], ["male", "female"], 0.5, tta=False
    )
    return triton.InferenceServerClient.parse_response_body(body, header_length=header)


@pytest.mark.parametrize("binary", [False, True])
def test_responses_read_back_with_tritonclient(binary: bool) -> None:
    request = parse(
        {**encoded(b"a", b"b"), "id": "abc", "parameters": {"binary_data_output": binary}}
    )
    result = _answer(request)
    np.testing.assert_array_equal(
        result.as_numpy(oip.PROB_MALE), np.asarray([0.75, 0.25], dtype=np.float32)
    )
    labels = result.as_numpy(oip.LABEL)
    assert [v.decode() if isinstance(v, bytes) else v for v in labels] == ["male", "female"]
    response = result.get_response()
    assert response["model_name"] == "gennet" and response["model_version"] == META.version
    assert response["id"] == "abc"
    assert response["parameters"] == {"threshold": 0.5, "camera": None, "tta": False}


def test_mixed_binary_and_json_outputs_in_request_order() -> None:
    outputs = [{"name": oip.LABEL, "parameters": {"binary_data": True}}, {"name": oip.PROB_MALE}]
    request = parse({**encoded(b"a", b"b"), "outputs": outputs})
    body, header = oip.encode_infer_response(
        META, request, [0.75, 0.25], ["male", "female"], 0.5, tta=False
    )
    assert header is not None
    doc = json.loads(body[:header])
    assert [o["name"] for o in doc["outputs"]] == [oip.LABEL, oip.PROB_MALE]
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": len(body) - header}
    assert doc["outputs"][1]["data"] == [0.75, 0.25]
    assert body[header:] == bytes_tensor(b"male", b"female")


def test_json_only_response_has_no_binary_header() -> None:
    body, header = oip.encode_infer_response(
        META, parse(encoded(b"a")), [0.5], ["male"], 0.5, tta=False
    )
    assert header is None and json.loads(body)["outputs"][1]["data"] == ["male"]


def test_model_metadata_documents_inputs_outputs_and_threshold() -> None:
    metadata = oip.model_metadata(META, "onnx")
    assert metadata["inputs"][1] == {
        "name": oip.PREPROCESSED,
        "datatype": "FP32",
        "shape": [-1, 3, 8, 4],
    }
    assert [o["name"] for o in metadata["outputs"]] == [oip.PROB_MALE, oip.LABEL]
    params = metadata["parameters"]
    assert params["threshold"] == META.threshold and params["class_names"] == ["male", "female"]
    assert params["mean"] == list(META.mean) and params["std"] == list(META.std)
    oip.ModelMetadata(**metadata)  # what /docs promises
