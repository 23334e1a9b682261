"""Hostile and awkward uploads through the real app (ONNX Runtime on the test checkpoint).

Real images, in every mode and format the service documents, answer 200 with a label; everything
else answers 4xx with the error JSON. Nothing answers 5xx, no answer carries a traceback or a
path, and after each case the service still answers a normal request exactly as before.
"""

import httpx
import pytest

from tests.support import payloads as p

pytestmark = pytest.mark.anyio

JPEG, PNG = "image/jpeg", "image/png"
LEAKS = ("Traceback", 'File "', "site-packages", ".py", "/tmp/", "/work/", "/home/", "/usr/")
NORMAL = p.encode(p.picture(32, 64), "JPEG")

# (id, body, content type, status, error code); bodies are built once, at import.
REFUSED = [
    ("empty", b"", JPEG, 400, "invalid_image"),
    ("text", p.TEXT, JPEG, 400, "invalid_image"),
    ("html", p.HTML, PNG, 400, "invalid_image"),
    ("svg", p.SVG, "image/svg+xml", 400, "invalid_image"),
    ("pdf", p.PDF, JPEG, 400, "invalid_image"),
    ("eps-never-run", p.EPS, JPEG, 400, "invalid_image"),
    ("random-bytes", p.random_bytes(), PNG, 400, "invalid_image"),
    (
        "truncated-jpeg",
        p.truncated(p.encode(p.picture(64, 128), "JPEG")),
        JPEG,
        400,
        "invalid_image",
    ),
    ("truncated-png", p.truncated(p.encode(p.picture(64, 128), "PNG")), PNG, 400, "invalid_image"),
    ("png-broken-crc", p.png_with_broken_crc(), PNG, 400, "invalid_image"),
    ("png-text-bomb", p.png_with_text_bomb(), PNG, 400, "invalid_image"),
    ("tga-not-documented", p.encode(p.picture(), "TGA"), "image/x-tga", 400, "invalid_image"),
    ("ico-not-documented", p.encode(p.picture(), "ICO"), "image/x-icon", 400, "invalid_image"),
    ("ppm-not-documented", p.encode(p.picture(), "PPM"), "image/x-ppm", 400, "invalid_image"),
    # Decompression bombs: headers claiming huge sizes, above Pillow's own limit (89 M pixels;
    # an error past twice that), in its warning band, and below it but over the service's cap.
    ("png-100000x100000", p.png_claiming(100_000, 100_000), PNG, 413, "image_too_large"),
    ("png-20000x20000", p.png_claiming(20_000, 20_000), PNG, 413, "image_too_large"),
    ("png-10000x10000", p.png_claiming(10_000, 10_000), PNG, 413, "image_too_large"),
    ("png-3000x3000", p.png_claiming(3_000, 3_000), PNG, 413, "image_too_large"),
    ("jpeg-65535x65535", p.jpeg_claiming(65_535, 65_535), JPEG, 413, "image_too_large"),
    ("jpeg-20000x20000", p.jpeg_claiming(20_000, 20_000), JPEG, 413, "image_too_large"),
    ("jpeg-3000x3000", p.jpeg_claiming(3_000, 3_000), JPEG, 413, "image_too_large"),
    ("gif-65535x65535", p.gif_claiming(65_535, 65_535), "image/gif", 413, "image_too_large"),
    ("bmp-100000x100000", p.bmp_claiming(100_000, 100_000), "image/bmp", 413, "image_too_large"),
    ("png-zero-width", p.png_claiming(0, 10), PNG, 400, "invalid_image"),
    ("png-zero-height", p.png_claiming(10, 0), PNG, 400, "invalid_image"),
    ("jpeg-zero-height", p.jpeg_claiming(16, 0), JPEG, 400, "invalid_image"),
    ("gif-zero-size", p.gif_claiming(0, 0), "image/gif", 400, "invalid_image"),
    ("bmp-zero-width", p.bmp_claiming(0, 10), "image/bmp", 400, "invalid_image"),
    ("multipart-sent-as-jpeg", b"--x\r\n\r\n--x--\r\n", JPEG, 400, "invalid_image"),
    ("no-content-type", NORMAL, None, 415, "unsupported_media_type"),
    ("text-plain", NORMAL, "text/plain", 415, "unsupported_media_type"),
    ("json", b'{"file": "x"}', "application/json", 415, "unsupported_media_type"),
    ("octet-stream", NORMAL, "application/octet-stream", 415, "unsupported_media_type"),
    ("multipart-no-boundary", NORMAL, "multipart/form-data", 422, "invalid_request"),
    (
        "multipart-garbage",
        p.random_bytes(),
        "multipart/form-data; boundary=x",
        422,
        "invalid_request",
    ),
]

