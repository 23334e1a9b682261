"""The error contract of the service, in one table: every code with its HTTP status, default
message, extra headers, whether it counts as a refusal in ``/metrics``, and when it happens.

``app.http.handlers`` turns errors into answers and OpenAPI responses from this table, and
``app.metrics`` takes its rejection labels from it. Pure Python (no FastAPI), so the batcher can
raise these errors.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from gennet.errors import ImageTooLargeError, InvalidImageError


@dataclass(frozen=True)
class ErrorKind:
    """One row of the contract."""

    code: str
    status: int
    message: str  # the default message
    when: str  # for /docs and the README
    headers: Mapping[str, str] = field(default_factory=dict)
    counted: bool = True  # a refusal counted in gennet_rejections_total{reason=code}


RETRY_AFTER = {"Retry-After": "1"}  # seconds

INVALID_IMAGE = ErrorKind(
    "invalid_image", 400, "not a decodable image", "undecodable, truncated or corrupt image"
)
UNAUTHORIZED = ErrorKind(
    "unauthorized",
    401,
    "missing or wrong API key",
    "GENNET_API_KEY is set and the key is missing or wrong",
    {"WWW-Authenticate": 'Bearer realm="gennet"'},
)
NOT_FOUND = ErrorKind("not_found", 404, "not found", "no such route", counted=False)
METHOD_NOT_ALLOWED = ErrorKind(
    "method_not_allowed",
    405,
    "method not allowed",
    "the route exists for other methods",
    counted=False,
)
PAYLOAD_TOO_LARGE = ErrorKind(
    "payload_too_large",
    413,
    "request body is too large",
    "body over GENNET_MAX_UPLOAD_BYTES (refused before it is read)",
)
IMAGE_TOO_LARGE = ErrorKind(
    "image_too_large",
    413,
    "image dimensions exceed the pixel limit",
    "declared image size over GENNET_MAX_IMAGE_PIXELS (checked before decoding)",
)
URI_TOO_LONG = ErrorKind(
    "uri_too_long",
    414,
    "request URL is too long",
    "`gennet serve`: request target over GENNET_MAX_URL_BYTES (refused as it arrives; "
    "the connection closes)",
)
UNSUPPORTED_MEDIA_TYPE = ErrorKind(
    "unsupported_media_type",
    415,
    "send multipart/form-data or a raw body with Content-Type image/*",
    "neither multipart/form-data nor image/*",
)
INVALID_REQUEST = ErrorKind(
    "invalid_request",
    422,
    "invalid request",
    "bad query value (tta, camera), missing field, too many batch items",
)
HEADER_FIELDS_TOO_LARGE = ErrorKind(
    "header_fields_too_large",
    431,
    "request headers are too large",
    "`gennet serve`: header names and values over GENNET_MAX_HEADER_BYTES together, or too "
    "many headers (refused as they arrive; the connection closes)",
)
CLIENT_DISCONNECTED = ErrorKind(
    "client_disconnected",
    499,
    "client disconnected",
    "the client went away before its answer was ready (never seen by anyone)",
)
INTERNAL_ERROR = ErrorKind(
    "internal_error",
    500,
    "internal server error",
    "an unexpected failure, logged server-side",
    counted=False,
)
INFERENCE_FAILED = ErrorKind(
    "inference_failed",
    500,
    "the model failed on the batch holding this request",
    "the model failed on this request's batch (the next batch runs normally)",
)
QUEUE_FULL = ErrorKind(
    "queue_full",
    503,
    "the server is overloaded; retry later",
    "overloaded: too many requests in flight or images queued (answered at once)",
    RETRY_AFTER,
)
NOT_READY = ErrorKind(
    "not_ready",
    503,
    "the model is not ready (starting or shutting down)",
    "starting or draining",
    RETRY_AFTER,
)
DEADLINE_EXCEEDED = ErrorKind(
    "deadline_exceeded",
    504,
    "the request was not answered within its deadline",
    "not answered within GENNET_REQUEST_TIMEOUT_MS of its arrival",
)
INVALID_INFERENCE_REQUEST = ErrorKind(
    "invalid_request",
    400,
    "invalid inference request",
    "/v2: malformed inference request (shape, datatype, data, parameters)",
)
MODEL_NOT_FOUND = ErrorKind(
    "model_not_found",
    404,
    "no such model or version",
    "/v2: no such model or version",
    counted=False,
)
STARTUP_FAILED = ErrorKind(
    "startup_failed", 500, "start-up failed", "bad checkpoint or settings", counted=False
)

ERROR_KINDS: tuple[ErrorKind, ...] = (
    INVALID_IMAGE,
    UNAUTHORIZED,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    PAYLOAD_TOO_LARGE,
    IMAGE_TOO_LARGE,
    URI_TOO_LONG,
    UNSUPPORTED_MEDIA_TYPE,
    INVALID_REQUEST,
    HEADER_FIELDS_TOO_LARGE,
    CLIENT_DISCONNECTED,
    INTERNAL_ERROR,
    INFERENCE_FAILED,
    QUEUE_FULL,
    NOT_READY,
    DEADLINE_EXCEEDED,
    INVALID_INFERENCE_REQUEST,
    MODEL_NOT_FOUND,
    STARTUP_FAILED,
)
# The labels of gennet_rejections_total: a fixed set, whatever a caller passes.
REJECTION_REASONS: tuple[str, ...] = tuple(dict.fromkeys(k.code for k in ERROR_KINDS if k.counted))
# The model side's input errors are raised without knowing HTTP; this is their row.
GENNET_ERROR_KINDS: Mapping[type[Exception], ErrorKind] = {
    InvalidImageError: INVALID_IMAGE,
    ImageTooLargeError: IMAGE_TOO_LARGE,
}


class ServiceError(Exception):
    """Base class: ``kind`` says what the client sees; the message may be more specific."""

    kind = INTERNAL_ERROR

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.kind.message)

    @property
    def message(self) -> str:
        return str(self)

    @property
    def status(self) -> int:
        return self.kind.status

    @property
    def code(self) -> str:
        return self.kind.code


class PayloadTooLargeError(ServiceError):
    kind = PAYLOAD_TOO_LARGE


class UnsupportedMediaTypeError(ServiceError):
    kind = UNSUPPORTED_MEDIA_TYPE


class InvalidRequestError(ServiceError):
    kind = INVALID_REQUEST


class UnauthorizedError(ServiceError):
    kind = UNAUTHORIZED


class QueueFullError(ServiceError):
    kind = QUEUE_FULL


class NotReadyError(ServiceError):
    kind = NOT_READY


class DeadlineExceededError(ServiceError):
    kind = DEADLINE_EXCEEDED


class InferenceFailedError(ServiceError):
    kind = INFERENCE_FAILED


class ClientDisconnectedError(ServiceError):
    """The client went away before its answer was ready."""

    kind = CLIENT_DISCONNECTED


class StartupError(ServiceError):
    """Start-up failed for a known reason (bad checkpoint, bad settings): one line, no traceback."""

    kind = STARTUP_FAILED


def kind_of(exc: Exception) -> ErrorKind | None:
    """The contract row of a known error (a ServiceError or a gennet input error), else None."""
    if isinstance(exc, ServiceError):
        return exc.kind
    for kind, row in GENNET_ERROR_KINDS.items():
        if isinstance(exc, kind):
            return row
    return None
