"""The CPU service runs from the ONNX graph alone: with torch (and onnx, onnxscript, matplotlib)
unimportable, ``import app.serve`` works and the app predicts through ONNX Runtime.

Each case runs in a fresh interpreter whose ``sys.meta_path`` refuses those packages, as in the CPU
image and a base (``pip install gennet``) install.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gennet.checkpoint import read_meta

BLOCKED = ("torch", "torchvision", "onnx", "onnxscript", "matplotlib")

SERVE_WITHOUT_TORCH = r"""
import asyncio, importlib.abc, io, json, sys

class Blocked(importlib.abc.MetaPathFinder):
    names = set(sys.argv[1].split(","))

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Blocked())

import httpx
import numpy as np
from PIL import Image

import app.serve  # the entry point too
from app.main import create_app
from app.settings import Settings

settings = Settings(model_path=sys.argv[2], onnx_cache_dir=sys.argv[3], runtime="onnx",
                    device="auto", max_batch_size=2, threads=1, decode_workers=1,
                    log_level="WARNING")

def crop(seed):
    pixels = np.random.default_rng(seed).integers(0, 256, (160, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG")
    return out.getvalue()

async def main():
    application = create_app(settings)
    transport = httpx.ASGITransport(app=application)
    async with application.router.lifespan_context(application):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answers = [
                (await client.post("/predict", files={"file": ("c.jpg", crop(s), "image/jpeg")}))
                for s in range(3)
            ]
            health = (await client.get("/health")).json()
            model = (await client.get("/model")).json()
    return {
        "status": [a.status_code for a in answers],
        "male": [a.json()["probabilities"]["male"] for a in answers],
        "runtime": health["runtime"],
        "device": health["device"],
        "model": model,
        "torch_imported": "torch" in sys.modules,
    }

try:
    print(json.dumps(asyncio.run(main())))
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
"""


def serve_without_torch(model: Path, cache_dir: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", SERVE_WITHOUT_TORCH, ",".join(BLOCKED), str(model), str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


@pytest.mark.parametrize("served", ["checkpoint", "graph"])
def test_serves_without_torch(
    served: str, checkpoint_path: Path, onnx_path: Path, tmp_path: Path
) -> None:
    """The checkpoint (its fresh graph beside it) or the graph alone: same answers, no torch."""
    model = checkpoint_path if served == "checkpoint" else onnx_path
    answer = serve_without_torch(model, tmp_path / "cache")
    assert "error" not in answer, answer
    assert answer["status"] == [200, 200, 200]
    assert (answer["runtime"], answer["device"]) == ("onnx", "cpu")
    assert answer["torch_imported"] is False
    meta, _ = read_meta(checkpoint_path)
    assert answer["model"]["weights_sha256"] == meta.weights_sha256  # type: ignore[index]
    assert not (tmp_path / "cache").exists(), "the shipped graph was fresh: nothing re-exported"
    if served == "graph":
        assert answer["male"] == serve_without_torch(checkpoint_path, tmp_path / "c2")["male"]


def test_a_checkpoint_without_its_graph_needs_torch(checkpoint_path: Path, tmp_path: Path) -> None:
    """Only a .pt: the graph must be exported, which needs torch: one clear line."""
    lonely = tmp_path / "model.pt"
    lonely.write_bytes(checkpoint_path.read_bytes())
    answer = serve_without_torch(lonely, tmp_path / "cache")
    error = str(answer.get("error", ""))
    assert "StartupError" in error and "needs torch" in error and "gennet[torch]" in error
    assert "\n" not in error
