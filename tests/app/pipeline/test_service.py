"""The service (``app.pipeline.service``) through the app. Per-camera thresholds: ?camera=, the
default for unknown cameras, bounded metric labels, /model, and start-up refusing a bad or foreign
calibration file; flip TTA mirroring around the crop's own threshold; start-up freezing what it
loaded out of the garbage collector's sight."""

import gc
from pathlib import Path

import numpy as np
import pytest

from app.errors import StartupError
from app.pipeline.service import GC_THRESHOLDS
from gennet.calibration import Calibration, GroupCalibration
from tests.support.fakes import FakePredictor, client_for, fake_app, fake_meta
from tests.support.images import noise_crop
from tests.support.prometheus import metric_value

pytestmark = pytest.mark.anyio

DIGEST = fake_meta().weights_sha256
LOW, HIGH = 0.001, 0.999  # every fake crop is male at LOW and female at HIGH


def group(threshold: float) -> GroupCalibration:
    return GroupCalibration(threshold=threshold, n_male=20, n_female=20, fitted=True)


def write_calibration(
    path: Path, digest: str = DIGEST, thresholds: tuple[float, float] = (LOW, HIGH)
) -> Path:
    """A camera calibration for the checkpoint ``digest``: GRID:1 and GRID:2 at ``thresholds``."""
    calibration = Calibration(
        weights_sha256=digest,
        default_threshold=0.5,
        mode="labels",
        by="camera",
        groups={"GRID:1": group(thresholds[0]), "GRID:2": group(thresholds[1])},
    )
    path.write_text(calibration.to_json())
    return path


async def test_camera_threshold_applies_and_is_echoed(tmp_path: Path) -> None:
    app = fake_app(FakePredictor(), calibration_path=write_calibration(tmp_path / "cal.json"))
    image = {"file": ("a.png", noise_crop(), "image/png")}
    async with client_for(app) as client:
        low = (await client.post("/predict?camera=GRID:1", files=image)).json()
        high = (await client.post("/predict?camera=GRID:2", files=image)).json()
        plain = (await client.post("/predict", files=image)).json()
        batch = await client.post("/predict/batch?camera=GRID:2", files=[("files", image["file"])])
        card = (await client.get("/model")).json()
    assert (low["label"], low["threshold"], low["camera"]) == ("male", LOW, "GRID:1")
    assert (high["label"], high["threshold"], high["camera"]) == ("female", HIGH, "GRID:2")
    assert low["probabilities"] == high["probabilities"]  # the same crop, only the rule moved
    assert high["score"] == pytest.approx(high["probabilities"]["female"])
    assert (plain["camera"], plain["threshold"]) == (None, 0.5)
    body = batch.json()
    assert (body["camera"], body["threshold"], body["results"][0]["label"]) == (
        "GRID:2",
        HIGH,
        "female",
    )
    assert card["calibration"]["cameras"] == {"GRID:1": LOW, "GRID:2": HIGH}
    assert card["calibration"]["default_threshold"] == 0.5


async def test_unknown_cameras_get_the_default_and_keep_labels_bounded(tmp_path: Path) -> None:
    app = fake_app(FakePredictor(), calibration_path=write_calibration(tmp_path / "cal.json"))
    image = {"file": ("a.png", noise_crop(), "image/png")}
    async with client_for(app) as client:
        answers = [
            (await client.post(f"/predict?camera=lobby-{i}", files=image)).json() for i in range(5)
        ]
        await client.post("/predict?camera=GRID:1", files=image)
        await client.post("/predict", files=image)
        metrics = (await client.get("/metrics")).text
    assert {(a["camera"], a["threshold"]) for a in answers} == {
        (f"lobby-{i}", 0.5) for i in range(5)
    }
    assert metric_value(metrics, "gennet_unknown_camera_total") == 5
    cameras = {
        line.split('camera="')[1].split('"')[0]
        for line in metrics.splitlines()
        if line.startswith("gennet_camera_predictions_total{")
    }
    assert cameras == {"other", "GRID:1", "none"}  # never the 5 names sent


