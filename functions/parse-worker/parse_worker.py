"""parse-worker: S3 notifications and chunk tasks from the queue, parsed into Postgres."""

from __future__ import annotations

import time
from typing import Any

from logpipe import logs, metrics
from logpipe.config import Settings
from logpipe.ingest import Context
from logpipe.ingest.lambda_events import handle_event

_settings = Settings.from_env()
logs.configure("parse-worker", _settings.log_level)

_ctx = Context(_settings)  # connections survive between invocations of a warm container


def _report() -> None:
    if _settings.metrics:
        metrics.report_quietly(_ctx.borrowed)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    with metrics.invocation("parse-worker", _report):
        return handle_event(_ctx, event, deadline)
