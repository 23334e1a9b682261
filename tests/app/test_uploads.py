"""``app.http.uploads``: the lone-file shortcut reads every form as the full multipart parser does."""

import httpx
import pytest

from app.errors import InvalidRequestError
from app.http import uploads

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
