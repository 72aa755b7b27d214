"""rollup-cron: every minute, the search index and rollups, the sweeps, retention and the
Pushgateway push (``logpipe.cron``). Takes EventBridge's scheduled event, whose content
it does not need."""

from __future__ import annotations

from typing import Any

from logpipe import cron
from logpipe.function import Function

_function = Function("rollup-cron")
_ctx = _function.ctx


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    budget_s = context.get_remaining_time_in_millis() / 1000 - cron.MARGIN_S
    with _function.invocation():
        return cron.run(_ctx, budget_s).as_dict()
