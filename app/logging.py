"""The service's log: one line per event, the request ID on each, optionally JSON.

The ``app`` and ``gennet`` logger trees are configured (``gennet``'s start-up warnings, such as a
stale ONNX graph re-exported, in the same format); with JSON on, uvicorn's loggers (start-up,
shutdown, its last-resort errors) get the same JSON handler, so a log collector never sees a plain
line.
Nothing here ever logs request bodies.
"""

import json
import logging
import sys
from contextvars import ContextVar
from typing import Any

request_id: ContextVar[str] = ContextVar("request_id", default="-")

_UVICORN_LOGGERS = ("uvicorn", "uvicorn.access")  # uvicorn.error propagates to uvicorn

_STANDARD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``extra=`` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_FIELDS})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, as_json: bool) -> None:
    """(Re)configure the ``app`` and ``gennet`` loggers; safe to call once per app built."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if as_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    logger = logging.getLogger("app")
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False
    # gennet is also the CLI's library: it keeps propagating, to handlers a host process set up
    # (none in the service, where records would otherwise reach Python's plain last resort)
    library = logging.getLogger("gennet")
    library.handlers = [handler]
    library.setLevel(level)
    if as_json:
        for name in _UVICORN_LOGGERS:
            logging.getLogger(name).handlers = [handler]
            logging.getLogger(name).propagate = False
