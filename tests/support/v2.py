"""The Open Inference Protocol parser without HTTP, on a small model: its settings, a parse call,
and the documents the tests send."""

import base64
import json
from typing import Any

import numpy as np

from app.protocols.v2 import messages as oip
from tests.support.fakes import fake_meta

SIZE = (8, 4)  # (H, W) of the model in these tests
MAX_ITEMS = 3
META = fake_meta(input_size=SIZE)
SPEC = META.preprocess_spec


def parse(doc: Any, binary: bytes = b"", header: str | None = None) -> oip.InferRequest:
    """Parse ``doc`` (a JSON-able object, or the JSON bytes) followed by ``binary``; the header
    (the JSON part's length) is set whenever there is a binary part, unless given."""
    text = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    if binary and header is None:
        header = str(len(text))
    return oip.parse_infer_request(text + binary, header, SPEC, MAX_ITEMS)


def encoded(*images: bytes, **tensor: Any) -> dict[str, Any]:
    """A request of one BYTES tensor holding ``images`` in base64; ``tensor`` overrides its fields."""
    data = [base64.b64encode(image).decode() for image in images]
    fields = {"name": oip.ENCODED, "datatype": "BYTES", "shape": [len(data)], "data": data}
    return {"inputs": [{**fields, **tensor}]}


def normalised(pixels: np.ndarray) -> np.ndarray:
    """(x - mean) / std per channel of pixel values ``pixels`` (N, 3, H, W) in [0, 1]."""
    mean, std = (np.asarray(v).reshape(1, 3, 1, 1) for v in (SPEC.mean, SPEC.std))
    return ((pixels - mean) / std).astype(np.float32)
