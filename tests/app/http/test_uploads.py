"""``app.http.uploads``: the lone-file shortcut reads every form as the full multipart parser does;
``form_files`` returns the named files or refuses the form; a body the protocol already holds is read
without the deadline guard."""

import asyncio
import time

import httpx
import pytest

from app.errors import DeadlineExceededError, InvalidRequestError
from app.http import uploads
from app.http.gate import BODY_COMPLETE
from app.http.uploads import form_files

BOUNDARY = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CROP = b"\xff\xd8\xff\xe0 JPEG \r\n-- bytes \r\n--b0undar \r\n\r\n \xff\xd9"


def part(head: str, data: bytes = CROP) -> bytes:
    return f"--{BOUNDARY}\r\n{head}\r\n\r\n".encode() + data


def form(*parts: bytes, tail: bytes = b"--\r\n") -> bytes:
    return b"\r\n".join(parts) + f"\r\n--{BOUNDARY}".encode() + tail


FILE = 'Content-Disposition: form-data; name="file"; filename="a.jpg"'
FORMS = {
    "one file": form(part(FILE)),
    "one file with its type": form(part(FILE + "\r\nContent-Type: image/jpeg")),
    "lower-case header names": form(part(FILE.lower())),
    "empty file": form(part(FILE, b"")),
    "empty file name": form(part('Content-Disposition: form-data; name="file"; filename=""')),
    "quoted file name": form(part(r'Content-Disposition: form-data; name="file"; filename="a\"b"')),
    "unquoted parameters": form(part("Content-Disposition: form-data; name=file; filename=a")),
    "attachment": form(part('Content-Disposition: attachment; name="file"; filename="a"')),
    "other field": form(part('Content-Disposition: form-data; name="image"; filename="a.jpg"')),
    "text field": form(part('Content-Disposition: form-data; name="file"')),
    "no disposition": form(part("Content-Type: image/jpeg")),
    "duplicate disposition": form(part(FILE + "\r\n" + FILE)),
    "other header": form(part(FILE + "\r\nX-Camera: 7")),
    "continued header": form(part(FILE + "\r\n\tmore")),
    "broken header line": form(part(FILE + "\r\nbroken")),
    "long header": form(part(FILE + "; x=" + "y" * 5000)),
    "non-UTF-8 file name": form(part(FILE).replace(b"a.jpg", b"\xff.jpg")),
    "two files": form(part(FILE), part(FILE.replace('"a.jpg"', '"b.jpg"'))),
    "file and text": form(part(FILE), part('Content-Disposition: form-data; name="t"', b"x")),
    "delimiter inside the data": form(part(FILE, CROP + f"\r\n--{BOUNDARY}\r\n".encode())),
    "preamble": b"hello\r\n" + form(part(FILE)),
    "epilogue": form(part(FILE), tail=b"--\r\nbye"),
    "no final line break": form(part(FILE), tail=b"--"),
    "not closed": form(part(FILE), tail=b"\r\n"),
    "no head end": f"--{BOUNDARY}\r\n{FILE}\r\n--{BOUNDARY}--\r\n".encode(),
    "head runs into the delimiter": f"--{BOUNDARY}\r\n{FILE}\r\n\r\n--{BOUNDARY}--\r\n".encode(),
    "empty body": b"",
}


def outcome(body: bytes, name: str, max_files: int) -> list[bytes] | str:
    try:
        return uploads.form_files(CONTENT_TYPE, body, name, max_files)
    except InvalidRequestError as exc:
        return f"422 {exc}"


@pytest.mark.parametrize("body", FORMS.values(), ids=FORMS.keys())
@pytest.mark.parametrize(("name", "max_files"), [("file", 1), ("files", 4), ("image", 1)])
def test_the_shortcut_reads_each_form_as_the_parser_does(
    body: bytes, name: str, max_files: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = outcome(body, name, max_files)
    monkeypatch.setattr(uploads, "_lone_file", lambda boundary, body: None)
    assert fast == outcome(body, name, max_files)


def test_the_shortcut_takes_what_clients_send() -> None:
    request = httpx.Request(
        "POST", "http://t/predict", files={"file": ("crop.jpg", CROP, "image/jpeg")}
    )
    body, content_type = request.read(), request.headers["content-type"]
    boundary = content_type.partition("boundary=")[2]
    assert uploads._lone_file(boundary, body) == ("file", CROP)
    assert uploads.form_files(content_type, body, "file", max_files=1) == [CROP]
    assert uploads._lone_file(BOUNDARY, FORMS["two files"]) is None


@pytest.mark.anyio
async def test_a_complete_body_is_read_without_the_deadline_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``complete`` (the protocol holds the whole body) skips the guard; otherwise a body that
    stops arriving is answered 504 at the deadline."""
    messages = [{"type": "http.request", "body": CROP[:10], "more_body": True}]
    messages.append({"type": "http.request", "body": CROP[10:], "more_body": False})

    async def buffered() -> dict:
        return messages.pop(0)

    async def stalled() -> dict:
        await asyncio.sleep(60)
        return {}

    scope = {"type": "http", "headers": [(b"content-type", b"image/jpeg")]}
    with monkeypatch.context() as patch:
        patch.setattr(uploads, "within", None)  # not called on this path
        body = await uploads.read_body(
            {**scope, BODY_COMPLETE: True}, buffered, 10**6, time.monotonic()
        )
    assert body == CROP
    with pytest.raises(DeadlineExceededError):
        await uploads.read_body(scope, stalled, 10**6, time.monotonic() + 0.05)


def _form(*parts: tuple[str, str | None, bytes], boundary: str = "b0undary") -> bytes:
    lines = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        lines.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data)
    return b"\r\n".join(lines) + f"\r\n--{boundary}--\r\n".encode()


def test_form_files_returns_the_named_files_in_order() -> None:
    body = _form(("files", "a.jpg", b"A\r\nA"), ("note", None, b"hi"), ("files", "b.jpg", b"B"))
    assert form_files(CONTENT_TYPE, body, "files", max_files=2) == [b"A\r\nA", b"B"]
    assert form_files(CONTENT_TYPE, body, "file", max_files=2) == []


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("multipart/form-data", _form(("file", "a", b"A")), "no boundary"),
        (CONTENT_TYPE, _form(("file", None, b"text")), "must be a file upload"),
        (CONTENT_TYPE, _form(("file", "a", b"A"), ("x", "b", b"B")), "more than 1 files"),
        (CONTENT_TYPE, _form(("file", "a", b""), ("t", None, b"x" * 70_000)), "too large"),
        (CONTENT_TYPE, _form(*[(f"t{i}", None, b"x") for i in range(17)]), "too many"),
        (CONTENT_TYPE, b"--b0undary\r\nbroken header line\r\n\r\nA\r\n--b0undary--", "malformed"),
    ],
)
def test_form_files_refuses_bad_forms_with_422(
    content_type: str, body: bytes, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as refused:
        form_files(content_type, body, "file", max_files=1)
    assert refused.value.status == 422
