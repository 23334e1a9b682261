"""Real PETA crops as encoded bytes, with the content type a client would send them with."""

from pathlib import Path

from gennet.data.manifest import read_manifest, select

REPO = Path(__file__).resolve().parent.parent
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
    """``count`` crops of ``split``, evenly strided so that every sub-set is represented."""
    rows = select(read_manifest(root, check_files=False), split)
    step = max(1, len(rows) // count)
    return [row.path.read_bytes() for row in rows[::step][:count]]


def payloads(crops: list[bytes]) -> list[tuple[bytes, dict[str, str]]]:
    """Each crop with the headers of a raw-body ``POST /predict``."""
    return [(data, {"Content-Type": content_type(data)}) for data in crops]
