"""The logs of a finished Actions run (or job): fetched, kept in the bucket, ingested.

A ``workflow_run`` completed delivery asks for the run attempt's archive: a zip with a
folder per job holding a file per step (``build/1_Set up job.txt``) and, at the top, a
file per job with all its steps (``0_build.txt``). The archive is kept in the bucket as it
came; each step's file (or, for a job whose steps the archive does not split, the job's
file) becomes an object beside it and a file of the pipeline, which the bucket's
notification sends to the parse-workers like any upload. A ``workflow_job`` completed
delivery asks for that job's log alone, a text file; whichever of a job's log and its
run's archive comes second leaves that job out.

Idempotent: each object's key is made from the run, attempt and member name, and a file
row is created once per key; a second delivery of the same run, or a retry after a
crash, finds the rows and sends nothing twice (an object whose row exists but whose put
never happened is put again).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zipfile
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any

from ..db import github as github_db
from ..db import stream as stream_db
from ..errors import PermanentError
from .client import GitHubApi, LogsUnavailableError

if TYPE_CHECKING:
    from ..ingest.context import Context

log = logging.getLogger("logpipe.github")

SOURCE = "github-actions"
MESSAGE_KIND = "github_logs"
# What the members of one archive may expand to, together: a few MB of zip can declare
# terabytes. Actions keeps a run's logs far below this.
MAX_ARCHIVE_TEXT_BYTES = 20 * 1024**3
_MEMBER = re.compile(r"^(?:(?P<job>[^/]+)/)?(?P<n>\d+)_(?P<name>.+)\.txt$")


@dataclass(frozen=True)
class LogsTask:
    """The logs one delivery (or the poller) asks for; ``job_id`` 0 means the whole run."""

    repository: str
    run_id: int
    run_attempt: int
    job_id: int = 0
    workflow: str | None = None
    job: str | None = None
    delivery_id: str | None = None

    def message(self) -> str:
        return json.dumps({"kind": MESSAGE_KIND, **asdict(self)}, separators=(",", ":"))

    @classmethod
    def decode(cls, msg: dict[str, Any]) -> LogsTask:
        try:
            repo = str(msg["repository"])
            if repo.count("/") != 1 or ".." in repo:
                raise ValueError(repo)
            return cls(
                repository=repo,
                run_id=int(msg["run_id"]),
                run_attempt=int(msg.get("run_attempt") or 1),
                job_id=int(msg.get("job_id") or 0),
                workflow=None if msg.get("workflow") is None else str(msg["workflow"]),
                job=None if msg.get("job") is None else str(msg["job"]),
                delivery_id=None if msg.get("delivery_id") is None else str(msg["delivery_id"]),
            )
        except (KeyError, TypeError, ValueError):
            raise PermanentError(
                "a github_logs message needs 'repository' (OWNER/NAME) and a whole-number 'run_id'"
            ) from None

    @classmethod
    def of_delivery(cls, event: str, payload: dict[str, Any], delivery_id: str | None) -> LogsTask | None:
        """The logs a delivery asks for: those of a completed run or job; None otherwise."""
        if payload.get("action") != "completed" or event not in ("workflow_run", "workflow_job"):
            return None
        thing, repo = payload.get(event), (payload.get("repository") or {}).get("full_name")
        if not isinstance(thing, dict) or not isinstance(repo, str):
            return None
        try:
            if event == "workflow_run":
                attempt = int(thing.get("run_attempt") or 1)
                return cls(repo, int(thing["id"]), attempt, 0, thing.get("name"), None, delivery_id)
            return cls(
                repo,
                int(thing["run_id"]),
                int(thing.get("run_attempt") or 1),
                int(thing["id"]),
                thing.get("workflow_name"),
                thing.get("name"),
                delivery_id,
            )
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def prefix(self) -> str:
        return f"github/{self.repository}/runs/{self.run_id}/attempt-{self.run_attempt}"

    def title(self) -> str:
        return f"{self.repository} · {self.workflow or 'workflow'} run {self.run_id} (attempt {self.run_attempt})"


@dataclass(frozen=True)
class Member:
    """One file of the archive that becomes a file of the pipeline."""

    path: str  # in the archive
    job: str
    step: str | None
    step_number: int | None


def members(names: list[str]) -> list[Member]:
    """The files to ingest: every step file, and the job file of each job that the archive
    does not split into steps (its steps are in the job file too: never both)."""
    found: list[Member] = []
    split_jobs = set()
    for name in names:
        m = _MEMBER.match(name)
        if m and m.group("job"):
            split_jobs.add(m.group("job"))
            found.append(Member(name, m.group("job"), m.group("name"), int(m.group("n"))))
    for name in names:
        m = _MEMBER.match(name)
        if m and not m.group("job") and m.group("name") not in split_jobs:
            found.append(Member(name, m.group("name"), None, None))
    return sorted(found, key=lambda x: (x.job, x.step_number or 0, x.path))


def _fields(task: LogsTask, job: str | None, step: str | None, step_number: int | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "repository": task.repository,
        "workflow": task.workflow,
        "run_id": task.run_id,
        "run_attempt": task.run_attempt,
    }
    if task.job_id:
        fields["job_id"] = task.job_id
    if job is not None:
        fields["job"] = job
    if step is not None:
        fields["step"] = step
        fields["step_number"] = step_number
    return fields


def _put(ctx: Context, key: str, name: str, body: IO[bytes], size: int, fields: dict[str, Any] | None) -> bool:
    """Record ``key`` as a file of the pipeline and put its bytes; False (nothing put) when
    it was recorded and put before."""
    with ctx.transaction() as conn:
        created = github_db.create_log_file(conn, key, name, size, SOURCE, fields)
    if not created:
        return False
    ctx.bucket.s3.upload_fileobj(body, ctx.bucket.name, key)
    return True


def _md5(f: IO[bytes]) -> str:
    h = hashlib.md5(usedforsecurity=False)
    for block in iter(lambda: f.read(1024 * 1024), b""):
        h.update(block)
    f.seek(0)
    return h.hexdigest()


def _size(f: IO[bytes]) -> int:
    f.seek(0, 2)
    size = f.tell()
    f.seek(0)
    return size


def _store_archive(ctx: Context, task: LogsTask, archive: IO[bytes]) -> str:
    """Keep the archive in the bucket as it came. Its file row is done before the object
    exists, with the object's ETag (the MD5 of a single PUT): planning it finds nothing
    to do, as a zip is no text log."""
    key = f"{task.prefix}/logs.zip"
    size, etag = _size(archive), _md5(archive)
    name, fields = f"{task.title()} · logs archive", _fields(task, None, None, None)
    with ctx.transaction() as conn:
        github_db.create_log_file(conn, key, name, size, SOURCE + "-archive", fields, etag=etag)
    # Put again on a retry: the same bytes, the same ETag, and planning still finds it done.
    ctx.bucket.s3.put_object(Bucket=ctx.bucket.name, Key=key, Body=archive)
    return key


def fetch_logs(ctx: Context, task: LogsTask, api: GitHubApi | None = None) -> None:
    """Fetch, keep and queue for ingestion the logs ``task`` names. May be retried: what
    was done is not done again. 401/403/404/410 mark the fetch failed with the reason
    (no retry); a rate limit raises ``RateLimitedError`` with GitHub's wait."""
    api = api or GitHubApi(ctx.settings.github_api_url, ctx.settings.github_token)
    with ctx.transaction() as conn:
        fetch = github_db.start_fetch(
            conn, task.repository, task.run_id, task.run_attempt, task.job_id, task.workflow, task.delivery_id
        )
    if fetch.status != "queued":
        log.info("logs of %s are %s already: nothing to do", task.title(), fetch.status)
        return
    if task.job_id:
        path = f"/repos/{task.repository}/actions/jobs/{task.job_id}/logs"
    else:
        path = f"/repos/{task.repository}/actions/runs/{task.run_id}/attempts/{task.run_attempt}/logs"
    try:
        downloaded = api.download(path)
    except LogsUnavailableError as exc:
        log.warning("logs of %s cannot be fetched: %s", task.title(), exc)
        with ctx.transaction() as conn:
            github_db.finish_fetch(conn, fetch, status="failed", error=str(exc))
            failed = {"logs": asdict(task), "status": "failed", "error": str(exc)}
            stream_db.append(conn, github_db.DELIVERY, data=failed)
        return
    with downloaded:
        if task.job_id:
            job = _safe(task.job or str(task.job_id))
            if github_db.has_file(ctx.conn, f"{task.prefix}/{job}/", prefix=True):
                # The run's archive brought this job's steps already: its log would repeat them.
                with ctx.transaction() as conn:
                    github_db.finish_fetch(conn, fetch, status="done", error="in the run's archive already")
                return
            key = f"{task.prefix}/{job}.txt"
            name = f"{task.title()} · {task.job or task.job_id}"
            fields = _fields(task, task.job, None, None)
            count = int(_put(ctx, key, name, downloaded, _size(downloaded), fields))
            archive_key = key
        else:
            archive_key = _store_archive(ctx, task, downloaded)
            downloaded.seek(0)
            try:
                zf = zipfile.ZipFile(downloaded)
            except zipfile.BadZipFile as exc:
                with ctx.transaction() as conn:
                    github_db.finish_fetch(conn, fetch, status="failed", error=f"the logs archive is no zip: {exc}")
                return
            count = 0
            with zf:
                chosen = members(zf.namelist())
                expands_to = sum(zf.getinfo(m.path).file_size for m in chosen)
                if expands_to > MAX_ARCHIVE_TEXT_BYTES:
                    reason = (
                        f"the logs archive expands to {expands_to} bytes, over {MAX_ARCHIVE_TEXT_BYTES}: not ingested"
                    )
                    with ctx.transaction() as conn:
                        github_db.finish_fetch(conn, fetch, status="failed", error=reason, archive_key=archive_key)
                    return
                for m in chosen:
                    if github_db.has_file(ctx.conn, f"{task.prefix}/{_safe(m.job)}.txt"):
                        continue  # this job's log came alone (workflow_job): not twice
                    leaf = f"{m.step_number}_{_safe(m.step)}.txt" if m.step else "job.txt"
                    key = f"{task.prefix}/{_safe(m.job)}/{leaf}"
                    name = f"{task.title()} · {m.job}" + (f" · {m.step_number} {m.step}" if m.step else "")
                    with zf.open(m.path) as member:
                        size = zf.getinfo(m.path).file_size
                        count += _put(ctx, key, name, member, size, _fields(task, m.job, m.step, m.step_number))
    with ctx.transaction() as conn:
        github_db.finish_fetch(conn, fetch, status="done", archive_key=archive_key, files=count)
    log.info("logs of %s: %d file(s) sent for ingestion", task.title(), count)


def _safe(part: str) -> str:
    """A name as one segment of an object key: no slash, no control characters."""
    cleaned = re.sub(r"[\x00-\x1f/\\]+", "_", part).strip() or "_"
    return cleaned[:200]
