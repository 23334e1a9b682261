"""Fixtures for the hostile-input, overload, fault and exposure tests.

``real_client`` is the real ASGI app on the session's small random-weight checkpoint and its ONNX
export (``tests/conftest.py``), started once per module; tests where the model does not matter use
the fake runtime of ``tests/support/fakes.py``.
"""

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.settings import Settings
from tests.support.fakes import client_for

# Hypothesis (under schemathesis) caches what it learns; keep that out of the repository.
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "gennet-hypothesis")
)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """The service runs on asyncio (uvicorn's loop); module scope lets fixtures share an app."""
    return "asyncio"


def real_settings(checkpoint: Path, onnx: Path, cache: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "model_path": checkpoint,
        "onnx_path": onnx,
        "onnx_cache_dir": cache,
        "device": "cpu",
        "runtime": "onnx",
        "threads": 1,
        "max_batch_size": 2,
        "decode_workers": 2,
        "log_level": "WARNING",
    }
    return Settings(**{**values, **overrides})


@pytest.fixture(scope="module")
async def real_client(
    checkpoint_path: Path, onnx_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the real app (ONNX Runtime on the test checkpoint), started once."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    app = create_app(real_settings(checkpoint_path, onnx_path, cache))
    async with client_for(app) as client:
        yield client
