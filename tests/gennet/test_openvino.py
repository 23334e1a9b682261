"""The OpenVINO backend: the same graph as ONNX Runtime, the same answers (FP32), any batch size.

INT8 in OpenVINO: test_quantize.py (every runtime that declares INT8). Skipped where the
``openvino`` extra is not installed (it is part of the dev extra).
"""

from pathlib import Path

import numpy as np
import pytest

from gennet.inference import OnnxPredictor, predict
from gennet.preprocess import preprocess_bytes
from gennet.runtimes import ModelFiles, get_backend

pytest.importorskip("openvino")

TOLERANCE = 1e-4


def test_openvino_matches_onnx_runtime_at_every_batch_size(
    checkpoint_path: Path, onnx_path: Path, crops: list[bytes]
) -> None:
    loaded = get_backend("openvino").load(ModelFiles(checkpoint_path), "cpu", 1)
    batch = np.stack([preprocess_bytes(c, loaded.meta.preprocess_spec) for c in crops])
    expected = OnnxPredictor(onnx_path, threads=1)(batch)
    assert np.ptp(expected) > 1e-3  # the crops get different answers: the check is not vacuous
    for size in (1, 5, 16):  # each batch size is a model compiled for that shape
        got = predict(loaded.predictor, batch, batch_size=size)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < TOLERANCE, size
    first = loaded.predictor(batch[:5])
    loaded.predictor(batch[5:10])  # the same shape: the same infer request and output buffer
    assert np.abs(first - expected[:5]).max() < TOLERANCE  # the answer is a copy, not the buffer
