"""The ASGI middleware (``app.http.middleware``): the request ID, ``X-Content-Type-Options: nosniff``
on every answer, and the last-resort 500. (The answers ``gennet serve``'s protocol writes itself:
``test_head_limits.py`` and ``tests/e2e/``.)"""

import pytest

from tests.support.answers import JPEG, assert_error, form
from tests.support.fakes import FakePredictor, client_for, fake_app

pytestmark = pytest.mark.anyio


async def test_nosniff_on_answers_errors_not_found_and_refusals() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        answers = {
            "answer": await client.get("/health"),
            "error": await client.post("/predict", content=b"x", headers={"Content-Type": "a/b"}),
            "not found": await client.get("/nowhere"),
            "v2 error": await client.get("/v2/models/other"),
        }
    async with client_for(fake_app(FakePredictor()), start=False) as client:
        answers["refusal"] = await client.post("/predict", content=b"x", headers=JPEG)
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "answer": 200,
        "error": 415,
        "not found": 404,
        "v2 error": 404,
        "refusal": 503,
    }
    assert answers["refusal"].headers["retry-after"] == "1"  # not_ready, before the model loads
    for name, answer in answers.items():
        assert answer.headers.get_list("x-content-type-options") == ["nosniff"], name
        assert answer.headers["x-request-id"], name


async def test_request_id_echoed_or_generated() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
        generated = await client.get("/health/live")
        unsafe = await client.get("/health/live", headers={"X-Request-ID": "a b\tc"})
        missing = await client.get("/nowhere")
        wrong_method = await client.get("/predict")
    assert echoed.headers["X-Request-ID"] == "abc-123"
    assert len(generated.headers["X-Request-ID"]) == 32
    assert unsafe.headers["X-Request-ID"] not in ("a b\tc", "")
    assert_error(missing, 404, "not_found")
    assert missing.headers["X-Request-ID"]
    assert_error(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["Allow"] == "POST"


async def test_unknown_error_is_a_fixed_500(crops: list[bytes]) -> None:
    app = fake_app(FakePredictor())
    async with client_for(app) as client:
        service = app.state.service

        def broken(*args: object) -> float:
            raise RuntimeError("/secret/path details")

        service.submit = broken
        response = await client.post("/predict", files=form(crops[0]))
    assert_error(response, 500, "internal_error")
    assert "secret" not in response.text
    assert response.headers["X-Request-ID"]
