"""Reading uploads: a byte cap enforced before and while the body streams in, a deadline on slow
uploads, and multipart forms parsed with python-multipart's low-level parser.

A declared ``Content-Length`` over the cap is refused before one byte is read; otherwise the body is
counted message by message and refused as soon as it passes the cap, so nothing larger than the cap
is ever held in memory. A crop is a few kilobytes, so the whole (capped) body is read, then a
multipart body is parsed in one pass that keeps each part's bytes: no temporary files, no form
objects, a handful of callbacks per part. These functions take the ASGI ``receive`` and the
request's headers, so a FastAPI route and the pure ASGI ``app.fastpath`` share them.
"""

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.types import Receive, Scope

from app.admission import body_complete
from app.errors import (
    ClientDisconnectedError,
    InvalidRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from app.service import within

MULTIPART = "multipart/form-data"
_MAX_TEXT_FIELDS = 16
_MAX_TEXT_FIELD_BYTES = 64 * 1024


def media_type(headers: Headers) -> str:
    """The request's media type, lower case, without parameters."""
    value, _ = parse_options_header(headers.get("content-type", ""))
    return value.decode("latin-1").lower()


def _check_declared_length(headers: Headers, limit: int) -> None:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body is {declared} bytes; the limit is {limit}")


async def _next_chunk(receive: Receive) -> tuple[bytes, bool]:
    message = await receive()
    if message["type"] == "http.disconnect":  # gone mid-upload: counted as such, not a 500
        raise ClientDisconnectedError()
    return message.get("body", b""), message.get("more_body", False)


async def read_body(scope: Scope, receive: Receive, limit: int, deadline: float) -> bytes:
    """The raw body: 413 past ``limit`` bytes, 504 while still arriving at ``deadline``."""
    return await _read_body(Headers(scope=scope), scope, receive, limit, deadline)


async def _read_body(
    headers: Headers, scope: Scope, receive: Receive, limit: int, deadline: float
) -> bytes:
    """When the server already holds the whole body (``app.admission.body_complete``), no
    receive can wait, and the deadline guard (a timer and two task lookups) is skipped."""
    _check_declared_length(headers, limit)
    if body_complete(scope):
        return await _collect(receive, limit)
    async with within(deadline):
        return await _collect(receive, limit)


async def _collect(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    more = True
    while more:
        chunk, more = await _next_chunk(receive)
        received += len(chunk)
        if received > limit:
            raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


@dataclass(slots=True)
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0

    def disposition(self) -> tuple[str, bool]:
        """The part's form field name, and whether it is a file (has a filename)."""
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        return options.get(b"name", b"").decode("latin-1"), b"filename" in options


class _Form:
    """Collects the parts of one multipart body from the parser's callbacks."""

    def __init__(self) -> None:
        self.parts: list[_Part] = []
        self._field = b""
        self._value = b""

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
        }

    def _part_begin(self) -> None:
        self.parts.append(_Part())

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.parts[-1]
        part.chunks.append(data[start:end])
        part.size += end - start

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self.parts[-1].headers[self._field.lower()] = self._value
        self._field = self._value = b""


def form_files(content_type: str, body: bytes, name: str, max_files: int) -> list[bytes]:
    """The files uploaded under field ``name`` of a multipart ``body``; 422 for a malformed form,
    more than ``max_files`` files, too many or too large text fields, or a text value there."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise InvalidRequestError("malformed multipart form: no boundary")
    form = _Form()
    try:
        parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise InvalidRequestError(f"malformed multipart form: {exc}") from None
    files: list[bytes] = []
    files_seen = text_fields = 0
    for part in form.parts:
        field_name, is_file = part.disposition()
        if is_file:
            files_seen += 1
            if files_seen > max_files:
                raise InvalidRequestError(f"malformed multipart form: more than {max_files} files")
        else:
            text_fields += 1
            if text_fields > _MAX_TEXT_FIELDS or part.size > _MAX_TEXT_FIELD_BYTES:
                raise InvalidRequestError("malformed multipart form: too many or too large fields")
        if field_name == name:
            if not is_file:
                raise InvalidRequestError(f"form field {name!r} must be a file upload")
            files.append(b"".join(part.chunks))
    return files


async def read_image(scope: Scope, receive: Receive, limit: int, deadline: float) -> bytes:
    """One image: multipart field ``file`` or a raw ``image/*`` body (else 415)."""
    headers = Headers(scope=scope)
    kind = media_type(headers)
    if kind.startswith("image/"):
        return await _read_body(headers, scope, receive, limit, deadline)
    if kind != MULTIPART:
        raise UnsupportedMediaTypeError()
    body = await _read_body(headers, scope, receive, limit, deadline)
    files = form_files(headers["content-type"], body, "file", max_files=1)
    if len(files) != 1:
        raise InvalidRequestError("send exactly one image in form field 'file'")
    return files[0]


async def read_images(
    scope: Scope, receive: Receive, limit: int, max_items: int, deadline: float
) -> list[bytes]:
    """Many images from multipart field ``files`` (else 415); 422 past ``max_items``."""
    headers = Headers(scope=scope)
    if media_type(headers) != MULTIPART:
        raise UnsupportedMediaTypeError("send multipart/form-data with one or more 'files'")
    body = await _read_body(headers, scope, receive, limit, deadline)
    files = form_files(headers["content-type"], body, "files", max_files=max_items)
    if not files:
        raise InvalidRequestError("send at least one image in form field 'files'")
    return files
