"""The Open Inference Protocol (KServe v2) REST messages of GenNet: no HTTP, no model.

An inference request is a JSON document, or with the binary tensor data extension a JSON header of
``Inference-Header-Content-Length`` bytes followed by the raw tensors of the inputs that declare a
``binary_data_size``. GenNet takes exactly one input, ``encoded_image`` (BYTES) or
``preprocessed_image`` (FP32): see ``tensors``. The JSON is read without a Python object per value
(``json_body``), and every count is checked before the data it counts is decoded.

It answers ``prob_male`` (FP32 ``[N]``) and ``label`` (BYTES ``[N]``), each as JSON data or binary
data as the request asks. Every malformed request raises :class:`ProtocolError` (400) with a message
that says what to change.
"""

import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import simdjson
from pydantic import BaseModel, Field

from app.protocols.v2.errors import ModelNotFoundError, ProtocolError, shown
from app.protocols.v2.json_body import BINARY_HEADER, read_document
from app.protocols.v2.tensors import ENCODED, PREPROCESSED, encoded_images, preprocessed
from gennet.calibration import CAMERA_NAME, CAMERA_PATTERN
from gennet.checkpoint import CheckpointMeta
from gennet.preprocess import PreprocessSpec

PROB_MALE = "prob_male"
LABEL = "label"
OUTPUTS = (PROB_MALE, LABEL)
EXTENSIONS = ("binary_tensor_data",)


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(frozen=True)
class InferRequest:
    """A validated request: exactly one of ``images`` (encoded) or ``arrays`` (N, 3, H, W)."""

    id: str | None
    images: list[bytes] | None
    arrays: np.ndarray | None
    tta: bool | None  # None: not said (the service's default applies)
    camera: str | None
    outputs: tuple[RequestedOutput, ...]


def check_model(meta: CheckpointMeta, name: str, version: str | None) -> None:
    """404 unless ``name`` (and ``version``, when the path has one) is the served model."""
    if name != meta.name:
        raise ModelNotFoundError(
            f"model {shown(name)} is not served here; this server serves {meta.name!r}"
        )
    if version is not None and version != meta.version:
        raise ModelNotFoundError(
            f"model {shown(name)} has no version {shown(version)}; "
            f"the served version is {meta.version!r}"
        )


# --- requests ---------------------------------------------------------------------------------


def parse_infer_request(
    body: bytes, header_length: str | None, spec: PreprocessSpec, max_items: int
) -> InferRequest:
    """Validate an inference request body (``header_length``: the binary extension's header;
    ``spec``: the served model's input size and normalisation, which FP32 inputs must match).

    The request holds only Python and numpy values, so the parsed document (a multiple of the
    body) goes when this returns. A refusal is raised afresh for the same reason: the first
    error's traceback holds the frames that hold the document, for as long as the error lives.
    """
    try:
        return _parse_request(body, header_length, spec, max_items)
    except ProtocolError as exc:
        refusal = str(exc)
    raise ProtocolError(refusal)


def _parse_request(
    body: bytes, header_length: str | None, spec: PreprocessSpec, max_items: int
) -> InferRequest:
    header, binary = _split(body, header_length)
    doc = read_document(header)
    params = _object(doc.get("parameters", {}), "request 'parameters'")
    inputs = doc.get("inputs")
    if not isinstance(inputs, simdjson.Array) or len(inputs) != 1:
        raise ProtocolError(
            f"send exactly one input: {ENCODED!r} (BYTES [N]) or {PREPROCESSED!r} (FP32 [N, 3, H, W])"
        )
    tensor = _object(inputs[0], "an input")
    data = _tensor_data(tensor, binary)
    name, datatype = tensor.get("name"), tensor.get("datatype")
    shape = _shape(tensor.get("shape"), name)
    images: list[bytes] | None = None
    arrays: np.ndarray | None = None
    if name == ENCODED:
        _expect_datatype(name, datatype, "BYTES")
        images = encoded_images(data, shape, max_items)
    elif name == PREPROCESSED:
        _expect_datatype(name, datatype, "FP32")
        arrays = preprocessed(data, shape, spec, max_items)
    else:
        raise ProtocolError(
            f"unknown input {shown(name)}; this model takes {ENCODED!r} or {PREPROCESSED!r}"
        )
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("request 'id' must be a string")
    return InferRequest(
        id=request_id,
        images=images,
        arrays=arrays,
        tta=None if params.get("tta") is None else _flag(params, "tta", "request parameter"),
        camera=_camera(params.get("camera")),
        outputs=_outputs(
            doc.get("outputs"), _flag(params, "binary_data_output", "request parameter")
        ),
    )


