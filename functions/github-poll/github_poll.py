"""github-poll: on a schedule, the completed Actions runs of the repositories in
LOGPIPE_GITHUB_POLL_REPOS (those without a webhook), their logs queued once each."""

from __future__ import annotations

from typing import Any

from logpipe import logs, metrics
from logpipe.config import Settings
from logpipe.github.poll import poll
from logpipe.ingest import Context

_settings = Settings.from_env()
logs.configure("github-poll", _settings.log_level)

_ctx = Context(_settings)


def _report() -> None:
    if _settings.metrics:
        metrics.report_quietly(_ctx.borrowed)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with metrics.invocation("github-poll", _report):
        results = [poll(_ctx, repo) for repo in _settings.github_poll_repos]
    return {"polled": [r.__dict__ for r in results]}
