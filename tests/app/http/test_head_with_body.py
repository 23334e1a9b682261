"""``app.http.server.HeadWithBody``: one write per answer, without holding what a client waits for."""

from app.http.server import HeadWithBody
from tests.support.transport import RecordingTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


def writer() -> tuple[HeadWithBody, RecordingTransport]:
    transport = RecordingTransport(extra={"peername": "info:peername"})
    return HeadWithBody(transport), transport


def test_head_and_body_go_out_in_one_write_and_later_chunks_pass_through() -> None:
    out, transport = writer()
    out.write(HEAD)
    assert transport.writes == []
    out.write(b"ok")
    out.write(b"more")
    out.flush()
    assert transport.writes == [HEAD + b"ok", b"more"]


def test_a_100_continue_goes_out_at_once_and_the_final_head_still_waits_for_its_body() -> None:
    out, transport = writer()
    out.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    out.write(HEAD)
    out.write(b"ok")
    assert transport.writes[1:] == [HEAD + b"ok"]


def test_a_head_without_body_goes_out_on_flush_or_close_once() -> None:
    out, transport = writer()
    out.write(HEAD)
    out.flush()
    out.flush()
    assert transport.writes == [HEAD]
    other, closing = writer()
    other.write(HEAD)
    other.close()
    assert closing.writes == [HEAD] and closing.closed and other.is_closing()


def test_other_transport_calls_reach_the_transport() -> None:
    out, _ = writer()
    assert out.get_extra_info("peername") == "info:peername"
