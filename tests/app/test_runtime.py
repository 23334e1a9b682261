"""The service on the real checkpoint: runtimes, batching real crops, start-up (ONNX freshness:
tests/gennet/runtimes/test_onnx_graphs.py)."""

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch

from app.errors import StartupError
from app.main import create_app
from app.runtime import build_runtime
from app.settings import Settings
from gennet.preprocess import preprocess_bytes
from gennet.runtimes import RuntimeUnavailableError, resolve_device, resolve_kind
from tests.support.fakes import FakePredictor, client_for, fake_app
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only defaults")


def real_settings(checkpoint: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "model_path": checkpoint,
        "max_batch_size": 4,
        "threads": 1,
        "log_level": "WARNING",
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def test_torch_and_onnx_agree_on_real_crops(
    checkpoint_path: Path, onnx_path: Path, real_crops: list[bytes]
) -> None:
    runtimes = {
        kind: build_runtime(real_settings(checkpoint_path, runtime=kind, device="cpu"))
        for kind in ("torch", "onnx")
    }
    spec = runtimes["onnx"].meta.preprocess_spec
    batch = np.stack([preprocess_bytes(crop, spec) for crop in real_crops])
    probs = {kind: rt.predictor(batch) for kind, rt in runtimes.items()}
    assert np.abs(probs["torch"] - probs["onnx"]).max() < 1e-4
    assert np.ptp(probs["onnx"]) > 1e-3  # the crops really get different answers


async def test_concurrent_crops_match_single_requests(
    checkpoint_path: Path, onnx_path: Path, crops: list[bytes]
) -> None:
    app = create_app(real_settings(checkpoint_path, max_batch_size=8))
    async with client_for(app) as client:
        singles = [
            (await client.post("/predict", content=c, headers={"Content-Type": "image/jpeg"}))
            for c in crops
        ]
        together = await asyncio.gather(
            *(
                client.post("/predict", content=c, headers={"Content-Type": "image/jpeg"})
                for c in crops
            )
        )
        metrics = (await client.get("/metrics")).text
    single_probs = [r.json()["probabilities"]["male"] for r in singles]
    batched_probs = [r.json()["probabilities"]["male"] for r in together]
    assert len(set(np.round(single_probs, 6))) > len(crops) // 2
    assert batched_probs == pytest.approx(single_probs, abs=1e-5)
    ones = metric_value(metrics, "gennet_batch_size_bucket", le="1.0")
    assert metric_value(metrics, "gennet_batch_size_count") > ones  # some batch had > 1 row
    assert 'runtime="onnx"' in metrics


async def test_warm_up_visits_every_batch_size() -> None:
    predictor = FakePredictor()
    async with client_for(fake_app(predictor, max_batch_size=3)):
        assert predictor.sizes == [1, 2, 3]  # a mirror call is never larger than a batch


@pytest.mark.parametrize("content", [b"not a checkpoint", None])
async def test_bad_checkpoint_stops_startup_with_one_line(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "gennet.pt"
    if content is not None:
        path.write_bytes(content)
    app = create_app(real_settings(path))
    with pytest.raises(StartupError) as info:
        async with app.router.lifespan_context(app):
            pass
    message = str(info.value)
    assert str(path) in message and "\n" not in message


@no_cuda
def test_cpu_defaults_and_impossible_choices() -> None:
    assert resolve_device("auto") == "cpu"
    assert resolve_kind("auto", "cpu") == "onnx"
    assert resolve_kind("auto", "cuda") == "torch"
    with pytest.raises(RuntimeUnavailableError):
        resolve_device("cuda")
    with pytest.raises(RuntimeUnavailableError):
        resolve_kind("onnx", "cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_runtime_agrees_with_onnx(
    checkpoint_path: Path, onnx_path: Path, crops: list[bytes]
) -> None:
    gpu = build_runtime(real_settings(checkpoint_path))
    cpu = build_runtime(real_settings(checkpoint_path, device="cpu"))
    assert (gpu.kind, gpu.device) == ("torch", "cuda")
    batch = np.stack([preprocess_bytes(c, gpu.meta.preprocess_spec) for c in crops])
    # FP32 on both, but cuDNN runs convolutions in TF32 by default (torch.backends.cudnn.allow_tf32)
    assert np.abs(gpu.predictor(batch) - cpu.predictor(batch)).max() < 5e-3
