"""Requests to the service's API and its answers: a raw JPEG body's headers, a one-file form, and
the one error shape."""

import httpx

JPEG = {"Content-Type": "image/jpeg"}  # headers of a raw JPEG body


def form(data: bytes, name: str = "file") -> dict[str, tuple[str, bytes, str]]:
    """``files=`` of a multipart form carrying ``data`` as one JPEG file named ``name``."""
    return {name: ("crop.jpg", data, "image/jpeg")}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """``response`` is ``status`` with the error shape ``{"error": {"code", "message"}}``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
