"""Access and exposure: the API key, what answers reveal, and what the logs hold."""

import hmac
import json
import re
from collections.abc import Awaitable

import httpx
import pytest
from PIL import PngImagePlugin

from tests.support import payloads as p
from tests.support.fakes import FakePredictor, client_for, fake_app

pytestmark = pytest.mark.anyio

KEY = "k3y-Zq8xV2"
CROP = p.encode(p.picture(), "JPEG")
MARKER = b"GENNET-MARKER-7f3a9c"
LIBRARIES = ("fastapi", "starlette", "uvicorn", "pydantic", "python", "pillow")
OPEN_ROUTES = ("/health", "/health/live", "/health/ready", "/metrics", "/docs", "/openapi.json")


def post(
    client: httpx.AsyncClient, path: str = "/predict", **headers: str
) -> Awaitable[httpx.Response]:
    return client.post(path, content=CROP, headers={"Content-Type": "image/jpeg", **headers})


async def test_api_key_guards_prediction_and_model_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare(a, b)

    monkeypatch.setattr("app.http.deps.hmac.compare_digest", recording_compare)
    app = fake_app(FakePredictor(), api_key=KEY, log_level="INFO", log_json=True)
    async with client_for(app) as client:
        refused = {
            "none": await post(client),
            "wrong key": await post(client, **{"X-API-Key": KEY[:-1]}),
            "longer key": await post(client, **{"X-API-Key": KEY + "x"}),
            "wrong bearer": await post(client, Authorization="Bearer nope"),
            "basic scheme": await post(client, Authorization=f"Basic {KEY}"),
            "key as bearer scheme": await post(client, Authorization=KEY),
            "empty header": await post(client, **{"X-API-Key": ""}),
            "batch": await client.post("/predict/batch", files={"files": ("a.jpg", CROP)}),
            "model": await client.get("/model"),
        }
        accepted = [
            await post(client, Authorization=f"Bearer {KEY}"),
            await post(client, **{"X-API-Key": KEY}),
            await client.get("/model", headers={"X-API-Key": KEY}),
        ]
        open_routes = [await client.get(route) for route in OPEN_ROUTES]
    log = capsys.readouterr().err
    for name, response in refused.items():
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "unauthorized", name
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), name
        assert KEY[:-1] not in response.text, name
    assert [r.status_code for r in accepted] == [200, 200, 200]
    assert [r.status_code for r in open_routes] == [200] * len(OPEN_ROUTES)
    assert (KEY[:-1].encode(), KEY.encode()) in compared  # every check is constant-time
    assert KEY[:-1] not in log and "Bearer" not in log


async def test_openapi_declares_security_exactly_when_a_key_is_set() -> None:
    schemes = []
    for key in (None, KEY):
        async with client_for(fake_app(FakePredictor(), api_key=key)) as client:
            spec = (await client.get("/openapi.json")).json()
        schemes.append(spec["paths"]["/predict"]["post"].get("security"))
        assert "security" not in spec["paths"]["/health/ready"]["get"]
    assert schemes[0] is None and schemes[1]


async def test_answers_reveal_no_versions_paths_or_internals() -> None:
    app = fake_app(FakePredictor())
    async with client_for(app) as client:
        spec = await client.get("/openapi.json")
        service = app.state.service

        def broken(*args: object) -> float:
            raise RuntimeError(f"failed at {__file__} with pydantic 2.x")

        service.submit = broken
        answers = [
            spec,
            await post(client),  # the unknown error: a fixed 500
            await client.post("/predict?tta=perhaps", content=CROP),
            await client.get("/health"),
            await client.get("/nowhere"),
        ]
    assert answers[1].status_code == 500 and answers[1].json()["error"]["code"] == "internal_error"
    assert answers[2].status_code == 422
    info = spec.json()["info"]
    assert info["version"] == "1"
    for response in answers:
        text = response.text.lower()
        assert not [name for name in LIBRARIES if name in text], response.url
        assert "/work/" not in text and __file__.lower() not in text and "traceback" not in text
        assert "server" not in response.headers and "x-powered-by" not in response.headers
    documented = {k: v for k, v in spec.json().items() if k != "openapi"}  # the spec's version
    assert not [text for text in strings(documented) if re.search(r"\d+\.\d+", text)]


def strings(value: object) -> list[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for k, v in value.items() for text in (k, *strings(v))]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


async def test_logs_are_json_with_request_ids_and_no_image_bytes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    marked_png = p.encode(p.picture(), "PNG", pnginfo=_text_chunk(MARKER))
    app = fake_app(FakePredictor(), log_json=True, log_level="DEBUG")
    async with client_for(app) as client:
        answers = [
            await client.post("/predict", files={"file": (MARKER.decode(), marked_png)}),
            await client.post(
                "/predict", content=MARKER * 100, headers={"Content-Type": "image/png"}
            ),
            await client.post(
                "/predict/batch",
                files=[("files", ("a.png", marked_png)), ("files", ("b.png", MARKER))],
                headers={"X-Request-ID": "trace-7"},
            ),
            await client.get("/predict%0Aforged%20line"),
        ]
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert [r.status_code for r in answers] == [200, 400, 200, 404]
    assert MARKER.decode() not in "\n".join(lines)
    access = [r for r in records if r["logger"] == "app.access"]
    assert len(access) == 4
    assert [r["request_id"] for r in access] == [
        r.headers["X-Request-ID"] for r in answers
    ] and access[2]["request_id"] == "trace-7"
    assert access[3]["path"] == "/predict%0Aforged%20line"


def _text_chunk(text: bytes) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text.decode())
    return info


async def test_a_url_cannot_forge_a_plain_log_line(capsys: pytest.CaptureFixture[str]) -> None:
    async with client_for(fake_app(FakePredictor(), log_level="INFO")) as client:
        response = await client.get("/health%0A2026-01-01 00:00:00,000 ERROR app forged")
    lines = capsys.readouterr().err.splitlines()
    assert response.status_code == 404
    assert not [line for line in lines if line.startswith("2026-01-01")]
    assert any("/health%0A2026-01-01%2000:00:00,000%20ERROR" in line for line in lines)
