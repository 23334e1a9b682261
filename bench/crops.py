"""Real PETA crops as encoded bytes, with the content type a client would send them with."""

from pathlib import Path

from service import REPO

from gennet.data.manifest import read_manifest, select

PETA_ROOT = REPO.parent / "shared" / "data" / "peta"
SIGNATURES = (
    (b"\xff\xd8", "image/jpeg"),
    (b"\x89PNG", "image/png"),
    (b"RIFF", "image/webp"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
)


def content_type(data: bytes) -> str:
    """The image type from the file's first bytes (PETA holds JPEG and PNG)."""
    return next(
        (kind for magic, kind in SIGNATURES if data.startswith(magic)), "application/octet-stream"
    )


def load_crops(root: Path = PETA_ROOT, count: int = 256, split: str = "test") -> list[bytes]:
    """``count`` crops of ``split`` (``all``: every split), evenly strided over every sub-set."""
    rows = select(read_manifest(root, check_files=False), split)
    step = max(1, len(rows) // count)
    return [row.path.read_bytes() for row in rows[::step][:count]]


BOUNDARY = "gennet-bench-boundary"


def multipart(data: bytes, field: str = "file") -> tuple[bytes, dict[str, str]]:
    """One crop as a pre-encoded multipart/form-data body (what curl -F and most clients send)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="crop"\r\n'
        f"Content-Type: {content_type(data)}\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def payloads(crops: list[bytes], form: bool = False) -> list[tuple[bytes, dict[str, str]]]:
    """Each crop with the headers of ``POST /predict``: multipart ``file`` or a raw body."""
    if form:
        return [multipart(data) for data in crops]
    return [(data, {"Content-Type": content_type(data)}) for data in crops]
