"""Every Prometheus object of the service, on a registry of its own (one per app)."""

import collections
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from app.errors import REJECTION_REASONS
from gennet.calibration import NO_CAMERA

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))


class Metrics:
    """The service's metrics; also the batcher's ``BatchObserver``."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "gennet_requests_total",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "gennet_request_duration_seconds",
            "End-to-end request latency inside the server.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "gennet_queue_wait_seconds",
            "Time a request waited in the batch queue.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            "gennet_inference_duration_seconds",
            "Time of one model call (one batch).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.decode_duration = Histogram(
            "gennet_decode_duration_seconds",
            "Time to decode, resize and normalise one image.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "gennet_batch_size",
            "Rows per model call (a TTA second look is a call of its own).",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "gennet_queue_depth", "Requests waiting for the model.", registry=r
        )
        self.in_flight = Gauge(
            "gennet_in_flight_requests", "HTTP requests being handled.", registry=r
        )
        self.predictions = Counter(
            "gennet_predictions_total", "Predictions by label.", ["label"], registry=r
        )
        self.camera_predictions = Counter(
            "gennet_camera_predictions_total",
            "Predictions by camera (a calibrated camera's name; other: a camera the calibration "
            "does not know, which gets the default threshold; none: no camera given) and label.",
            ["camera", "label"],
            registry=r,
        )
        self.unknown_cameras = Counter(
            "gennet_unknown_camera_total",
            "Crops sent with a camera the calibration file does not know (default threshold).",
            registry=r,
        )
        self.score = Histogram(
            "gennet_prediction_score",
            "Predicted probability of male (a drift signal).",
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.rejections = Counter(
            "gennet_rejections_total",
            "Requests or items refused, by reason.",
            ["reason"],
            registry=r,
        )
        self.inference_errors = Counter(
            "gennet_inference_errors_total", "Model calls that raised.", registry=r
        )
        self.model_info = Info("gennet_model", "The model being served.", registry=r)
        self.ready = Gauge("gennet_ready", "1 when the model is loaded and warmed up.", registry=r)
        self._rejection_children = {r: self.rejections.labels(r) for r in REJECTION_REASONS}
        self._refused: collections.Counter[str] = collections.Counter()
        self._prediction_children: dict[tuple[str, str], tuple[Counter, Counter]] = {}
        self._request_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def track_queue_depth(self, depth: Callable[[], float]) -> None:
        self.queue_depth.set_function(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def reject(self, reason: str) -> None:
        if reason in REJECTION_REASONS:  # a fixed label set, whatever the caller passes
            self._rejection_children[reason].inc()
            self._refused[reason] += 1

    def rejection_counts(self) -> dict[str, int]:
        """Refusals so far by reason (for the periodic log summary)."""
        return dict(self._refused)

    def request_done(self, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request; label children are cached (a lookup per request adds up)."""
        key = (route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, str(status)),
                self.request_duration.labels(route),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def predicted(self, label: str, prob_male: float, camera: str = NO_CAMERA) -> None:
        """One answered crop; ``camera`` is already a bounded label (``Service.camera_label``)."""
        children = self._prediction_children.get((camera, label))
        if children is None:
            children = (
                self.predictions.labels(label),
                self.camera_predictions.labels(camera, label),
            )
            self._prediction_children[(camera, label)] = children
        for child in children:
            child.inc()
        self.score.observe(prob_male)

    # BatchObserver
    def queue_waited(self, seconds: float) -> None:
        self.queue_wait.observe(seconds)

    def batch_done(self, rows: int, seconds: float) -> None:
        self.batch_size.observe(rows)
        self.inference_duration.observe(seconds)

    def batch_failed(self) -> None:
        self.inference_errors.inc()
