"""The API key (``app.http.deps``): what it guards, how a client sends it, how it is refused."""

import pytest

from tests.support.answers import assert_error, form
from tests.support.fakes import FakePredictor, client_for, fake_app

pytestmark = pytest.mark.anyio


async def test_api_key(crops: list[bytes]) -> None:
    app = fake_app(FakePredictor(), api_key="s3cret")
    async with client_for(app) as client:
        missing = await client.post("/predict", files=form(crops[0]))
        wrong = await client.post("/predict", files=form(crops[0]), headers={"X-API-Key": "nope"})
        bearer = await client.post(
            "/predict", files=form(crops[0]), headers={"Authorization": "Bearer s3cret"}
        )
        header = await client.get("/model", headers={"X-API-Key": "s3cret"})
        model = await client.get("/model")
        open_routes = [await client.get(p) for p in ("/health", "/health/live", "/metrics")]
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(wrong, 401, "unauthorized")
    assert_error(model, 401, "unauthorized")
    assert bearer.status_code == header.status_code == 200
    assert all(r.status_code == 200 for r in open_routes)
