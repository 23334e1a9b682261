"""Byte and item caps hold before an upload is read whole; EXIF orientation reaches the model."""

from collections.abc import AsyncIterator

import numpy as np
import pytest
from PIL import Image

from tests.support import payloads as p
from tests.support.fakes import FakePredictor, client_for, fake_app
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio

CAP = 64 * 1024
CHUNK = 4096
TOTAL = 50 * CAP  # what the client would send if nobody stopped it
BOUNDARY = "hostile"


class Source:
    """A request body that counts how many bytes the server pulled from it."""

    def __init__(self, head: bytes = b"", filler: int = TOTAL) -> None:
        self.head, self.filler, self.pulled = head, filler, 0

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in (self.head, *[b"\0" * CHUNK] * (self.filler // CHUNK)):
            self.pulled += len(chunk)
            yield chunk


def multipart_head(field: str = "file") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("path", "content_type", "head"),
    [
        ("/predict", "image/jpeg", b""),
        ("/predict", f"multipart/form-data; boundary={BOUNDARY}", multipart_head()),
        ("/predict/batch", f"multipart/form-data; boundary={BOUNDARY}", multipart_head("files")),
    ],
    ids=["raw", "multipart", "batch"],
)
async def test_streamed_body_over_the_cap_is_cut_off(
    path: str, content_type: str, head: bytes
) -> None:
    predictor = FakePredictor()
    async with client_for(fake_app(predictor, max_upload_bytes=CAP)) as client:
        predictor.calls.clear()  # the warm-up's
        source = Source(head)
        response = await client.post(
            path, content=source.chunks(), headers={"Content-Type": content_type}
        )
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert source.pulled <= CAP + CHUNK + len(head) < TOTAL // 10
    assert predictor.calls == []
    assert metric_value(metrics, "gennet_rejections_total", reason="payload_too_large") == 1


async def test_declared_length_over_the_cap_is_refused_unread() -> None:
    async with client_for(fake_app(FakePredictor(), max_upload_bytes=CAP)) as client:
        source = Source()
        headers = {"Content-Type": "image/jpeg", "Content-Length": str(TOTAL)}
        response = await client.post("/predict", content=source.chunks(), headers=headers)
    assert response.status_code == 413
    assert str(TOTAL) in response.json()["error"]["message"]
    assert source.pulled == 0


async def test_batch_over_the_item_cap_decodes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded = []
    monkeypatch.setattr("app.pipeline.decode.open_image", lambda *a: decoded.append(a))
    files = [("files", (f"{i}.png", p.encode(p.picture(), "PNG"), "image/png")) for i in range(5)]
    predictor = FakePredictor()
    async with client_for(fake_app(predictor, max_batch_items=4)) as client:
        predictor.calls.clear()
        response = await client.post("/predict/batch", files=files)
        empty = await client.post("/predict/batch", files={"other": ("a.png", b"x", "image/png")})
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    assert "files" in response.json()["error"]["message"].lower()
    assert empty.status_code == 422
    assert decoded == [] and predictor.calls == []


async def test_exif_orientation_reaches_the_model_upright() -> None:
    """The model must see the picture as displayed: bright on top, dark at the bottom."""
    rows = np.linspace(250, 5, 64, dtype=np.uint8)[:, None].repeat(32, axis=1)
    upright = Image.fromarray(np.stack([rows] * 3, axis=-1))
    predictor = FakePredictor()
    async with client_for(fake_app(predictor)) as client:
        response = await client.post(
            "/predict", content=p.exif_rotated_jpeg(upright), headers={"Content-Type": "image/jpeg"}
        )
    assert response.status_code == 200
    seen = predictor.calls[-1][0].mean(axis=0)  # (H, W), normalised
    assert seen[:4].mean() > seen[-4:].mean() + 1  # top rows bright, bottom rows dark
    assert abs(seen[:, :4].mean() - seen[:, -4:].mean()) < 0.2  # no left/right gradient
