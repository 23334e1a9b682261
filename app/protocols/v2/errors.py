"""How the Open Inference Protocol refuses a request, and how its messages echo client values."""

from typing import Any

import simdjson

from app.errors import INVALID_INFERENCE_REQUEST, MODEL_NOT_FOUND, ServiceError

SHOWN_CHARS = 40  # of a client's value that an error message repeats


class ProtocolError(ServiceError):
    """A malformed inference request: 400, counted as ``invalid_request`` like a bad /predict."""

    kind = INVALID_INFERENCE_REQUEST


class ModelNotFoundError(ServiceError):
    kind = MODEL_NOT_FOUND


def shown(value: Any) -> str:
    """``repr(value)`` cut to about :data:`SHOWN_CHARS` characters, for an error message.

    A client may send a megabyte where a name belongs; the message goes back to it and into the
    logs, so it repeats only the start. A JSON array or object is named, not printed (its text
    may be the whole body).
    """
    if isinstance(value, simdjson.Array):
        return "a JSON array"
    if isinstance(value, simdjson.Object):
        return "a JSON object"
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return repr(value[:SHOWN_CHARS]) + "..."
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."
