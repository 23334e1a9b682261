"""The pure ASGI ``POST /predict`` (``app.protocols.fastpath``): the queries it takes, and answers
and errors alike to the FastAPI route's. (The multipart reader it shares with the FastAPI routes:
``tests/app/http/test_uploads.py``.)"""

import pytest

from app.protocols.fastpath import plain_query
from tests.support.fakes import FakePredictor, client_for, fake_app
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", (None, None)),  # tta not said: the service default applies
        (b"tta=true", (True, None)),
        (b"tta=0&camera=GRID%3A3", (False, "GRID:3")),
        (b"camera=cam-1&other=ignored", (None, "cam-1")),
        (b"tta=yes", None),  # valid, but FastAPI's validation decides
        (b"tta=maybe", None),
        (b"tta=true&tta=false", None),
        (b"camera=", None),
        (b"camera=a%0Ab", None),
        (b"camera=" + b"x" * 129, None),
    ],
)
def test_plain_query_takes_only_what_needs_no_judgement(
    query: bytes, expected: tuple[bool, str | None] | None
) -> None:
    assert plain_query(query) == expected


async def test_fast_path_and_fastapi_route_answer_alike(crops: list[bytes]) -> None:
    app = fake_app(FakePredictor())
    files = {"file": ("crop.jpg", crops[0], "image/jpeg")}
    async with client_for(app) as client:
        fast = await client.post("/predict?tta=true&camera=cam-1", files=files)
        routed = await client.post("/predict?tta=yes&camera=cam-1", files=files)  # via FastAPI
        metrics = (await client.get("/metrics")).text
    assert fast.status_code == routed.status_code == 200
    same = ("label", "score", "probabilities", "tta", "camera", "threshold", "model")
    assert {k: fast.json()[k] for k in same} == {k: routed.json()[k] for k in same}
    assert fast.headers["x-request-id"] and routed.headers["x-request-id"]
    assert metric_value(metrics, "gennet_requests_total", route="/predict", status="200") == 2


async def test_fast_path_errors_come_from_the_one_error_map(crops: list[bytes]) -> None:
    async with client_for(fake_app(FakePredictor(), api_key="s3cret")) as client:
        missing_key = await client.post("/predict", content=crops[0])
        unsupported = await client.post(
            "/predict", content=b"x", headers={"Content-Type": "text/plain", "X-API-Key": "s3cret"}
        )
        not_an_image = await client.post(
            "/predict",
            content=b"junk",
            headers={"Content-Type": "image/jpeg", "X-API-Key": "s3cret"},
        )
        metrics = (await client.get("/metrics")).text
    assert missing_key.status_code == 401
    assert missing_key.json()["error"]["code"] == "unauthorized"
    assert unsupported.status_code == 415
    assert unsupported.json()["error"]["code"] == "unsupported_media_type"
    assert not_an_image.status_code == 400
    assert not_an_image.json()["error"]["code"] == "invalid_image"
    assert metric_value(metrics, "gennet_rejections_total", reason="invalid_image") == 1
