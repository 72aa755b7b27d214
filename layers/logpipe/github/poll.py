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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..db import github as github_db
from ..errors import BadRequestError
from .client import Answer, GitHubApi, next_link
from .logs import NO_LOGS, LogsTask

if TYPE_CHECKING:
    from ..ingest.context import Context

log = logging.getLogger("logpipe.github")

PER_PAGE = 100
# GitHub lists at most 1,000 runs of a filtered query (``status``, ``created``): 10 pages.
MAX_PAGES = 10


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
    given) and queue the logs of those whose logs were never asked for.

    The list is newest first, a page at a time: the poll follows GitHub's ``next`` links
    until the runs are older than ``since`` or, on a scheduled poll, until a page whose
    runs were all asked for already and were created before the lookback
    (``github_poll_lookback_h``): the list is in the order the runs were created, so a long
    run that completes after newer ones lies behind them, on pages an earlier poll saw
    whole. The first page alone is asked for with the ETag: a 304 there means the list has
    not changed.
    The runs are queued once every page was read, so that a poll that breaks off half-way
    queues nothing and the next one walks the same pages again rather than stopping at the
    runs the broken one queued."""
    repository = check_repository(repository)
    api = api or GitHubApi(ctx.settings.github_api_url, ctx.settings.github_token)
    query = f"?status=completed&per_page={PER_PAGE}"
    if since is not None:
        since = (since if since.tzinfo else since.replace(tzinfo=UTC)).astimezone(UTC)
        query += f"&created=%3E%3D{since.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    # An ETag is of one URL: a --since poll neither uses nor keeps the scheduled poll's.
    etag = github_db.poll_etag(ctx.conn, repository) if since is None else None
    horizon = datetime.now(UTC) - timedelta(hours=ctx.settings.github_poll_lookback_h)
    path = f"/repos/{repository}/actions/runs{query}"
    first: Answer | None = None
    listed: dict[tuple[int, int], LogsTask] = {}  # a run that a shifting list shows twice counts once
    new: list[LogsTask] = []
    for page in range(1, MAX_PAGES + 1):
        answer = api.get(path, etag=etag if first is None else None)
        if answer.status == 304:
            return PollResult(repository, True, 0, 0)
        first = first or answer
        runs = [r for r in json.loads(answer.body).get("workflow_runs") or [] if isinstance(r, dict)]
        older = [r for r in runs if since is not None and _created(r, since) < since]
        tasks = {
            (t.run_id, t.run_attempt): t
            for t in (
                LogsTask(repository, int(r["id"]), int(r.get("run_attempt") or 1), 0, r.get("name"))
                for r in runs
                if r.get("status") == "completed"
                and "id" in r
                and r.get("conclusion") not in NO_LOGS
                and r not in older
            )
            if (t.run_id, t.run_attempt) not in listed
        }
        seen = github_db.fetched_runs(ctx.conn, repository, [run_id for run_id, _ in tasks])
        fresh = [t for key, t in tasks.items() if key not in seen]
        listed.update(tasks)
        new += fresh
        link = next_link(answer.headers)
        # A run without its creation time counts as created long ago.
        recent = bool(runs) and min(_created(r, datetime.min.replace(tzinfo=UTC)) for r in runs) >= horizon
        if older or (since is None and tasks and not fresh and not recent) or link is None:
            break
        if page == MAX_PAGES:
            log.warning("polled %s: stopped after %d pages of runs, as far as GitHub lists", repository, page)
            break
        path = api.below(link)
    if new:
        ctx.queue.send([t.message() for t in new])
    if since is None and first is not None:
        with ctx.transaction() as conn:
            github_db.save_poll(conn, repository, first.headers.get("etag"))
    log.info("polled %s: %d completed run(s) listed, %d queued", repository, len(listed), len(new))
    return PollResult(repository, False, len(listed), len(new))


def _created(run: dict[str, Any], otherwise: datetime) -> datetime:
    """When the run was created (``2026-11-30T10:00:00Z``), or ``otherwise`` when the
    listing does not say."""
    value = run.get("created_at")
    try:
        created = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else otherwise
    except ValueError:
        return otherwise
    return created if created.tzinfo else created.replace(tzinfo=UTC)
