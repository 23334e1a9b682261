"""``app.http.server`` hooks uvicorn's httptools protocol and relies on how httptools calls it.

uvicorn and httptools are pinned in pyproject.toml to the versions these pass on: a new version is
taken by widening the pin once they pass. They check every name the module overrides or reads,
with its parameters, and the two httptools behaviours the head limits stand on.
"""

import asyncio
import inspect

import httptools
import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from app.http.server import DrainingServer, GatedProtocol
from tests.support.transport import RecordingTransport

pytestmark = pytest.mark.anyio

# Each method of HttpToolsProtocol that GatedProtocol overrides, with its parameters.
PROTOCOL_HOOKS = {
    "on_message_begin": ["self"],
    "on_url": ["self", "url"],
    "on_header": ["self", "name", "value"],
    "on_headers_complete": ["self"],
    "on_message_complete": ["self"],
    "data_received": ["self", "data"],
    "connection_lost": ["self", "exc"],
    "send_400_response": ["self", "msg"],
    "_start_asgi_task": ["self", "cycle", "app"],
    "on_response_complete": ["self"],
}
# What the module reads or sets on the protocol once a request is parsed, and on its cycle.
PROTOCOL_ATTRIBUTES = ("transport", "server_state", "cycle", "scope", "headers", "url", "parser")
CYCLE_ATTRIBUTES = (
    "scope",
    "transport",
    "keep_alive",
    "disconnected",
    "response_started",
    "response_complete",
)


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", PROTOCOL_HOOKS)
def test_each_hooked_method_is_uvicorns_with_the_same_parameters(name: str) -> None:
    assert name in vars(HttpToolsProtocol), f"uvicorn's protocol no longer defines {name}"
    assert parameters(getattr(HttpToolsProtocol, name)) == PROTOCOL_HOOKS[name]
    assert parameters(getattr(GatedProtocol, name)) == PROTOCOL_HOOKS[name]


def test_every_override_is_a_checked_hook() -> None:
    overrides = {
        name
        for name, value in vars(GatedProtocol).items()
        if callable(value) and hasattr(HttpToolsProtocol, name)
    }
    assert overrides == set(PROTOCOL_HOOKS)


def test_the_server_hook_is_uvicorns() -> None:
    assert "handle_exit" in vars(uvicorn.Server)
    assert parameters(uvicorn.Server.handle_exit) == ["self", "sig", "frame"]
    assert parameters(DrainingServer.handle_exit) == ["self", "sig", "frame"]
    assert isinstance(ServerState().default_headers, list)


async def ok(scope: object, receive: object, send: object) -> None:
    """A stand-in app: never called here (its task is cancelled before it runs)."""


async def test_a_parsed_request_has_the_attributes_the_module_uses() -> None:
    config = uvicorn.Config(ok, log_config=None, proxy_headers=False)
    protocol = HttpToolsProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    protocol.connection_made(RecordingTransport())
    protocol.data_received(b"GET /a?b=1 HTTP/1.1\r\nHost: t\r\n\r\n")
    for task in protocol.tasks:
        task.cancel()
    for name in PROTOCOL_ATTRIBUTES:
        assert hasattr(protocol, name), name
    assert protocol.url == b"/a?b=1"
    assert protocol.scope["headers"] is protocol.headers == [(b"host", b"t")]
    assert isinstance(protocol.cycle, RequestResponseCycle)
    for name in CYCLE_ATTRIBUTES:
        assert hasattr(protocol.cycle, name), name


class Recorder:
    """An httptools parser protocol that records its calls, and can raise in one of them."""

    def __init__(self, raise_in: str = "") -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.raise_in = raise_in

    def on_url(self, url: bytes) -> None:
        self.calls.append(("url", url))
        if self.raise_in == "on_url":
            raise ValueError("over the limit")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.calls.append(("header", name + b": " + value))
        if self.raise_in == "on_header":
            raise ValueError("over the limit")


def test_httptools_reports_the_url_as_it_arrives_and_a_header_once_its_line_ends() -> None:
    recorder = Recorder()
    parser = httptools.HttpRequestParser(recorder)
    parser.feed_data(b"GET /first")
    parser.feed_data(b"-second HTTP/1.1\r\nX-Long: aaa")
    assert recorder.calls == [("url", b"/first"), ("url", b"-second")]
    parser.feed_data(b"bbb\r\nHost: t\r\n")
    assert recorder.calls[2:] == [("header", b"X-Long: aaabbb")]  # Host waits for its end


@pytest.mark.parametrize(
    ("raise_in", "data"),
    [("on_url", b"GET /x HTTP/1.1\r\n"), ("on_header", b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n")],
)
def test_an_exception_in_a_callback_stops_the_parser_as_a_parser_error(
    raise_in: str, data: bytes
) -> None:
    recorder = Recorder(raise_in)
    parser = httptools.HttpRequestParser(recorder)
    with pytest.raises(httptools.HttpParserCallbackError) as raised:
        parser.feed_data(data + b"C: 3\r\n\r\n")
    assert isinstance(raised.value, httptools.HttpParserError)
    assert isinstance(raised.value.__context__, ValueError)
    kinds = [kind for kind, _ in recorder.calls]
    assert kinds.count(raise_in.removeprefix("on_")) == 1  # parsing stopped at the first raise


class Answers400(HttpToolsProtocol):
    """Records uvicorn's answer to a parser error instead of writing it; its URL callback raises."""

    answered: list[str]

    def on_url(self, url: bytes) -> None:
        raise ValueError("over the limit")

    def send_400_response(self, msg: str) -> None:
        self.answered.append(msg)


async def test_uvicorn_answers_a_callback_exception_with_send_400_response() -> None:
    config = uvicorn.Config(ok, log_config=None, proxy_headers=False)
    protocol = Answers400(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    protocol.answered = []
    protocol.connection_made(RecordingTransport())
    protocol.data_received(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
    assert protocol.answered == ["Invalid HTTP request received."]
    assert not protocol.tasks  # the request never reached the app
