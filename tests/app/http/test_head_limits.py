"""``gennet serve``'s HTTP protocol refuses an oversized request head as it arrives: 414 for the URL,
431 for the headers, before the app sees the request; then the connection closes.

The protocol is driven here as uvicorn drives it, with a transport that records what is written;
``tests/e2e/test_served_edges.py`` sends the same over a socket to a real server.
"""

import asyncio
import json
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from app.http.server import GatedProtocol, gated_protocol
from app.pipeline.service import Service
from app.settings import MAX_HEADERS
from tests.support.fakes import FakePredictor, fake_builder, fake_settings
from tests.support.prometheus import metric_value
from tests.support.transport import RecordingTransport

pytestmark = pytest.mark.anyio


async def answer_ok(scope: Any, receive: Any, send: Any) -> None:
    """The app behind the protocol: 200 "ok" to anything."""
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


class Connection:
    """One connection to a protocol bound to a fresh (unstarted) service."""

    def __init__(self, **settings: Any) -> None:
        self.service = Service(fake_settings(**settings), fake_builder(FakePredictor()))
        config = uvicorn.Config(answer_ok, log_config=None, proxy_headers=False)
        loop = asyncio.get_running_loop()
        self.protocol: GatedProtocol = gated_protocol(self.service)(
            config, ServerState(), {}, _loop=loop
        )
        self.transport = RecordingTransport()
        self.protocol.connection_made(self.transport)

    def send(self, data: bytes) -> None:
        self.protocol.data_received(data)

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The first answer written (after letting a started request run)."""
        for _ in range(100):
            if b"\r\n\r\n" in self.transport.written:
                break
            await asyncio.sleep(0)
        head, body = bytes(self.transport.written).split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines)
        return int(status_line.split()[1]), headers, body

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(self.service.metrics.render().decode(), name, **labels)


def head(url: str = "/", headers: list[str] | None = None) -> bytes:
    lines = [f"GET {url} HTTP/1.1", "Host: t", *(headers or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_url_is_refused_as_soon_as_it_passes_the_limit() -> None:
    connection = Connection(max_url_bytes=64)
    connection.send(b"GET /" + b"a" * 63)  # 64 bytes: at the limit, and its line not ended
    assert connection.transport.written == b""
    connection.send(b"a")
    status, headers, body = await connection.answer()
    assert status == 414 and connection.transport.closed
    assert json.loads(body) == {
        "error": {"code": "uri_too_long", "message": "request URL is too long"}
    }
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(body))
    assert headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff"
    assert len(headers["x-request-id"]) == 32  # a new one: no header was read
    assert not connection.protocol.tasks  # the app never saw it
    assert connection.metric("gennet_rejections_total", reason="uri_too_long") == 1
    assert connection.metric("gennet_requests_total", route="other", status="414") == 1


async def test_headers_over_the_total_are_refused_with_the_request_id_sent_before_them() -> None:
    connection = Connection(max_header_bytes=256)
    padding = [f"X-Pad-{i}: {'p' * 40}" for i in range(6)]  # 6 x 47 bytes of names and values
    connection.send(head(headers=["X-Request-ID: sent-first", *padding]))
    status, headers, body = await connection.answer()
    assert status == 431 and connection.transport.closed
    assert json.loads(body)["error"] == {
        "code": "header_fields_too_large",
        "message": "request headers are too large",
    }
    assert headers["x-request-id"] == "sent-first"
    assert headers["x-content-type-options"] == "nosniff"
    assert not connection.protocol.tasks
    assert connection.metric("gennet_rejections_total", reason="header_fields_too_large") == 1


async def test_more_headers_than_the_count_limit_are_refused() -> None:
    connection = Connection()
    connection.send(head(headers=[f"X-{i}: 1" for i in range(MAX_HEADERS)]))  # Host + 100
    status, _, body = await connection.answer()
    assert status == 431 and json.loads(body)["error"]["code"] == "header_fields_too_large"


async def test_a_url_and_headers_at_their_limits_reach_the_app() -> None:
    connection = Connection(max_url_bytes=64, max_header_bytes=256)
    names_and_values = len("Host") + len("t")  # head() sends Host: t
    filler = "X-Fill"
    value = "v" * (256 - names_and_values - len(filler))
    connection.send(head("/" + "a" * 63, [f"{filler}: {value}"]))
    status, _, body = await connection.answer()
    assert (status, body) == (200, b"ok")
    assert connection.metric("gennet_rejections_total", reason="header_fields_too_large") == 0


async def test_one_header_line_that_never_ends_is_refused_within_the_head_bound() -> None:
    """httptools holds a header line until it ends; the protocol counts the reads inside it."""
    connection = Connection(max_url_bytes=64, max_header_bytes=256)
    bound = connection.protocol.max_head_bytes
    connection.send(b"GET / HTTP/1.1\r\nX-Endless: ")
    sent = 0
    while not connection.transport.closed and sent <= 2 * bound:
        connection.send(b"a" * 100)
        sent += 100
    status, _, body = await connection.answer()
    assert status == 431 and bound < sent <= bound + 100
    assert json.loads(body)["error"]["code"] == "header_fields_too_large"


async def test_malformed_http_gets_uvicorns_400_with_the_security_headers() -> None:
    connection = Connection()
    connection.send(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    status, headers, body = await connection.answer()
    assert (status, body) == (400, b"Invalid HTTP request received.")
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    assert connection.transport.closed
    assert connection.metric("gennet_rejections_total", reason="header_fields_too_large") == 0


async def test_a_refusal_on_a_v2_path_has_the_protocols_error_shape() -> None:
    connection = Connection(max_header_bytes=64)
    connection.send(head("/v2/models/gennet/infer", [f"X-Pad: {'p' * 64}"]))
    status, _, body = await connection.answer()
    assert status == 431 and json.loads(body) == {"error": "request headers are too large"}
