"""The pure ASGI ``POST /predict`` and the multipart reader it shares with the FastAPI routes."""

import pytest
from service_fakes import FakePredictor, client_for, fake_app, metric_value

from app.errors import InvalidRequestError
from app.http.uploads import form_files
from app.protocols.fastpath import plain_query

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


def _form(*parts: tuple[str, str | None, bytes], boundary: str = "b0undary") -> bytes:
    lines = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        lines.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data)
    return b"\r\n".join(lines) + f"\r\n--{boundary}--\r\n".encode()


CONTENT_TYPE = "multipart/form-data; boundary=b0undary"


def test_form_files_returns_the_named_files_in_order() -> None:
    body = _form(("files", "a.jpg", b"A\r\nA"), ("note", None, b"hi"), ("files", "b.jpg", b"B"))
    assert form_files(CONTENT_TYPE, body, "files", max_files=2) == [b"A\r\nA", b"B"]
    assert form_files(CONTENT_TYPE, body, "file", max_files=2) == []


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("multipart/form-data", _form(("file", "a", b"A")), "no boundary"),
        (CONTENT_TYPE, _form(("file", None, b"text")), "must be a file upload"),
        (CONTENT_TYPE, _form(("file", "a", b"A"), ("x", "b", b"B")), "more than 1 files"),
        (CONTENT_TYPE, _form(("file", "a", b""), ("t", None, b"x" * 70_000)), "too large"),
        (CONTENT_TYPE, _form(*[(f"t{i}", None, b"x") for i in range(17)]), "too many"),
        (CONTENT_TYPE, b"--b0undary\r\nbroken header line\r\n\r\nA\r\n--b0undary--", "malformed"),
    ],
)
def test_form_files_refuses_bad_forms_with_422(
    content_type: str, body: bytes, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as refused:
        form_files(content_type, body, "file", max_files=1)
    assert refused.value.status == 422
