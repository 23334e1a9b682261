"""`gennet serve` over real sockets: an oversized URL or header block is refused (414, 431) and the
connection closed, every answer says nosniff, and the demo page has its CSP at both of its URLs."""

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import service_env, serving

pytestmark = pytest.mark.slow

Answer = tuple[int, dict[str, str], bytes]


@pytest.fixture(scope="module")
def port(
    checkpoint_path: Path, onnx_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    env = service_env(checkpoint_path)
    log = tmp_path_factory.mktemp("head-limits") / "log"
    with serving(["-m", "gennet.cli", "serve"], env, log):
        yield int(env["GENNET_PORT"])


def exchange(port: int, request: bytes) -> tuple[Answer, bytes]:
    """Send ``request`` on a fresh connection, read until the server closes it: the answer, and
    every byte received (to check that nothing follows it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return (int(status_line.split()[1]), headers, body), received


def test_a_9_kib_url_and_20_kib_of_headers_are_refused_and_the_connection_closed(port: int) -> None:
    long_url = b"GET /health?pad=" + b"a" * 9 * 1024 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    (status, headers, body), received = exchange(port, long_url)
    assert status == 414
    assert json.loads(body) == {
        "error": {"code": "uri_too_long", "message": "request URL is too long"}
    }
    assert received.endswith(body)  # one answer, then the close
    assert headers["connection"] == "close" and headers["x-content-type-options"] == "nosniff"
    assert headers["x-request-id"] and "server" not in headers

    padding = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(20))
    big_head = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Request-ID: big-head\r\n" + padding + b"\r\n"
    (status, headers, body), received = exchange(port, big_head)
    assert status == 431
    assert json.loads(body)["error"] == {
        "code": "header_fields_too_large",
        "message": "request headers are too large",
    }
    assert received.endswith(body)
    assert headers["x-request-id"] == "big-head" and headers["x-content-type-options"] == "nosniff"

    base = f"http://127.0.0.1:{port}"
    metrics = httpx.get(base + "/metrics").text
    assert 'gennet_rejections_total{reason="uri_too_long"} 1.0' in metrics
    assert 'gennet_rejections_total{reason="header_fields_too_large"} 1.0' in metrics
    assert 'gennet_requests_total{route="other",status="414"} 1.0' in metrics
    assert httpx.get(base + "/health/ready").status_code == 200  # the server is unharmed


def test_nosniff_on_every_answer_and_the_demo_policy_on_both_page_urls(
    port: int, crops: list[bytes]
) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        answers = [
            client.post("/predict", content=crops[0], headers={"Content-Type": "image/jpeg"}),
            client.post("/predict", content=b"x", headers={"Content-Type": "text/plain"}),
            client.get("/nowhere"),
        ]
        pages = [client.get("/demo"), client.get("/static/demo.html")]
    assert [a.status_code for a in answers] == [200, 415, 404]
    assert all(a.headers["x-content-type-options"] == "nosniff" for a in answers)
    assert [p.status_code for p in pages] == [200, 200]
    policies = [p.headers["content-security-policy"] for p in pages]
    assert policies[0] == policies[1] and "default-src 'none'" in policies[0]
