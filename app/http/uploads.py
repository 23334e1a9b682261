"""Reading uploads: a byte cap enforced before and while the body streams in, a deadline on slow
uploads, and multipart forms parsed with ``multipart``'s push parser (the one Bottle uses).

A declared ``Content-Length`` over the cap is refused before one byte is read; otherwise the body is
counted message by message and refused as soon as it passes the cap, so nothing larger than the cap
is ever held in memory. A crop is a few kilobytes, so the whole (capped) body is read, then a
multipart body is parsed in one pass that keeps each part's bytes: no temporary files, no form
objects. That parser finds part headers and boundaries with ``bytes.find``, not byte by byte: on a
crop's form it costs about a third of python-multipart's CPU (20 against 50-60 us), spent on the
event loop of every request; a form of one file, how cameras send a crop, skips it (10 us,
:func:`_lone_file`). These functions take the ASGI scope and ``receive``, so a FastAPI
route and the pure ASGI ``app.protocols.fastpath`` share them.
"""

from multipart import (
    MultipartError,
    MultipartSegment,
    PushMultipartParser,
    parse_content_disposition,
    parse_options_header,
)
from starlette.datastructures import Headers
from starlette.types import Receive, Scope

from app.errors import (
    ClientDisconnectedError,
    InvalidRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from app.http.gate import body_complete
from app.pipeline.deadline import within

MULTIPART = "multipart/form-data"
_LONE_PART_HEADERS = ("content-disposition", "content-type")
_MAX_LONE_HEAD = 1024  # a crop's part head is about 100 bytes; longer ones go to the parser
_MAX_TEXT_FIELDS = 16
_MAX_TEXT_FIELD_BYTES = 64 * 1024


def media_type(headers: Headers) -> str:
    """The request's media type, lower case, without parameters."""
    return headers.get("content-type", "").partition(";")[0].strip().lower()


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
    """When the server already holds the whole body (``app.http.gate.body_complete``), no
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


def _parts(boundary: str, body: bytes, max_parts: int) -> list[tuple[MultipartSegment, bytes]]:
    """Every part of a whole multipart ``body``: its headers and its bytes; 422 when malformed,
    incomplete or with more than ``max_parts`` parts."""
    parts: list[tuple[MultipartSegment, list[bytes]]] = []
    try:
        with PushMultipartParser(boundary, max_segment_count=max_parts) as parser:
            for chunk in (body, b""):  # b"": the end of the body
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        parts.append((event, []))
                    elif event:
                        parts[-1][1].append(event)
    except MultipartError as exc:  # args[0]: the reason, without the chained decode error
        reason = exc.args[0] if exc.args else type(exc).__name__
        raise InvalidRequestError(f"malformed multipart form: {reason}") from None
    return [(segment, b"".join(chunks)) for segment, chunks in parts]


def _lone_file(boundary: str, body: bytes) -> tuple[str, bytes] | None:
    """``(field name, bytes)`` of a form that holds exactly one file part, laid out as clients
    lay it out (no preamble or epilogue; part headers Content-Disposition and Content-Type only);
    None for any other form, which the full parser then reads.

    It is how cameras send a crop, and finding its two delimiters directly costs a fraction of
    running the parser (``bench/asgi_path.py``). The part's headers are read with the parser's own
    rules; ``tests/app/http/test_uploads.py`` checks that both read every form alike."""
    if not boundary.isascii():
        return None
    delimiter = b"\r\n--" + boundary.encode("ascii")
    opening, closing = delimiter[2:] + b"\r\n", delimiter + b"--\r\n"
    if not (body.startswith(opening) and body.endswith(closing)):
        return None
    data_end = len(body) - len(closing)
    head_end = body.find(b"\r\n\r\n", len(opening), data_end)
    if head_end < 0 or head_end - len(opening) > _MAX_LONE_HEAD or body.find(delimiter) != data_end:
        return None  # no head, a long one, or more than one part
    headers: dict[str, str] = {}
    try:
        lines = body[len(opening) : head_end].decode("utf-8").split("\r\n")
    except UnicodeDecodeError:
        return None
    for line in lines:
        key, colon, value = line.partition(":")
        key = key.lower()
        if not colon or key not in _LONE_PART_HEADERS or key in headers:
            return None
        headers[key] = value.lstrip(" \t")
    kind, name, filename = parse_content_disposition(headers.get("content-disposition", ""))
    if kind != "form-data" or name is None or filename is None:
        return None
    return name, body[head_end + 4 : data_end]


def form_files(content_type: str, body: bytes, name: str, max_files: int) -> list[bytes]:
    """The files uploaded under field ``name`` of a multipart ``body``; 422 for a malformed form,
    more than ``max_files`` files, too many or too large text fields, or a text value there."""
    _, params = parse_options_header(content_type)
    boundary = params.get("boundary")
    if not boundary:
        raise InvalidRequestError("malformed multipart form: no boundary")
    lone = _lone_file(boundary, body)
    if lone is not None:
        return [lone[1]] if lone[0] == name else []
    files: list[bytes] = []
    files_seen = text_fields = 0
    for segment, data in _parts(boundary, body, max_files + _MAX_TEXT_FIELDS + 1):
        is_file = segment.filename is not None
        if is_file:
            files_seen += 1
            if files_seen > max_files:
                raise InvalidRequestError(f"malformed multipart form: more than {max_files} files")
        else:
            text_fields += 1
            if text_fields > _MAX_TEXT_FIELDS or len(data) > _MAX_TEXT_FIELD_BYTES:
                raise InvalidRequestError("malformed multipart form: too many or too large fields")
        if segment.name == name:
            if not is_file:
                raise InvalidRequestError(f"form field {name!r} must be a file upload")
            files.append(data)
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
