"""The ASGI scope of one ``POST``, as any server builds it: for driving the app in-process."""

from starlette.types import Scope


def post_scope(headers: dict[str, str], body: bytes, path: str = "/predict") -> Scope:
    """A plain HTTP/1.1 ``POST path`` carrying ``headers`` and ``body``'s Content-Length."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"host", b"127.0.0.1:8000"), (b"content-length", str(len(body)).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "state": {},
    }
