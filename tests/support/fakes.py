"""The service without a model: a fake predictor and runtime, settings and an app built on them,
and an in-process client."""

import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI

from app.main import create_app
from app.runtime import Runtime
from app.settings import Settings
from gennet.checkpoint import CheckpointMeta

INPUT_SIZE = (32, 16)


def score_rows(batch: np.ndarray) -> np.ndarray:
    """A deterministic, input-dependent, not mirror-symmetric P(male) per row."""
    left = batch[..., : batch.shape[-1] // 2].mean(axis=(1, 2, 3))
    return (1 / (1 + np.exp(-(left * 3 + batch.mean(axis=(1, 2, 3)))))).astype(np.float32)


class FakePredictor:
    """Records every batch it sees; can be slowed, blocked or made to fail."""

    device = "cpu"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[np.ndarray] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next = 0
        self.transform: Callable[[np.ndarray], np.ndarray] = score_rows

    @property
    def sizes(self) -> list[int]:
        return [len(batch) for batch in self.calls]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(batch.copy())
        self.gate.wait(timeout=10)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("boom")
        return self.transform(batch)


def fake_meta(**overrides: Any) -> CheckpointMeta:
    fields: dict[str, Any] = {
        "arch": "gennet",
        "input_size": INPUT_SIZE,
        "threshold": 0.5,
        "weights_sha256": "f" * 64,
        "data": {"dataset": "fake", "root": "/secret/data/root"},
        "recipe": {"lr": 0.1, "out": "/secret/runs"},
    }
    return CheckpointMeta(**{**fields, **overrides})


def fake_builder(
    predictor: FakePredictor, meta: CheckpointMeta | None = None
) -> Callable[[Settings], Runtime]:
    return lambda settings: Runtime(predictor, meta or fake_meta(), "fake", "cpu", 1)


def fake_settings(**overrides: Any) -> Settings:
    # TTA off unless a test asks: the fakes' call counts and answers assume one row per crop.
    values: dict[str, Any] = {
        "max_batch_size": 4,
        "decode_workers": 2,
        "log_level": "WARNING",
        "tta": False,
    }
    return Settings(**{**values, **overrides})


def fake_app(
    predictor: FakePredictor, meta: CheckpointMeta | None = None, **settings: Any
) -> FastAPI:
    return create_app(fake_settings(**settings), runtime_builder=fake_builder(predictor, meta))


@asynccontextmanager
async def client_for(app: FastAPI, *, start: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the app, with its lifespan run around it when ``start``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        if not start:
            yield client
            return
        async with app.router.lifespan_context(app):
            yield client
