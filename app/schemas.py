"""Response bodies of the API, named by role; every field is described for /docs."""

from typing import Any, Literal

from pydantic import BaseModel, Field

Label = Literal["male", "female"]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable error code, e.g. invalid_image.")
    message: str = Field(description="Human-readable explanation.")


class ErrorResponse(BaseModel):
    """The one shape of every error answer."""

    error: ErrorDetail = Field(description="What went wrong.")


class ModelRef(BaseModel):
    name: str = Field(description="Model name from the checkpoint.")
    version: str = Field(description="Model version from the checkpoint.")


class Probabilities(BaseModel):
    male: float = Field(ge=0, le=1, description="Probability that the person is male.")
    female: float = Field(ge=0, le=1, description="1 - male.")


class Scored(BaseModel):
    label: Label = Field(description="male when P(male) >= the threshold applied.")
    score: float = Field(ge=0, le=1, description="Probability of the returned label.")
    probabilities: Probabilities = Field(description="Probability of each label.")


class Calibrated(BaseModel):
    camera: str | None = Field(description="The camera named in the request (null: none).")
    threshold: float = Field(
        ge=0,
        le=1,
        description="The threshold applied: the camera's calibrated one, else the default.",
    )


class Prediction(Scored, Calibrated):
    """Answer of POST /predict."""

    tta: bool = Field(
        description="Whether flip TTA was asked for: the crop was predicted again mirrored, and "
        "the two averaged, if its probability was close to its threshold (GENNET_TTA_MARGIN)."
    )
    model: ModelRef = Field(description="The model that answered.")
    latency_ms: float = Field(description="Time spent in the server on this request.")


class BatchPrediction(Scored):
    index: int = Field(description="Position of the file in the request.")


class BatchItemError(BaseModel):
    index: int = Field(description="Position of the file in the request.")
    error: ErrorDetail = Field(description="Why this file got no prediction.")


class BatchResponse(Calibrated):
    """Answer of POST /predict/batch: one result per file, in order."""

    results: list[BatchPrediction | BatchItemError] = Field(
        description="A prediction, or an error for that file alone, per uploaded file."
    )
    tta: bool = Field(
        description="Whether flip TTA was asked for: each crop close to its threshold "
        "(GENNET_TTA_MARGIN) was predicted again mirrored, and the two averaged."
    )
    model: ModelRef = Field(description="The model that answered.")
    latency_ms: float = Field(description="Time spent in the server on this request.")


ServiceState = Literal["starting", "ready", "draining"]


class Probe(BaseModel):
    status: str = Field(description="alive, or the service state: starting, ready, draining.")


class Health(BaseModel):
    """Summary of GET /health."""

    status: ServiceState = Field(description="starting, ready or draining.")
    model: ModelRef | None = Field(description="The served model; null until loaded.")
    device: str | None = Field(description="cpu or cuda; null until loaded.")
    runtime: str | None = Field(description="onnx or torch; null until loaded.")
    precision: str | None = Field(description="fp32 or int8 (GENNET_PRECISION); null until loaded.")
    tta: bool = Field(description="Whether requests that do not say get flip TTA (GENNET_TTA).")
    tta_margin: float = Field(
        description="Flip TTA mirrors a crop whose probability is within this of its threshold "
        "(GENNET_TTA_MARGIN)."
    )
    queue_depth: int = Field(description="Requests waiting for the model.")
    uptime_s: float = Field(description="Seconds since the process built the app.")


class CalibrationSummary(BaseModel):
    by: str = Field(description="What the groups are: camera or source.")
    mode: str = Field(description="labels (best macro-F1) or male_share (a score quantile).")
    default_threshold: float = Field(description="For a camera not listed.")
    cameras: dict[str, float] = Field(description="Each calibrated camera and its threshold.")


class ModelCard(BaseModel):
    """The checkpoint's metadata (no weights, no local paths).

    Fixed-length fields are lists with a length, not tuples: tuples become ``prefixItems`` in the
    schema, which much OpenAPI tooling (Swagger UI, client generators, schemathesis) mishandles.
    """

    name: str = Field(description="Model name.")
    version: str = Field(description="Model version.")
    arch: str = Field(description="Architecture name in the model registry.")
    arch_kwargs: dict[str, Any] = Field(description="Arguments the architecture was built with.")
    input_size: list[int] = Field(
        min_length=2, max_length=2, description="Model input (height, width) in pixels."
    )
    mean: list[float] = Field(
        min_length=3, max_length=3, description="Per-channel normalisation mean (RGB)."
    )
    std: list[float] = Field(
        min_length=3, max_length=3, description="Per-channel normalisation std (RGB)."
    )
    class_names: list[str] = Field(
        min_length=2, max_length=2, description="Labels of P >= threshold and below."
    )
    threshold: float = Field(description="P(male) at or above which the label is male.")
    metrics: dict[str, Any] = Field(description="Evaluation figures recorded at training time.")
    data: dict[str, Any] = Field(description="Training data provenance.")
    recipe: dict[str, Any] = Field(description="Training hyper-parameters.")
    created_at: str = Field(description="When the checkpoint was written (ISO 8601).")
    weights_sha256: str = Field(description="Digest of the weights (identifies the release).")
    calibration: CalibrationSummary | None = Field(
        None, description="Per-camera thresholds in use (GENNET_CALIBRATION_PATH); null: none."
    )
    serving: dict[str, Any] = Field(
        default_factory=dict,
        description="How it is served: runtime, device, precision (fp32, int8) and whether "
        "requests that do not say get flip TTA.",
    )
