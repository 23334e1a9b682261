"""Load test of the GenNet service with locust.

    locust -f locustfile.py --headless -u 64 -r 16 -t 60s --host http://127.0.0.1:8000

Each user is a closed-loop client posting person crops: real ones from ``LOADTEST_IMAGES_DIR``
(default ``../shared/data/peta/images`` beside the project, when it exists), else crops drawn in
memory with Pillow. The task mix follows how video-analytics callers use the service: mostly one crop
per request, some with flip TTA, some whole frames as batches. Every answer's JSON shape is checked
and a wrong one counts as a failure, as does any non-2xx status.
"""

import io
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, task

LOG = logging.getLogger("gennet.loadtest")
DEFAULT_IMAGES_DIR = Path(__file__).resolve().parent.parent / "shared" / "data" / "peta" / "images"
CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
MAX_IMAGES = 256
BATCH_SIZES = (2, 4, 8, 16)
LABELS = {"male", "female"}


@dataclass(frozen=True)
class Crop:
    name: str
    data: bytes
    content_type: str


def images_dir() -> Path:
    return Path(os.environ.get("LOADTEST_IMAGES_DIR") or DEFAULT_IMAGES_DIR)


def read_crops(folder: Path, limit: int = MAX_IMAGES) -> list[Crop]:
    """A fixed random sample of the image files under ``folder`` (empty when there are none)."""
    if not folder.is_dir():
        return []
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in CONTENT_TYPES)
    chosen = random.Random(0).sample(paths, min(limit, len(paths)))
    return [Crop(p.name, p.read_bytes(), CONTENT_TYPES[p.suffix.lower()]) for p in chosen]


def generated_crops(count: int = 32) -> list[Crop]:
    """Person-shaped JPEG crops (head, torso, legs) of typical surveillance sizes."""
    from PIL import Image, ImageDraw

    rng = random.Random(0)
    crops = []
    for i in range(count):
        width = rng.randint(40, 120)
        height = int(width * rng.uniform(2.0, 2.6))
        image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((width * 0.35, 0, width * 0.65, height * 0.15), fill=(224, 172, 105))
        draw.rectangle((width * 0.2, height * 0.15, width * 0.8, height * 0.55), fill=colour)
        draw.rectangle((width * 0.3, height * 0.55, width * 0.7, height), fill=(40, 40, 60))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        crops.append(Crop(f"generated-{i}.jpg", buffer.getvalue(), "image/jpeg"))
    return crops


def load_crops() -> list[Crop]:
    folder = images_dir()
    crops = read_crops(folder)
    if crops:
        LOG.info("posting %d real crops from %s", len(crops), folder)
        return crops
    LOG.warning("no images under %s: posting generated crops", folder)
    return generated_crops()


def prediction_error(body: Any, tta: bool | None) -> str | None:
    """Why ``body`` is not a prediction (None when it is one); ``tta=None`` skips that field."""
    if not isinstance(body, dict):
        return "answer is not a JSON object"
    probabilities = body.get("probabilities")
    if body.get("label") not in LABELS:
        return f"label {body.get('label')!r} is not male/female"
    if not isinstance(probabilities, dict) or set(probabilities) != LABELS:
        return "probabilities must hold male and female"
    score = body.get("score")
    if not isinstance(score, float | int) or abs(score - probabilities[body["label"]]) > 1e-6:
        return f"score {score!r} is not the probability of the label"
    if abs(sum(probabilities.values()) - 1.0) > 1e-4:
        return "probabilities do not sum to 1"
    if tta is not None and body.get("tta") is not tta:
        return f"tta is {body.get('tta')!r}, expected {tta}"
    return None


def batch_error(body: Any, count: int) -> str | None:
    """Why ``body`` is not a /predict/batch answer for ``count`` good crops (None when it is one)."""
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != count:
        return f"expected a list of {count} results"
    for index, result in enumerate(results):
        if error := prediction_error(result, None):
            return f"result {index}: {error}"
        if result.get("index") != index:
            return f"result {index} has index {result.get('index')!r}"
    return None


def json_or_none(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


Check = Callable[[Any], str | None]
CROPS = load_crops()


class GenNetUser(FastHttpUser):
    """A video-analytics caller: about 70 % single crops, 15 % TTA, 15 % frames as batches."""

    wait_time = constant(0)

    def _post(self, path: str, check: Check, name: str | None = None, **request: Any) -> None:
        """POST and fail the request on a non-2xx status or when ``check(body)`` names an error."""
        with self.client.post(path, name=name, catch_response=True, **request) as response:
            error = check(json_or_none(response)) if 200 <= response.status_code < 300 else None
            if error:
                response.failure(f"{error}: {response.text[:200]}")

    def _file(self) -> dict[str, tuple[str, bytes, str]]:
        crop = random.choice(CROPS)
        return {"file": (crop.name, crop.data, crop.content_type)}

    @task(7)
    def predict(self) -> None:
        # tta not said: the service's default (GENNET_TTA) applies, whichever it is
        self._post("/predict", partial(prediction_error, tta=None), files=self._file())

    @task(3)
    def predict_raw_body(self) -> None:
        crop = random.choice(CROPS)
        check = partial(prediction_error, tta=None)
        headers = {"Content-Type": crop.content_type}
        self._post("/predict", check, "/predict (raw body)", data=crop.data, headers=headers)

    @task(2)
    def predict_tta(self) -> None:
        self._post("/predict?tta=true", partial(prediction_error, tta=True), files=self._file())

    @task(2)
    def predict_batch(self) -> None:
        crops = random.sample(CROPS, min(random.choice(BATCH_SIZES), len(CROPS)))
        files = [("files", (c.name, c.data, c.content_type)) for c in crops]
        self._post("/predict/batch", partial(batch_error, count=len(crops)), files=files)
