"""Every knob of the service, read from ``GENNET_*`` environment variables."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gennet.checkpoint import DEFAULT_CHECKPOINT
from gennet.runtimes import BACKENDS
from gennet.runtimes.base import DEFAULT_ONNX_CACHE_DIR


class Settings(BaseSettings):
    """Service settings; each field is the environment variable ``GENNET_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="GENNET_", extra="ignore", frozen=True)

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
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto: cuda when torch sees a GPU, else cpu."
    )
    runtime: str = Field(
        default="auto",
        description="A runtime of gennet.runtimes.BACKENDS (onnx, torch); "
        "auto: onnx (ONNX Runtime) on the CPU, torch on CUDA.",
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
    max_image_pixels: int = Field(
        default=4_194_304,
        ge=1,
        description="Largest declared image size (width x height), checked before decoding; "
        "beyond it: 413 image_too_large.",
    )
    max_batch_items: int = Field(
        default=64, ge=1, description="Most files in one /predict/batch request; beyond it: 422."
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

    @property
    def request_limit(self) -> int:
        """The effective ``max_concurrent_requests``."""
        return self.max_concurrent_requests or self.max_queue + self.max_batch_size

    @field_validator("runtime")
    @classmethod
    def _known_runtime(cls, value: str) -> str:
        if value != "auto" and value not in BACKENDS:
            raise ValueError(f"unknown runtime (known: auto, {', '.join(sorted(BACKENDS))})")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
