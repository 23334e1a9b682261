"""The service's state and lifecycle (runtime and batcher, from start-up to drain), and the
pipeline every protocol's requests take: admit, then :meth:`Service.classify` (batch, run, decide).

Admission is ``app.pipeline.admission``'s: a request is refused at once when the service is full,
before its upload is read; so is an image, before it is decoded; overload costs next to no CPU.
Every stage runs under the request's deadline, counted from its arrival: a crop whose deadline
passes while it waits is dropped before it is decoded and answered 504 at once.
"""

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Sequence

from app.errors import NotReadyError, QueueFullError
from app.metrics import Metrics
from app.pipeline.admission import Admission, Capacity
from app.pipeline.batcher import MicroBatcher
from app.pipeline.crops import Payload, Share
from app.pipeline.decode import Decoder
from app.pipeline.job import Decision, Job, Options, Outcome
from app.runtime import Runtime, RuntimeBuilder, usable_cpus, warm_up
from app.schemas import ModelRef, ServiceState
from app.settings import Settings
from gennet.calibration import NO_CAMERA, OTHER_CAMERA, Calibration, load_calibration
from gennet.decision import decide_with_probability

log = logging.getLogger(__name__)

# A young-generation collection walks every live object of every request in flight; at Python's
# default (700 allocations) it ran about once a request under load. Every 20,000 it runs about
# once per 40 requests and walks the same objects.
GC_THRESHOLDS = (20_000, 10, 10)
REJECTION_SUMMARY_S = 10.0