_HEADER_LENGTH = re.compile(r"[0-9]{1,19}")


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    text = header_length.strip()
    # ASCII digits only: str.isdigit() also passes '²', which int() refuses
    if not _HEADER_LENGTH.fullmatch(text) or int(text) > len(body):
        raise ProtocolError(
            f"{BINARY_HEADER} must be the JSON header's length in bytes, at most the body's "
            f"{len(body)}; got {shown(header_length)}"
        )
    return body[: int(text)], body[int(text) :]


def _object(value: Any, what: str) -> Mapping[str, Any]:
    """A JSON object of the document (or the ``{}`` default of an absent one)."""
    if not isinstance(value, simdjson.Object | dict):
        raise ProtocolError(f"{what} must be a JSON object")
    return value


def _flag(params: Mapping[str, Any], key: str, what: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise ProtocolError(f"{what} {key!r} must be true or false")
    return value


def _camera(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not CAMERA_NAME.fullmatch(value):
        raise ProtocolError(f"request parameter 'camera' must match {CAMERA_PATTERN}")
    return value


def _expect_datatype(name: str, datatype: Any, expected: str) -> None:
    if datatype != expected:
        raise ProtocolError(
            f"input {shown(name)} must have datatype {expected}; got {shown(datatype)}"
        )


_MAX_DIMS = 8  # GenNet's inputs have 1 or 4; more is read no further


def _shape(value: Any, name: Any) -> list[int]:
    dims: list[Any] | None = None
    if isinstance(value, simdjson.Array) and len(value) <= _MAX_DIMS:
        dims = list(value)  # numbers, or proxies (refused below) never copied out
    if dims is None or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims
    ):
        raise ProtocolError(
            f"input {shown(name)}: 'shape' must be a list of at most {_MAX_DIMS} non-negative "
            "integers"
        )
    return dims


def _tensor_data(tensor: Mapping[str, Any], binary: bytes) -> Any:
    """The JSON ``data``, or the bytes after the header for a binary input (which must be all)."""
    params = _object(tensor.get("parameters", {}), "input 'parameters'")
    size = params.get("binary_data_size")
    if size is None:
        if binary:
            raise ProtocolError(
                f"{len(binary)} bytes follow the JSON header but no input declares a binary_data_size"
            )
        if "data" not in tensor:
            raise ProtocolError(
                "an input needs 'data', or parameters.binary_data_size with binary data"
            )
        return tensor["data"]
    if "data" in tensor:
        raise ProtocolError("an input has both 'data' and a binary_data_size; send one")
    if not isinstance(size, int) or isinstance(size, bool) or size != len(binary):
        raise ProtocolError(
            f"binary_data_size is {shown(size)} but {len(binary)} bytes follow the JSON header "
            f"({BINARY_HEADER})"
        )
    return binary


def _outputs(value: Any, default_binary: bool) -> tuple[RequestedOutput, ...]:
    if value is None:
        return tuple(RequestedOutput(name, default_binary) for name in OUTPUTS)
    if not isinstance(value, simdjson.Array) or not value:
        raise ProtocolError("'outputs' must be a non-empty list of requested outputs")
    requested: list[RequestedOutput] = []
    for item in value:
        output = _object(item, "a requested output")
        name = output.get("name")
        if name not in OUTPUTS:
            raise ProtocolError(
                f"unknown output {shown(name)}; this model answers {PROB_MALE!r} and {LABEL!r}"
            )
        if name in {r.name for r in requested}:
            raise ProtocolError(f"output {shown(name)} is requested twice")
        params = _object(output.get("parameters", {}), "output 'parameters'")
        if params.get("classification"):
            raise ProtocolError("the classification extension is not supported; read 'label'")
        binary = params.get("binary_data", default_binary)
        if not isinstance(binary, bool):
            raise ProtocolError(
                f"output {shown(name)}: parameter 'binary_data' must be true or false"
            )
        requested.append(RequestedOutput(name, binary))
    return tuple(requested)


# --- responses --------------------------------------------------------------------------------


def encode_infer_response(
    meta: CheckpointMeta,
    request: InferRequest,
    probs: list[float],
    labels: list[str],
    threshold: float,
    tta: bool,
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when any output is binary (else None).

    Its ``parameters`` say which threshold made the labels (the camera's calibrated one, if any).
    """
    values: dict[str, np.ndarray] = {
        PROB_MALE: np.asarray(probs, dtype=np.float32),
        LABEL: np.asarray(labels, dtype=object),
    }
    outputs, chunks = [], []
    for requested in request.outputs:
        array = values[requested.name]
        tensor: dict[str, Any] = {
            "name": requested.name,
            "datatype": "FP32" if requested.name == PROB_MALE else "BYTES",
            "shape": [len(array)],
        }
        if requested.binary:
            chunk = _binary(array)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            tensor["data"] = array.tolist()
        outputs.append(tensor)
    doc: dict[str, Any] = {"model_name": meta.name, "model_version": meta.version}
    if request.id is not None:
        doc["id"] = request.id
    doc["parameters"] = {"threshold": threshold, "camera": request.camera, "tta": tta}
    doc["outputs"] = outputs
    header = json.dumps(doc, separators=(",", ":")).encode()
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)


def _binary(array: np.ndarray) -> bytes:
    if array.dtype == object:
        return b"".join(struct.pack("<I", len(b)) + b for b in (s.encode() for s in array))
    return array.astype("<f4").tobytes()


def server_metadata(version: str) -> dict[str, Any]:
    return {"name": "gennet", "version": version, "extensions": list(EXTENSIONS)}


def model_metadata(meta: CheckpointMeta, platform: str) -> dict[str, Any]:
    height, width = meta.input_size
    return {
        "name": meta.name,
        "versions": [meta.version],
        "platform": platform,
        "inputs": [
            {"name": ENCODED, "datatype": "BYTES", "shape": [-1]},
            {"name": PREPROCESSED, "datatype": "FP32", "shape": [-1, 3, height, width]},
        ],
        "outputs": [
            {"name": PROB_MALE, "datatype": "FP32", "shape": [-1]},
            {"name": LABEL, "datatype": "BYTES", "shape": [-1]},
        ],
        "parameters": {
            "inputs": f"send exactly one: {ENCODED} (encoded crops; base64 in JSON, raw bytes "
            f"in binary data) or {PREPROCESSED} (RGB, resized bilinearly to {height}x{width}, "
            "scaled to [0, 1], then (x - mean) / std per channel)",
            "outputs": f"{PROB_MALE}: probability that the person is {meta.class_names[0]}; "
            f"{LABEL}: {meta.class_names[0]} when {PROB_MALE} >= threshold, else "
            f"{meta.class_names[1]}",
            "request_parameters": "tta (bool): also predict the mirrored crop and average; "
            "camera (string): the camera the crops come from, whose calibrated threshold then "
            "applies; binary_data_output (bool): every output as binary data",
            "threshold": meta.threshold,  # the default; a calibrated camera has its own
            "class_names": list(meta.class_names),
            "mean": list(meta.mean),
            "std": list(meta.std),
        },
    }


# --- documentation (OpenAPI) ------------------------------------------------------------------


class Live(BaseModel):
    live: bool = Field(description="The server process is up.")


class Ready(BaseModel):
    ready: bool = Field(description="The server can take inference requests.")


class ModelReady(BaseModel):
    name: str = Field(description="Model name.")
    ready: bool = Field(description="The model is loaded, warmed up and not draining.")


class ErrorBody(BaseModel):
    """The protocol's error shape (the same statuses as the rest of the API)."""

    error: str = Field(description="What went wrong.")


class ServerMetadata(BaseModel):
    name: str = Field(description="Server name.")
    version: str = Field(description="Server version.")
    extensions: list[str] = Field(description="Protocol extensions supported.")


class TensorMetadata(BaseModel):
    name: str = Field(description="Tensor name.")
    datatype: str = Field(description="Element type (BYTES, FP32).")
    shape: list[int] = Field(description="Shape; -1 for the batch dimension.")


class ModelMetadata(BaseModel):
    name: str = Field(description="Model name.")
    versions: list[str] = Field(description="Served versions.")
    platform: str = Field(description="Runtime that serves it (onnx, torch).")
    inputs: list[TensorMetadata] = Field(description="Accepted inputs: send exactly one.")
    outputs: list[TensorMetadata] = Field(description="Outputs.")
    parameters: dict[str, Any] = Field(
        description="How to use it: input and output meaning, threshold, normalisation."
    )


class OutputTensor(BaseModel):
    name: str = Field(description="prob_male or label.")
    datatype: str = Field(description="FP32 or BYTES.")
    shape: list[int] = Field(description="[N], one element per input crop.")
    data: list[float] | list[str] | None = Field(
        None, description="The values, unless sent as binary data."
    )
    parameters: dict[str, Any] | None = Field(
        None, description="binary_data_size: bytes of this output after the JSON header."
    )


class InferResponse(BaseModel):
    model_name: str = Field(description="Model that answered.")
    model_version: str = Field(description="Its version.")
    id: str | None = Field(None, description="The request's id, when it had one.")
    parameters: dict[str, Any] = Field(
        description="threshold: the P(male) threshold that made the labels (the camera's "
        "calibrated one, else the default); camera and tta as requested."
    )
    outputs: list[OutputTensor] = Field(description="The requested outputs, in request order.")
