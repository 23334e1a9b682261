"""The browser pages (``app.routes.demo``: the demo and the docs) load nothing from outside the app,
send the demo's Content-Security-Policy on every URL that serves it, and stay open with a key."""

import hashlib
import re
from pathlib import Path

import pytest

from app.routes.demo import DEMO_HEADERS, STATIC_DIR
from tests.support.fakes import FakePredictor, client_for, fake_app

pytestmark = pytest.mark.anyio

EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def local_assets(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


async def test_root_redirects_to_the_demo_which_loads_only_its_own_assets() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        root = await client.get("/")
        page = await client.get("/demo")
        assets = [await client.get(f"/{url}") for url in local_assets(page.text)]
    assert root.status_code == 307 and root.headers["location"] == "demo"
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert not EXTERNAL.search(page.text)
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert len(assets) == 4 and all(a.status_code == 200 for a in assets)  # icon, css, js, docs


async def test_docs_use_the_vendored_swagger_ui() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        docs = await client.get("/docs")
        urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", docs.text)
        assets = [await client.get(url) for url in urls]
        redoc = await client.get("/redoc")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert not EXTERNAL.search(docs.text) and "cdn" not in docs.text
    assert sorted(urls) == [
        "/static/favicon.svg",
        "/static/swagger-ui/swagger-ui-bundle.js",
        "/static/swagger-ui/swagger-ui.css",
    ]
    assert [a.status_code for a in assets] == [200, 200, 200]
    assert redoc.status_code == 404  # it would load its script from a CDN


def test_vendored_swagger_ui_is_what_its_notice_says() -> None:
    folder = STATIC_DIR / "swagger-ui"
    notice = (folder / "NOTICE.md").read_text()
    listed = dict((name, digest) for digest, name in re.findall(r"([0-9a-f]{64})  (\S+)", notice))
    assert set(listed) == {"swagger-ui-bundle.js", "swagger-ui.css"}
    for name, digest in listed.items():
        assert hashlib.sha256(Path(folder / name).read_bytes()).hexdigest() == digest, name


async def test_pages_stay_open_when_a_key_is_set_and_the_api_does_not() -> None:
    async with client_for(fake_app(FakePredictor(), api_key="k")) as client:
        pages = [await client.get(p) for p in ("/demo", "/docs", "/static/demo.js")]
        model = await client.get("/model")
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert model.status_code == 401  # the page asks for the key on this answer


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