class Service:
    """Owns everything a request needs; routes only translate HTTP to these calls."""

    def __init__(self, settings: Settings, build_runtime: RuntimeBuilder) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.state: ServiceState = "starting"
        self.created = time.monotonic()
        self._build_runtime = build_runtime
        self._runtime: Runtime | None = None
        self._summary: asyncio.Task[None] | None = None
        self.calibration: Calibration | None = None
        self._batcher: MicroBatcher | None = None
        self.admission = Admission(Capacity.from_settings(settings))
        self.metrics.track_queue_depth(lambda: self.queue_depth)
        self.metrics.ready.set_function(lambda: float(self.state == "ready"))

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise NotReadyError()
        return self._runtime

    @property
    def queue_depth(self) -> int:
        return self._batcher.depth if self._batcher else 0

    @property
    def model_ref(self) -> ModelRef:
        meta = self.runtime.meta
        return ModelRef(name=meta.name, version=meta.version)

    @functools.cached_property
    def model_ref_data(self) -> dict[str, str]:
        """``model_ref`` as plain data, for answers serialised without a response model."""
        return self.model_ref.model_dump()

    async def start(self) -> None:
        """Load the checkpoint, build the runtime, warm it up at every batch size, then serve."""
        started = time.monotonic()
        s = self.settings
        runtime = await asyncio.to_thread(self._build_runtime, s)
        if s.calibration_path is not None:
            self.calibration = load_calibration(
                s.calibration_path, runtime.meta.weights_sha256, runtime.meta.threshold
            )
            log.info("per-camera thresholds for %d groups", len(self.calibration.groups))
        await asyncio.to_thread(
            warm_up, runtime.predictor, runtime.meta.input_size, s.max_batch_size
        )
        self._runtime = runtime
        decoder = Decoder(
            runtime.meta.preprocess_spec, s.max_image_pixels, self.metrics.decode_duration.observe
        )
        self._batcher = MicroBatcher(
            runtime.predictor,
            preprocessor=decoder,
            max_batch_size=s.max_batch_size,
            max_wait_s=s.max_batch_wait_ms / 1000,
            max_batch_pixels=s.max_batch_pixels,
            decode_workers=s.decode_workers or usable_cpus(),
            observer=self.metrics,
            tta_margin=s.tta_margin,
        )
        self._batcher.start()
        self._set_model_info(runtime)
        self._summary = asyncio.create_task(self._summarise_rejections(), name="gennet-summary")
        # Everything loaded so far (libraries, model, app) lives as long as the process: move it
        # out of the garbage collector's sight, so that a full collection under load walks only
        # per-request objects instead of pausing the event loop for tens of milliseconds.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        self.state = "ready"
        log.info("ready in %.2f s", time.monotonic() - started)

    def begin_drain(self) -> None:
        """Refuse new requests from now on (readiness 503); the accepted ones still complete.

        Only sets an attribute, so a signal handler may call it (``app.http.server``).
        """
        self.state = "draining"

    async def stop(self) -> None:
        """Refuse new work at once, answer what was accepted, release the threads."""
        self.begin_drain()
        if self._batcher is not None:
            await self._batcher.drain()
        if self._summary is not None:
            self._summary.cancel()
        log.info("drained")

    def ensure_ready(self) -> None:
        if self.state != "ready":
            raise NotReadyError()

    def admit(self, arrived: float) -> float:
        """Refuse an inference request at once when not ready or full, before its upload is
        read; else its deadline (monotonic)."""
        self.ensure_ready()
        if not self.admission.room_for_image():
            raise QueueFullError()
        return arrived + self.settings.request_timeout_ms / 1000

    def classify(
        self,
        crops: Sequence[Payload],
        options: Options,
        deadline: float,
        *,
        fail_fast: bool = False,
    ) -> asyncio.Future[list[Outcome]]:
        """Every crop's :class:`Decision` or its own error, in order (``app.pipeline.job``):
        the one way a protocol's request reaches the model. Cancelling the future drops the
        crops not yet decoded."""
        job = Job(
            crops,
            options,
            deadline,
            submit=self.submit,
            decide=self.decide,
            share=Share(self.settings.max_request_pixels),
            window=self.admission.capacity.window,
            fail_fast=fail_fast,
        )
        return job.future

    def submit(
        self, payload: Payload, tta: bool, deadline: float, camera: str | None, share: Share
    ) -> asyncio.Future[float]:
        """Admit one crop (encoded bytes, or a preprocessed float32 (3, H, W) array) of the
        request ``share``.

        Raises at once: 503 queue_full when the service holds its most images, 503 not_ready,
        504 when already late. The future gets P(male), or the crop's error (400/413 for a bad
        image, 504 past ``deadline``); cancelling it drops the crop before it is decoded.
        """
        if self._batcher is None:
            raise NotReadyError()
        self.admission.take_image()
        try:
            mirror_around = self.threshold_for(camera) if tta else None
            future = self._batcher.enqueue(payload, mirror_around, deadline, share)
        except BaseException:
            self.admission.release_image()
            raise
        future.add_done_callback(self._release)
        return future

    def _release(self, future: asyncio.Future[float]) -> None:
        self.admission.release_image()

    def decide(self, prob_male: float, camera: str | None) -> Decision:
        """The decision for one crop from ``camera`` (None: not said), counted in the metrics."""
        threshold = self.threshold_for(camera)
        label, score = decide_with_probability(prob_male, threshold, self.runtime.meta.class_names)
        self.metrics.predicted(label, prob_male, self.camera_label(camera))
        return Decision(prob_male, label, score, threshold)

    def threshold_for(self, camera: str | None) -> float:
        """The threshold that applies to a crop from ``camera``: its calibrated one, else the
        default (the calibration file's, which is the checkpoint's)."""
        if self.calibration is not None:
            return self.calibration.threshold_for(camera)
        return self.runtime.meta.threshold

    def camera_label(self, camera: str | None) -> str:
        """``camera`` as a bounded metric label: a calibrated camera, ``other`` or ``none``."""
        if camera is None:
            return NO_CAMERA
        label = self.calibration.metric_label(camera) if self.calibration else OTHER_CAMERA
        if label == OTHER_CAMERA:
            self.metrics.unknown_cameras.inc()
        return label

    async def _summarise_rejections(self) -> None:
        """One log line per period with refusals, instead of one line per refusal."""
        seen = self.metrics.rejection_counts()
        while True:
            await asyncio.sleep(REJECTION_SUMMARY_S)
            now = self.metrics.rejection_counts()
            fresh = {k: n - seen.get(k, 0) for k, n in now.items() if n > seen.get(k, 0)}
            if fresh:
                detail = ", ".join(f"{k}={n}" for k, n in sorted(fresh.items()))
                log.warning("refused in the last %.0f s: %s", REJECTION_SUMMARY_S, detail)
            seen = now

    def _set_model_info(self, runtime: Runtime) -> None:
        meta = runtime.meta
        self.metrics.model_info.info(
            {
                "name": meta.name,
                "version": meta.version,
                "arch": meta.arch,
                "runtime": runtime.kind,
                "device": runtime.device,
                "weights_sha256": meta.weights_sha256,
            }
        )
