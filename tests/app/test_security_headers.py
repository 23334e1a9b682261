"""Every answer says ``X-Content-Type-Options: nosniff``; every URL serving the demo page sends its
Content-Security-Policy. (The answers ``gennet serve``'s protocol writes itself:
``test_head_limits.py`` and ``tests/e2e/``.)"""

import pytest
from service_fakes import FakePredictor, client_for, fake_app

from app.routes.demo import DEMO_HEADERS

pytestmark = pytest.mark.anyio

JPEG = {"Content-Type": "image/jpeg"}


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


async def test_the_demo_page_has_its_policy_on_every_url_that_serves_it() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        demo = await client.get("/demo")
        static = await client.get("/static/demo.html")
        static_head = await client.head("/static/demo.html")
        script = await client.get("/static/demo.js")
    assert demo.status_code == static.status_code == static_head.status_code == 200
    assert static.content == demo.content and b"<html" in demo.content.lower()
    policy = DEMO_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for page in (demo, static, static_head):
        assert page.headers.get_list("content-security-policy") == [policy]
    assert "content-security-policy" not in script.headers  # the page's, not the folder's
    assert script.headers["x-content-type-options"] == "nosniff"
