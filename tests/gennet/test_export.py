"""The ONNX export agrees with PyTorch on real crops, at any batch size, and names its weights."""

from pathlib import Path

import numpy as np

from gennet.checkpoint import load_checkpoint
from gennet.inference import OnnxPredictor, TorchPredictor, predict
from gennet.preprocess import preprocess_bytes
from gennet.runtimes.onnx_graphs import onnx_weights_sha256

TOLERANCE = 1e-4


def test_onnx_matches_pytorch_on_real_crops(
    checkpoint_path: Path, onnx_path: Path, real_crops: list[bytes]
) -> None:
    model, meta = load_checkpoint(checkpoint_path)
    batch = np.stack([preprocess_bytes(data, meta.preprocess_spec) for data in real_crops])
    torch_probs = TorchPredictor(model, "cpu")(batch)
    onnx = OnnxPredictor(onnx_path, threads=1)
    onnx_probs = onnx(batch)

    assert onnx_probs.shape == torch_probs.shape == (len(real_crops),)
    assert np.abs(onnx_probs - torch_probs).max() < TOLERANCE
    assert torch_probs.std() > 1e-3  # the crops get different answers: the check is not vacuous
    # Dynamic batch axis: one crop alone and with flip TTA give the same answers.
    np.testing.assert_allclose(onnx(batch[:1]), onnx_probs[:1], atol=TOLERANCE)
    tta = predict(onnx, batch, tta=True, batch_size=5)
    np.testing.assert_allclose(tta, predict(TorchPredictor(model), batch, tta=True), atol=TOLERANCE)


def test_onnx_carries_the_checkpoint_digest(checkpoint_path: Path, onnx_path: Path) -> None:
    _, meta = load_checkpoint(checkpoint_path)
    assert onnx_weights_sha256(onnx_path) == meta.weights_sha256