ACCEPTED = {
    **{f"png-{mode}": p.encode(p.picture(mode=mode), "PNG") for mode in ("1", "L", "LA", "RGBA")},
    "png-P-transparency": p.palette_with_transparency(),
    "png-I;16": p.encode(p.picture(mode="I;16"), "PNG"),
    **{
        f"tiff-{mode}": p.encode(p.picture(mode=mode), "TIFF")
        for mode in ("CMYK", "I;16", "I", "F")
    },
    "tiff-deflate": p.encode(p.picture(), "TIFF", compression="tiff_adobe_deflate"),
    "jpeg-CMYK": p.encode(p.picture(mode="CMYK"), "JPEG"),
    "jpeg-L": p.encode(p.picture(mode="L"), "JPEG"),
    "jpeg-progressive": p.encode(p.picture(96, 192), "JPEG", progressive=True),
    "jpeg-exif-rotated": p.exif_rotated_jpeg(p.picture()),
    "gif": p.encode(p.picture().convert("P"), "GIF"),
    "gif-animated": p.animated_gif(),
    "webp-lossy": p.encode(p.picture(), "WEBP"),
    "webp-lossless": p.encode(p.picture(mode="RGBA"), "WEBP", lossless=True),
    "webp-animated": p.encode(
        p.picture(), "WEBP", save_all=True, append_images=[p.picture().rotate(90)]
    ),
    "bmp": p.encode(p.picture(), "BMP"),
    "png-1x1": p.encode(p.picture(1, 1), "PNG"),
    "png-4000x1": p.encode(p.picture(4000, 1), "PNG"),
    "jpeg-1x4000": p.encode(p.picture(1, 4000), "JPEG"),
}


def assert_clean_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]
    assert not any(leak in response.text for leak in LEAKS), response.text
    assert response.headers["X-Request-ID"]


@pytest.fixture(scope="module")
async def reference(real_client: httpx.AsyncClient) -> dict:
    """The answer to a normal request before any hostile one."""
    response = await real_client.post("/predict", content=NORMAL, headers={"Content-Type": JPEG})
    assert response.status_code == 200
    return response.json()["probabilities"]


async def assert_still_serving(client: httpx.AsyncClient, reference: dict) -> None:
    response = await client.post("/predict", content=NORMAL, headers={"Content-Type": JPEG})
    assert response.status_code == 200
    assert response.json()["probabilities"] == reference


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
async def test_refused_with_a_clean_4xx(
    real_client: httpx.AsyncClient,
    reference: dict,
    body: bytes,
    content_type: str | None,
    status: int,
    code: str,
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await real_client.post("/predict", content=body, headers=headers)
    assert_clean_error(response, status, code)
    await assert_still_serving(real_client, reference)


@pytest.mark.parametrize("data", list(ACCEPTED.values()), ids=list(ACCEPTED))
async def test_real_images_get_a_label(
    real_client: httpx.AsyncClient, reference: dict, data: bytes
) -> None:
    for request in (
        {"content": data, "headers": {"Content-Type": "image/x-anything"}},
        {"files": {"file": ("crop.bin", data, "application/octet-stream")}},
    ):
        response = await real_client.post("/predict", **request)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["label"] in ("male", "female")
        assert body["probabilities"]["male"] + body["probabilities"]["female"] == pytest.approx(1)
        assert 0.5 <= body["score"] <= 1
    await assert_still_serving(real_client, reference)


FORMS = {
    "missing-file-field": ({}, {"tta": "true"}, 422),
    "misnamed-field": ({"image": ("a.jpg", NORMAL, JPEG)}, {}, 422),
    "text-instead-of-file": ({}, {"file": "not a file"}, 422),
    "two-files": ({"file": ("a.jpg", NORMAL, JPEG), "extra": ("b.jpg", NORMAL, JPEG)}, {}, 422),
    "many-text-fields": ({"file": ("a.jpg", NORMAL, JPEG)}, {f"f{i}": "x" for i in range(20)}, 422),
}


@pytest.mark.parametrize(("files", "data", "status"), list(FORMS.values()), ids=list(FORMS))
async def test_malformed_forms(
    real_client: httpx.AsyncClient, reference: dict, files: dict, data: dict, status: int
) -> None:
    # httpx sends a form with only text fields urlencoded: force multipart with a dummy file part.
    files = files or {"other": ("x.txt", b"x", "text/plain")}
    response = await real_client.post("/predict", files=files, data=data)
    assert_clean_error(response, status, "invalid_request")
    await assert_still_serving(real_client, reference)


@pytest.mark.parametrize("value", ["maybe", "", "2", "yes please", "%00"])
async def test_bad_query_values(real_client: httpx.AsyncClient, value: str) -> None:
    for path in ("/predict", "/predict/batch"):
        response = await real_client.post(
            path, params={"tta": value}, files={"file": ("a.jpg", NORMAL, JPEG)}
        )
        assert_clean_error(response, 422, "invalid_request")
        assert "tta" in response.json()["error"]["message"]


async def test_batch_mixes_answers_and_per_item_errors(real_client: httpx.AsyncClient) -> None:
    bodies = [NORMAL, p.TEXT, p.png_claiming(100_000, 100_000), ACCEPTED["gif-animated"], b""]
    files = [("files", (f"{i}.img", body, JPEG)) for i, body in enumerate(bodies)]
    response = await real_client.post("/predict/batch", files=files)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r.get("error", {}).get("code") for r in results] == [
        None,
        "invalid_image",
        "image_too_large",
        None,
        "invalid_image",
    ]
    assert not any(leak in response.text for leak in LEAKS)


async def test_unknown_routes_and_methods(real_client: httpx.AsyncClient) -> None:
    assert_clean_error(await real_client.get("/../../etc/passwd"), 404, "not_found")
    assert_clean_error(await real_client.get("/predict"), 405, "method_not_allowed")
    assert_clean_error(await real_client.delete("/model"), 405, "method_not_allowed")
