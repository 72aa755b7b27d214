"""github-poll: on a schedule, the completed Actions runs of the repositories in
LOGPIPE_GITHUB_POLL_REPOS (those without a webhook), their logs queued once each."""

from __future__ import annotations

from typing import Any

from logpipe.function import Function
from logpipe.github.poll import poll

_function = Function("github-poll")
_ctx = _function.ctx


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with _function.invocation():
        results = [poll(_ctx, repo) for repo in _function.settings.github_poll_repos]
    return {"polled": [r.__dict__ for r in results]}
