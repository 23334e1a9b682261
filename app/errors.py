"""Typed errors of the service, each with its HTTP status and error code.

Pure Python (no FastAPI), so the batcher can raise them; ``app.handlers`` turns them into
responses.
"""


class ServiceError(Exception):
    """Base class: ``status`` and ``code`` are what the client sees, with the message."""

    status = 500
    code = "internal_error"
    default_message = "internal server error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        return str(self)


class PayloadTooLargeError(ServiceError):
    status, code = 413, "payload_too_large"
    default_message = "request body is too large"


class UnsupportedMediaTypeError(ServiceError):
    status, code = 415, "unsupported_media_type"
    default_message = "send multipart/form-data or a raw body with Content-Type image/*"


class InvalidRequestError(ServiceError):
    status, code = 422, "invalid_request"
    default_message = "invalid request"


class UnauthorizedError(ServiceError):
    status, code = 401, "unauthorized"
    default_message = "missing or wrong API key"


class QueueFullError(ServiceError):
    status, code = 503, "queue_full"
    default_message = "the server is overloaded; retry later"


class NotReadyError(ServiceError):
    status, code = 503, "not_ready"
    default_message = "the model is not ready (starting or shutting down)"


class DeadlineExceededError(ServiceError):
    status, code = 504, "deadline_exceeded"
    default_message = "the request was not answered within its deadline"


class InferenceFailedError(ServiceError):
    status, code = 500, "inference_failed"
    default_message = "the model failed on the batch holding this request"


class ClientDisconnectedError(ServiceError):
    """The client went away before its answer was ready (499 is never seen by anyone)."""

    status, code = 499, "client_disconnected"
    default_message = "client disconnected"


class StartupError(ServiceError):
    """Start-up failed for a known reason (bad checkpoint, bad settings): one line, no traceback."""

    code = "startup_failed"