async def test_a_bad_camera_name_is_a_422() -> None:
    async with client_for(fake_app(FakePredictor())) as client:
        response = await client.post(
            "/predict?camera=a%0Ab", files={"file": ("a.png", noise_crop(), "image/png")}
        )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{not json", "not JSON"),
        ('{"weights_sha256": "x"}', "calibration"),
        ("foreign", "run gennet calibrate for this checkpoint"),
    ],
)
async def test_start_up_refuses_a_bad_or_foreign_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "cal.json"
    if content == "foreign":
        write_calibration(path, digest="a" * 64)
    elif content is not None:
        path.write_text(content)
    app = fake_app(FakePredictor(), calibration_path=path)
    with pytest.raises(StartupError) as error:
        async with client_for(app):
            pass
    text = str(error.value)
    assert "\n" not in text
    assert message.lower() in text.lower(), text


# Far from the default (0.5) and from each other, so that a crop near one is far from the other
# at a margin of 0.25: a crop at 0.9 is near GRID:1's 0.8 only; one at 0.6 is near 0.5 only.
NEAR_HIGH, NEAR_LOW = 0.8, 0.1


@pytest.mark.parametrize(
    ("first", "query", "threshold", "mirrored"),
    [
        (0.9, "camera=GRID:1&tta=true", NEAR_HIGH, True),  # 0.1 from GRID:1's, 0.4 from 0.5
        (0.9, "tta=true", 0.5, False),
        (0.9, "camera=lobby&tta=true", 0.5, False),  # unknown: the default
        (0.9, "camera=GRID:1&tta=false", NEAR_HIGH, False),  # near, but no TTA asked
        (0.6, "camera=GRID:2&tta=true", NEAR_LOW, False),  # 0.5 from GRID:2's, 0.1 from 0.5
        (0.6, "tta=true", 0.5, True),
    ],
)
async def test_tta_mirrors_around_the_cameras_own_threshold(
    tmp_path: Path, first: float, query: str, threshold: float, mirrored: bool
) -> None:
    path = write_calibration(tmp_path / "cal.json", thresholds=(NEAR_HIGH, NEAR_LOW))
    predictor = FakePredictor()
    app = fake_app(predictor, calibration_path=path, tta=False, tta_margin=0.25)
    image = {"file": ("a.png", noise_crop(), "image/png")}
    second = first - 0.04  # the mirror's answer: it moves the mean, so it shows in the answer
    async with client_for(app) as client:
        warm_up = len(predictor.calls)
        answers = iter([first, second])
        predictor.transform = lambda batch: np.full(len(batch), next(answers), np.float32)
        body = (await client.post(f"/predict?{query}", files=image)).json()
    calls = predictor.calls[warm_up:]
    assert body["threshold"] == threshold
    assert body["tta"] is ("tta=true" in query)
    if mirrored:
        assert [len(batch) for batch in calls] == [1, 1]  # the crop, then its mirror alone
        np.testing.assert_array_equal(calls[1][0], calls[0][0][..., ::-1])
        assert body["probabilities"]["male"] == pytest.approx((first + second) / 2, abs=1e-6)
    else:
        assert [len(batch) for batch in calls] == [1]
        assert body["probabilities"]["male"] == pytest.approx(first, abs=1e-6)


async def test_start_up_freezes_what_it_loaded_out_of_the_collectors_sight() -> None:
    """A full garbage collection under load must not walk the libraries and the model: it would
    pause the event loop (refusals took 100 ms at p99 before); nor should a young one run on
    about every request."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)  # Python's default
    assert gc.get_freeze_count() == 0
    async with client_for(fake_app(FakePredictor())) as client:
        assert (await client.get("/health/ready")).status_code == 200
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] >= 10_000
