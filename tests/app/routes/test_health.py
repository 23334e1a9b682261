"""``/health``, ``/health/ready`` and ``/health/live`` through the app while starting, ready and
draining; the model card (``/model``)."""

import pytest

from gennet.inference import DEFAULT_TTA_MARGIN
from tests.support.answers import assert_error, form
from tests.support.fakes import FakePredictor, client_for, fake_app

pytestmark = pytest.mark.anyio


async def test_not_ready_before_start_and_while_draining(crops: list[bytes]) -> None:
    app = fake_app(FakePredictor())
    async with client_for(app, start=False) as client:
        starting = await client.get("/health/ready")
        refused = await client.post("/predict", files=form(crops[0]))
        summary = (await client.get("/health")).json()
        live = await client.get("/health/live")
        async with app.router.lifespan_context(app):
            ready = await client.get("/health/ready")
        draining = await client.get("/health/ready")
        after = await client.post("/predict", files=form(crops[0]))
    assert (starting.status_code, starting.json()) == (503, {"status": "starting"})
    assert_error(refused, 503, "not_ready")
    assert summary["status"] == "starting" and summary["model"] is None
    assert live.status_code == ready.status_code == 200
    assert (draining.status_code, draining.json()) == (503, {"status": "draining"})
    assert_error(after, 503, "not_ready")


async def test_health_summary_and_model_card() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        health = (await client.get("/health")).json()
        card = await client.get("/model")
    assert health["status"] == "ready"
    assert (health["device"], health["runtime"], health["queue_depth"]) == ("cpu", "fake", 0)
    assert health["model"] == {"name": "gennet", "version": "1.0.0"}
    assert health["uptime_s"] >= 0
    body = card.json()
    assert body["weights_sha256"] == "f" * 64
    assert body["input_size"] == [32, 16]
    assert body["data"] == {"dataset": "fake"} and body["recipe"] == {"lr": 0.1}
    assert "secret" not in card.text


async def test_health_and_model_card_state_the_tta_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENNET_TTA_MARGIN", "0.125")
    async with client_for(fake_app(FakePredictor(), tta=True)) as client:
        health = (await client.get("/health")).json()
        serving = (await client.get("/model")).json()["serving"]
    assert (health["tta"], health["tta_margin"]) == (True, 0.125)
    assert (serving["tta"], serving["tta_margin"]) == (True, 0.125)
    assert DEFAULT_TTA_MARGIN != 0.125  # what showed is the environment's, not the default
