"""parse-worker: S3 notifications and chunk tasks from the queue, parsed into Postgres."""

from __future__ import annotations

import time
from typing import Any

from logpipe.function import Function
from logpipe.ingest.lambda_events import full_batch, handle_event

_function = Function("parse-worker")
_ctx = _function.ctx  # connections survive between invocations of a warm container


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    with _function.invocation(more_coming=full_batch(event)):
        return handle_event(_ctx, event, deadline)
