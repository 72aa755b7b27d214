"""JSON log lines, one object per line: service, function, level, message, and ids where known."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

# Attributes a caller may attach with ``extra=``; they are copied into the JSON object.
CONTEXT_KEYS = ("request_id", "file_id", "chunk", "delivery_id", "attempt")
NOISY = ("werkzeug", "botocore", "boto3", "urllib3", "s3transfer", "pika", "pgserver")

# The function at work, where one process serves several (the local runner): set around
# each call, it names the function in the log lines of that call.
current_function: ContextVar[str | None] = ContextVar("logpipe_function", default=None)


class JsonFormatter(logging.Formatter):
    def __init__(self, function: str) -> None:
        super().__init__()
        self.function = function

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": "logpipe",
            "function": current_function.get() or self.function,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            if key in record.__dict__:
                out[key] = record.__dict__[key]
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(function: str, level: str) -> None:
    """Send this process's logs at ``level`` (``Settings.log_level``) and above to stderr as
    JSON lines, replacing Lambda's or basicConfig's handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(function))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_libraries()


def quiet_libraries() -> None:
    """Hold the libraries that log every request or connection at INFO to warnings."""
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
