"""Reading uploads with a byte cap enforced before and while the body streams in.

A declared ``Content-Length`` over the cap is refused before one byte is read; otherwise the body is
counted chunk by chunk and refused as soon as it passes the cap, so nothing larger than the cap is
ever held in memory or spooled. Multipart bodies are parsed from that counted stream (Starlette's
parser, which spools each file to a temporary file past 1 MiB), with the number of files capped
while parsing.
"""

from collections.abc import AsyncGenerator

from fastapi import Request
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from app.errors import (
    ClientDisconnectedError,
    InvalidRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)

MULTIPART = "multipart/form-data"
_MAX_TEXT_FIELDS = 16
_MAX_TEXT_FIELD_BYTES = 64 * 1024


def media_type(request: Request) -> str:
    value, _ = parse_options_header(request.headers.get("content-type", ""))
    return value.decode("latin-1").lower()


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body is {declared} bytes; the limit is {limit}")


async def _counted(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
            yield chunk
    except ClientDisconnect:  # gone mid-upload: counted and logged as such, not a 500
        raise ClientDisconnectedError() from None


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 past ``limit`` bytes."""
    _check_declared_length(request, limit)
    return b"".join([chunk async for chunk in _counted(request, limit)])


async def read_form(request: Request, limit: int, max_files: int) -> FormData:
    """The parsed multipart form; the caller closes it. 422 for a malformed form."""
    _check_declared_length(request, limit)
    parser = MultiPartParser(
        request.headers,
        _counted(request, limit),
        max_files=max_files,
        max_fields=_MAX_TEXT_FIELDS,
        max_part_size=_MAX_TEXT_FIELD_BYTES,
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise InvalidRequestError(f"malformed multipart form: {exc.message}") from None


async def read_files(form: FormData, field: str) -> list[bytes]:
    """The contents of every file uploaded under ``field``; 422 for a text value there."""
    values = form.getlist(field)
    if not all(isinstance(value, UploadFile) for value in values):
        raise InvalidRequestError(f"form field {field!r} must be a file upload")
    return [await value.read() for value in values if isinstance(value, UploadFile)]


async def read_image(request: Request, limit: int) -> bytes:
    """One image: multipart field ``file`` or a raw ``image/*`` body (else 415)."""
    kind = media_type(request)
    if kind.startswith("image/"):
        return await read_body(request, limit)
    if kind != MULTIPART:
        raise UnsupportedMediaTypeError()
    form = await read_form(request, limit, max_files=1)
    try:
        files = await read_files(form, "file")
    finally:
        await form.close()
    if len(files) != 1:
        raise InvalidRequestError("send exactly one image in form field 'file'")
    return files[0]


async def read_images(request: Request, limit: int, max_items: int) -> list[bytes]:
    """Many images from multipart field ``files`` (else 415); 422 past ``max_items``."""
    if media_type(request) != MULTIPART:
        raise UnsupportedMediaTypeError("send multipart/form-data with one or more 'files'")
    form = await read_form(request, limit, max_files=max_items)
    try:
        files = await read_files(form, "files")
    finally:
        await form.close()
    if not files:
        raise InvalidRequestError("send at least one image in form field 'files'")
    return files
