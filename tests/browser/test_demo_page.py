"""The demo page and the docs in a real headless Chromium, against a real uvicorn (opt-in).

Run with ``make test-browser`` (needs Debian's ``chromium`` and ``chromium-driver``; skipped
without them). The browser can resolve no host but the loopback address, so anything the pages
tried to load from outside would fail. Saves ``docs/screenshots/demo.png`` for the README.
"""

import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support.server import ROOT, service_env, serving

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip(
        "needs chromium and chromedriver (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.wait import WebDriverWait  # noqa: E402

KEY = "browser-key"
SCREENSHOT = ROOT / "docs" / "screenshots" / "demo.png"  # outside docs/figures, a DVC output
WAIT_S = 60


@pytest.fixture(scope="module")
def crops(request: pytest.FixtureRequest) -> list[tuple[str, bytes]]:
    """Named crops: real PETA crops (both labels) when ../shared is present, else generated."""
    try:
        samples = request.getfixturevalue("peta_samples")
    except pytest.skip.Exception:
        rng = np.random.default_rng(1)
        out = []
        for i in range(6):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (160, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
            out.append((f"generated-{i}.png", buffer.getvalue()))
        return out
    test = [s for s in samples if s.split == "test"]
    chosen = [s for s in test if s.target == 1][:3] + [s for s in test if s.target == 0][:3]
    return [(s.path.name, s.path.read_bytes()) for s in chosen]


@pytest.fixture(scope="module")
def base_url(checkpoint_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shipped model when present (a meaningful screenshot), else the test checkpoint."""
    shipped = ROOT / "model_store" / "gennet.pt"
    env = service_env(shipped if shipped.is_file() else checkpoint_path, GENNET_API_KEY=KEY)
    args = ["-m", "uvicorn", "--factory", "app.main:create_app", "--port", env["GENNET_PORT"]]
    with serving(args, env, tmp_path_factory.mktemp("browser") / "log"):
        yield f"http://127.0.0.1:{env['GENNET_PORT']}"


@pytest.fixture(scope="module")
def browser() -> Iterator["webdriver.Chrome"]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="gennet-chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1240",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # offline but for us
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def predict(base_url: str, data: bytes, tta: bool) -> dict:
    response = httpx.post(
        f"{base_url}/predict?tta={str(tta).lower()}",
        files={"file": ("crop", data)},
        headers={"X-API-Key": KEY},
        timeout=60,
    )
    return response.json()


def upload(driver: "webdriver.Chrome", folder: Path, files: list[tuple[str, bytes]]) -> None:
    paths = []
    for name, data in files:
        (folder / name).write_bytes(data)
        paths.append(str(folder / name))
    driver.find_element(By.ID, "files").send_keys("\n".join(paths))


def cards(driver: "webdriver.Chrome", count: int) -> list[dict[str, str]]:
    """The first ``count`` result cards, once none of them is pending."""

    def settled(d: "webdriver.Chrome") -> list | bool:
        found = d.find_elements(By.CSS_SELECTOR, "#results .card")
        done = len(found) >= count and all(
            c.get_attribute("data-status") != "pending" for c in found
        )
        return found if done else False

    found = WebDriverWait(driver, WAIT_S).until(settled)
    read = lambda card, css: card.find_element(By.CSS_SELECTOR, css)  # noqa: E731
    return [
        {
            "status": card.get_attribute("data-status"),
            "name": read(card, ".name").text,
            "label": read(card, ".label").text.lower(),
            "p_male": read(card, ".p-male").get_attribute("data-value") or "",
            "p_female": read(card, ".p-female").get_attribute("data-value") or "",
            "threshold": read(card, ".threshold").text,
            "tta": read(card, ".tta").text,
            "latency": read(card, ".latency").text,
            "error": read(card, ".error-text").text,
        }
        for card in found
    ]


def test_demo_page_classifies_uploaded_crops(
    browser: "webdriver.Chrome",
    base_url: str,
    crops: list[tuple[str, bytes]],
    tmp_path: Path,
) -> None:
    browser.get(base_url + "/")  # redirects to /demo
    assert browser.current_url == base_url + "/demo"
    # An API key is set: the page asks for it, keeps it in this tab only.
    key_form = WebDriverWait(browser, WAIT_S).until(
        lambda d: (
            d.find_element(By.ID, "key-form").is_displayed() and d.find_element(By.ID, "key-form")
        )
    )
    browser.find_element(By.ID, "api-key").send_keys(KEY)
    key_form.find_element(By.CSS_SELECTOR, "button").click()
    model = WebDriverWait(browser, WAIT_S).until(
        lambda d: (
            d.find_element(By.ID, "model").get_attribute("data-threshold")
            and d.find_element(By.ID, "model")
        )
    )
    threshold = float(model.get_attribute("data-threshold"))
    assert "gennet" in model.text and not browser.find_element(By.ID, "key-form").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('gennet-api-key')") == KEY
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.get_cookies() == []

    # Many crops and a file that is not an image, in one pick.
    upload(browser, tmp_path, [*crops, ("notes.txt", b"not an image")])
    results = cards(browser, len(crops) + 1)
    by_name = {r["name"]: r for r in results}
    for name, data in crops:
        shown, api = by_name[name], predict(base_url, data, tta=False)
        assert shown["status"] == "done", shown
        assert shown["label"] == api["label"]
        assert float(shown["p_male"]) == pytest.approx(api["probabilities"]["male"], abs=1e-5)
        assert float(shown["p_female"]) == pytest.approx(api["probabilities"]["female"], abs=1e-5)
        assert str(threshold) in shown["threshold"] and shown["tta"] == "off"
        assert "ms server" in shown["latency"] and "round trip" in shown["latency"]
    error = by_name["notes.txt"]
    assert (
        error["status"] == "error" and error["error"] == "400 invalid_image: not a decodable image"
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(SCREENSHOT))

    # TTA on and a camera named: the page says so, and answers as /predict?tta=true.
    browser.find_element(By.ID, "clear").click()
    browser.find_element(By.ID, "tta").click()
    browser.find_element(By.ID, "camera").send_keys("GRID:3")
    name, data = crops[0]
    upload(browser, tmp_path, [(name, data)])
    (tta_card,) = cards(browser, 1)
    api = predict(base_url, data, tta=True)
    assert tta_card["tta"] == "on" and "(camera GRID:3)" in tta_card["threshold"]
    assert float(tta_card["p_male"]) == pytest.approx(api["probabilities"]["male"], abs=1e-5)

    problems = [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE"
        and not ("status of 400" in entry["message"] or "status of 401" in entry["message"])
    ]
    assert problems == []  # no script error, no refused asset, no Content-Security-Policy violation


def test_docs_render_offline(browser: "webdriver.Chrome", base_url: str) -> None:
    browser.get(base_url + "/docs")
    title = WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title")
    )
    assert "GenNet" in title[0].text
    operations = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    paths = {op.get_attribute("data-path") for op in operations}
    assert {"/predict", "/v2/models/{model_name}/infer"} <= paths
