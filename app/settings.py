"""Every knob of the service, read from ``GENNET_*`` environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gennet.checkpoint import DEFAULT_CHECKPOINT
from gennet.inference import DEFAULT_TTA, DEFAULT_TTA_MARGIN
from gennet.runtimes import (
    AUTO_PRECISION,
    BACKENDS,
    DEVICE_PREFERENCE,
    RuntimeUnavailableError,
    check_precision,
)
from gennet.runtimes.base import DEFAULT_ONNX_CACHE_DIR

MAX_HEADERS = 100  # most header fields in a request (Apache's LimitRequestFields), not a knob


class Settings(BaseSettings):
    """Service settings; each field is the environment variable ``GENNET_<NAME>``."""

    # An invalid setting's error never quotes its value: it may be the API key.
    model_config = SettingsConfigDict(
        env_prefix="GENNET_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    model_path: Path = Field(
        default=DEFAULT_CHECKPOINT,
        description="The checkpoint (.pt) to serve, or an ONNX graph (.onnx) exported by "
        "`gennet export` to serve alone (onnx runtime, no torch needed).",
    )
    onnx_path: Path | None = Field(
        default=None,
        description="ONNX graph for the onnx runtime (default: the checkpoint with a .onnx suffix). "
        "A missing or stale graph (weights digest differs) is re-exported into onnx_cache_dir.",
    )
    calibration_path: Path | None = Field(
        default=None,
        description="Per-camera thresholds written by `gennet calibrate` for the served checkpoint "
        "(its weights digest must match); requests pick one with ?camera=.",
    )
    onnx_cache_dir: Path = Field(
        default=DEFAULT_ONNX_CACHE_DIR,
        description="Where a missing or stale ONNX graph is exported to, as <weights_sha256>.onnx.",
    )
    device: str = Field(
        default="auto",
        description=f"{', '.join(DEVICE_PREFERENCE)} or auto: cuda when torch sees a GPU, else cpu.",
    )
    runtime: str = Field(
        default="auto",
        description=f"A runtime of gennet.runtimes.BACKENDS ({', '.join(BACKENDS)}); "
        "auto: onnx (ONNX Runtime) on the CPU, torch on CUDA.",
    )
    precision: str = Field(
        default=AUTO_PRECISION,
        description="The numerics served, among those the runtime declares (fp32; int8: the "
        "graph `gennet export --precision int8` writes beside the checkpoint, onnx "
        "runtime, CPU); auto: int8 where the runtime serves it and the checkpoint's INT8 graph "
        "is there and fresh, else fp32.",
    )
    max_batch_size: int = Field(
        default=16, ge=1, le=512, description="Most requests per model call; 1 turns batching off."
    )
    max_batch_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=1000,
        description="How long the batcher may wait for more requests once one is queued; "
        "0 runs whatever is queued at once (an idle server never waits).",
    )
    max_queue: int = Field(
        default=64,
        ge=1,
        description="Images that may wait for the batch worker besides the batch being run; "
        "beyond it: 503 queue_full at once, before decoding. Keep it near what the model does "
        "in a fraction of the deadline: more only turns 503s into 504s after wasted uploads.",
    )
    max_concurrent_requests: int = Field(
        default=0,
        ge=0,
        description="Most inference requests in flight (uploading, queued or running); beyond it "
        "503 queue_full at once, before the request is routed or its body read. "
        "0: max_queue + max_batch_size.",
    )
    request_timeout_ms: float = Field(
        default=2000.0, gt=0, description="Deadline of a request from its arrival; past it: 504."
    )
    max_upload_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1,
        description="Largest request body accepted (a whole /predict/batch request included); "
        "beyond it: 413 payload_too_large, before the body is read.",
    )
    max_buffered_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="Request bodies held in memory at once, over all inference requests in "
        "flight; a body that does not fit: 503 queue_full (before it is read when its "
        "Content-Length says so). Bounds memory under a burst of large bodies.",
    )
    max_image_pixels: int = Field(
        default=1_048_576,
        ge=1,
        description="Largest declared image size (width x height), checked before decoding; "
        "beyond it: 413 image_too_large. 1 MP holds a person crop cut from a 4K frame at "
        "half height; decoding costs about 10 ms per megapixel (PNG, WebP) on one core.",
    )
    max_request_pixels: int = Field(
        default=8_388_608,
        ge=1,
        description="Most pixels the images of one request may decode to, together (a "
        "/predict/batch of 64 crops of 128k pixels, or 8 of the largest images); an image past "
        "it: 413 image_too_large.",
    )
    max_batch_pixels: int = Field(
        default=2_097_152,
        ge=1,
        description="Most pixels one model batch decodes beyond its first image: large images "
        "wait for later batches instead of delaying every crop batched with them.",
    )
    tta: bool = Field(
        default=DEFAULT_TTA,
        description="Flip test-time augmentation for requests that do not say: a crop whose "
        "probability is close to its threshold (GENNET_TTA_MARGIN) is predicted again mirrored "
        "and gets the mean of both.",
    )
    tta_margin: float = Field(
        default=DEFAULT_TTA_MARGIN,
        ge=0,
        le=1,
        description="How close to its threshold a TTA crop's probability must be for the "
        "mirrored second look (1: every crop; 0: none).",
    )
    max_batch_items: int = Field(
        default=64, ge=1, description="Most files in one /predict/batch request; beyond it: 422."
    )
    max_url_bytes: int = Field(
        default=8192,
        ge=1,
        description="Longest request target (path and query) under `gennet serve`; beyond it: "
        "414 uri_too_long as soon as the URL passes it, and the connection closes.",
    )
    max_header_bytes: int = Field(
        default=16384,
        ge=1,
        description="Most bytes of request header names and values together under `gennet "
        f"serve` (and at most {MAX_HEADERS} headers); beyond it: 431 header_fields_too_large "
        "as soon as the headers pass it, and the connection closes.",
    )
    threads: int = Field(
        default=0,
        ge=0,
        description="Model threads (ONNX Runtime intra-op, torch CPU); 0: usable cores.",
    )
    decode_workers: int = Field(
        default=0,
        ge=0,
        description="Threads decoding and resizing the crops of a batch; 1 decodes on "
        "the batch thread itself; 0: usable cores.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        min_length=1,  # set but empty is a start-up error, not a key that empty headers match
        description="When set, /predict, /predict/batch, /model, /v2/models/{name} and its /infer need it as "
        "'Authorization: Bearer <key>' or 'X-API-Key: <key>'; health, metrics and docs stay open.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Level of the service's own log."
    )
    log_json: bool = Field(default=False, description="One JSON object per log line.")
    host: str = Field(default="127.0.0.1", description="Bind address of `gennet serve`.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of `gennet serve`.")

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, value: str) -> str:
        if value != "auto" and value not in BACKENDS:
            raise ValueError(f"unknown runtime (known: auto, {', '.join(sorted(BACKENDS))})")
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if value != "auto" and value not in DEVICE_PREFERENCE:
            raise ValueError(f"unknown device (known: auto, {', '.join(DEVICE_PREFERENCE)})")
        return value

    @field_validator("precision")
    @classmethod
    def _served_precision(cls, value: str, info: ValidationInfo) -> str:
        """Known, and served by the runtime named (``auto``: checked once the device is known)."""
        try:
            check_precision(value, info.data.get("runtime", "auto"))
        except RuntimeUnavailableError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("max_buffered_bytes")
    @classmethod
    def _holds_one_body(cls, value: int, info: ValidationInfo) -> int:
        upload = info.data.get("max_upload_bytes")
        if upload is not None and value < upload:
            raise ValueError(
                f"must hold at least one whole body (GENNET_MAX_UPLOAD_BYTES={upload})"
            )
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("api_key")
    @classmethod
    def _printable_key(cls, value: SecretStr | None) -> SecretStr | None:
        """A key with a stray newline would match no header a client can send: refuse it."""
        if value is not None and not all("!" <= c <= "~" for c in value.get_secret_value()):
            raise ValueError(
                "GENNET_API_KEY must be printable ASCII without whitespace "
                "(a trailing newline from a mounted secret?)"
            )
        return value
