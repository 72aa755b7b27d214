"""The poller, for repositories without a webhook: recent completed runs, listed with a
conditional request, and the logs of those not asked for yet queued as a delivery would.

GitHub answers 304 to an ``If-None-Match`` whose ETag still holds, and a 304 costs no rate
limit: a poll that finds nothing new is free. The ETag is kept only after the runs it
listed were queued, so a poll that fails half-way lists them again (queuing is idempotent:
the fetcher does nothing twice).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..db import github as github_db
from ..errors import BadRequestError
from .client import GitHubApi
from .logs import NO_LOGS, LogsTask

if TYPE_CHECKING:
    from ..ingest.context import Context

log = logging.getLogger("logpipe.github")

PER_PAGE = 100


@dataclass(frozen=True)
class PollResult:
    repository: str
    not_modified: bool
    listed: int
    queued: int


def check_repository(repository: str) -> str:
    owner, _, name = repository.partition("/")
    if not owner or not name or "/" in name or ".." in repository:
        raise BadRequestError(f"a repository is OWNER/NAME, got {repository!r}")
    return repository


def poll(ctx: Context, repository: str, since: datetime | None = None, api: GitHubApi | None = None) -> PollResult:
    """List the repository's recent completed runs (created at or after ``since``, when
    given) and queue the logs of those whose logs were never asked for."""
    repository = check_repository(repository)
    api = api or GitHubApi(ctx.settings.github_api_url, ctx.settings.github_token)
    query = f"?status=completed&per_page={PER_PAGE}"
    if since is not None:
        query += f"&created=%3E%3D{since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    # An ETag is of one URL: a --since poll neither uses nor keeps the scheduled poll's.
    etag = github_db.poll_etag(ctx.conn, repository) if since is None else None
    answer = api.get(f"/repos/{repository}/actions/runs{query}", etag=etag)
    if answer.status == 304:
        return PollResult(repository, True, 0, 0)
    runs = json.loads(answer.body).get("workflow_runs") or []
    tasks = [
        LogsTask(repository, int(r["id"]), int(r.get("run_attempt") or 1), 0, r.get("name"))
        for r in runs
        if isinstance(r, dict) and r.get("status") == "completed" and "id" in r and r.get("conclusion") not in NO_LOGS
    ]
    seen = github_db.fetched_runs(ctx.conn, repository, [t.run_id for t in tasks])
    new = [t for t in tasks if (t.run_id, t.run_attempt) not in seen]
    if new:
        ctx.queue.send([t.message() for t in new])
    if since is None:
        with ctx.transaction() as conn:
            github_db.save_poll(conn, repository, answer.headers.get("etag"))
    log.info("polled %s: %d completed run(s) listed, %d queued", repository, len(tasks), len(new))
    return PollResult(repository, False, len(tasks), len(new))
