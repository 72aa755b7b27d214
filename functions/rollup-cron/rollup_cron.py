"""rollup-cron: every minute, the search index and rollups, the sweeps, retention and the
Pushgateway push (``logpipe.cron``). Takes EventBridge's scheduled event, whose content
it does not need."""

from __future__ import annotations

from typing import Any

from logpipe import cron, logs, metrics
from logpipe.config import Settings
from logpipe.ingest import Context

_settings = Settings.from_env()
logs.configure("rollup-cron", _settings.log_level)

_ctx = Context(_settings)


def _report() -> None:
    if _settings.metrics:
        metrics.report_quietly(_ctx.borrowed)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    budget_s = context.get_remaining_time_in_millis() / 1000 - cron.MARGIN_S
    with metrics.invocation("rollup-cron", _report):
        return cron.run(_ctx, budget_s).as_dict()
