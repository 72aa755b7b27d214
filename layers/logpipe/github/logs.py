"""The logs of a finished Actions run (or job): fetched, kept in the bucket, ingested.

A ``workflow_run`` completed delivery asks for the run attempt's archive: a zip with a
folder per job holding a file per step (``build/1_Set up job.txt``) and, at the top, a
file per job with all its steps (``0_build.txt``). The archive is kept in the bucket as it
came; each step's file (or, for a job whose steps the archive does not split, the job's
file) becomes an object beside it and a file of the pipeline, which the bucket's
notification sends to the parse-workers like any upload. A ``workflow_job`` completed
delivery asks for that job's log alone, a text file; whichever of a job's log and its
run's archive comes second leaves that job out.

The archive's names are not the jobs' own: GitHub drops the characters a file name cannot
hold, may drop what is not ASCII, cuts long names, and cuts a job's folder and its
top-level file differently. Its jobs are matched to the run attempt's jobs as the jobs API
lists them (and to the jobs whose own logs came), by letters and digits, where exactly one
job fits; a matched job's files are keyed by its id, so its own log and the archive find
each other, and carry its real name and its steps' real names.

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
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import IO, TYPE_CHECKING, Any

from pg8000.native import Connection

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
JOBS_PER_PAGE = 100
MAX_JOB_PAGES = 10  # 1,000 jobs: a matrix makes at most 256; a run past this is matched by names
_MIN_TRUNCATED = 40  # letters and digits: a shorter name is taken as whole, never as cut short
_MEMBER = re.compile(r"^(?:(?P<job>[^/]+)/)?(?P<n>\d+)_(?P<name>.+)\.txt$")


# Conclusions of a run or job that ran nothing, so that there are no logs: a skipped job, a
# run awaiting approval, a run whose workflow file could not start.
NO_LOGS = frozenset({"skipped", "action_required", "startup_failure"})
_REPO_IN_URL = re.compile(r"/repos/([^/]+/[^/]+)/actions/")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _repository(payload: dict[str, Any], thing: dict[str, Any]) -> str | None:
    """OWNER/NAME of the delivery's repository: its ``full_name``, else its owner's login and
    its name, else the run's own ``repository``, else the run's or job's API URL."""
    for repo in (payload.get("repository"), thing.get("repository")):
        if isinstance(repo, dict):
            if _text(repo.get("full_name")):
                return str(repo["full_name"])
            owner = repo.get("owner")
            if isinstance(owner, dict) and _text(owner.get("login")) and _text(repo.get("name")):
                return f"{owner['login']}/{repo['name']}"
    for url in (thing.get("url"), thing.get("logs_url"), thing.get("run_url")):
        m = _REPO_IN_URL.search(url) if isinstance(url, str) else None
        if m:
            return m.group(1)
    return None


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
        """The logs a delivery asks for: those of a completed run or job (of its own attempt:
        a re-run's are new logs); None otherwise, and None for a run or job that concluded
        without running (``NO_LOGS``: there are no logs to fetch)."""
        if payload.get("action") != "completed" or event not in ("workflow_run", "workflow_job"):
            return None
        thing = payload.get(event)
        if not isinstance(thing, dict) or thing.get("conclusion") in NO_LOGS:
            return None
        repo = _repository(payload, thing)
        if repo is None:
            return None
        try:
            attempt = int(thing.get("run_attempt") or 1)
            if event == "workflow_run":
                workflow = _text(thing.get("name")) or _text((payload.get("workflow") or {}).get("name"))
                return cls(repo, int(thing["id"]), attempt, 0, workflow, None, delivery_id)
            workflow, job = _text(thing.get("workflow_name")), _text(thing.get("name"))
            return cls(repo, int(thing["run_id"]), attempt, int(thing["id"]), workflow, job, delivery_id)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    @property
    def prefix(self) -> str:
        return f"github/{self.repository}/runs/{self.run_id}/attempt-{self.run_attempt}"

    def title(self) -> str:
        return f"{self.repository} · {self.workflow or 'workflow'} run {self.run_id} (attempt {self.run_attempt})"


@dataclass(frozen=True)
class Job:
    """A job of a run attempt as the jobs API lists it: its id, its name as written in the
    workflow (matrix values, ``caller / called`` and all) and its steps' names by number."""

    id: int
    name: str
    steps: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Member:
    """One file of the archive that becomes a file of the pipeline."""

    path: str  # in the archive
    job: str  # the job's name: the jobs API's when the member was matched to a job, else the archive's
    step: str | None
    step_number: int | None
    job_id: int = 0  # 0: not matched to a job of the jobs API


def _squash(name: str, ascii_only: bool) -> str:
    """A name as GitHub's archive and its API can both be compared on: letters and digits
    only, case folded. The archive drops or replaces the characters a file name cannot hold
    (``/ : < > | * ? "`` and others) and may drop what is not ASCII."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(c for c in folded if c.isalnum() and (c.isascii() or not ascii_only))


def match_jobs(names: Iterable[str], jobs: Iterable[Job]) -> dict[str, Job]:
    """The job each of the archive's job ``names`` is, where exactly one job can be it.

    A name is compared with the jobs' on letters and digits alone (then on ASCII letters and
    digits alone), equal first, then as a prefix (the archive truncates long names). A name
    that two jobs could be stays unmatched: a wrong job is worse than none."""
    found: dict[str, Job] = {}
    left = list(dict.fromkeys(names))
    free = list(jobs)
    for ascii_only in (False, True):
        for prefix in (False, True):
            fits: dict[str, list[Job]] = {}
            for name in left:
                key = _squash(name, ascii_only)
                if key and (not prefix or len(key) >= _MIN_TRUNCATED):
                    fits[name] = [j for j in free if _fits(key, _squash(j.name, ascii_only), prefix)]
                    if prefix:
                        fits[name] = [j for j in fits[name] if len(_squash(j.name, ascii_only)) >= _MIN_TRUNCATED]
            for name, candidates in fits.items():
                if len(candidates) == 1 and sum(candidates[0] in c for c in fits.values()) == 1:
                    found[name] = candidates[0]
            left = [n for n in left if n not in found]
            free = [j for j in free if all(j is not f for f in found.values())]
    return found


def _fits(key: str, job_key: str, prefix: bool) -> bool:
    """Equal, or (``prefix``) one cut from the other."""
    return (job_key.startswith(key) or key.startswith(job_key)) if prefix else job_key == key


def members(names: list[str], sizes: dict[str, int] | None = None, jobs: Iterable[Job] = ()) -> list[Member]:
    """The files to ingest: every step file, and the job file of each job that the archive
    does not split into steps (its steps are in the job file too: never both).

    A job's folder and its top-level file are paired through the job the jobs API names
    (``jobs``), else by their names compared as ``match_jobs`` compares them. Other members
    (``system.txt``, folders without step files) and empty ones (``sizes`` 0) are left out."""
    sizes = sizes or {}
    parsed = []
    for name in names:
        m = _MEMBER.match(name)
        if m and sizes.get(name, 1) > 0:
            parsed.append((name, m.group("job"), int(m.group("n")), m.group("name")))
    jobs = list(jobs)
    folders = list(dict.fromkeys(job for _, job, _, _ in parsed if job is not None))
    tops = [step for _, job, _, step in parsed if job is None]
    # A job is a folder and a top-level file, each named (and cut) in its own way: each is
    # matched to the listed jobs on its own; a top-level file that no listed job matched is
    # paired in the same way with a folder that none matched.
    in_folders, in_tops = match_jobs(folders, jobs), match_jobs(tops, jobs)
    unmatched = [Job(-i, f) for i, f in enumerate(folders, 1) if f not in in_folders]
    split = {j.id for j in in_folders.values()}
    found: list[Member] = []
    for name, folder, n, step in parsed:
        if folder is not None:
            known = in_folders.get(folder)
            real_step = known.steps.get(n, step) if known else step
            found.append(Member(name, known.name if known else folder, real_step, n, known.id if known else 0))
    paired = match_jobs([t for t in tops if t not in in_tops], unmatched)
    for name, folder, _, step in parsed:
        known = in_tops.get(step)
        if folder is None and not (known and known.id in split) and step not in paired:
            found.append(Member(name, known.name if known else step, None, None, known.id if known else 0))
    return sorted(found, key=lambda x: (x.job, x.job_id, x.step_number or 0, x.path))


def run_jobs(api: GitHubApi, task: LogsTask) -> list[Job]:
    """The jobs of the task's run attempt, every page of them; none when the API will not
    list them (the archive's names are used alone then). A rate limit raises."""
    path = f"/repos/{task.repository}/actions/runs/{task.run_id}/attempts/{task.run_attempt}/jobs"
    jobs: list[Job] = []
    for page in range(1, MAX_JOB_PAGES + 1):
        try:
            answer = api.get(f"{path}?per_page={JOBS_PER_PAGE}&page={page}")
        except LogsUnavailableError as exc:
            log.info("jobs of %s not listed (%s): matching the archive's names alone", task.title(), exc)
            return []
        try:
            body = json.loads(answer.body)
            listed, total = body.get("jobs") or [], int(body.get("total_count") or 0)
        except (ValueError, AttributeError, TypeError):
            return []
        for j in listed:
            try:
                steps = {int(s["number"]): str(s["name"]) for s in j.get("steps") or [] if isinstance(s, dict)}
                jobs.append(Job(int(j["id"]), str(j["name"]), steps))
            except (KeyError, TypeError, ValueError):
                continue
        if not listed or len(jobs) >= total:
            break
    return jobs


def _fields(
    task: LogsTask, job: str | None, step: str | None, step_number: int | None, job_id: int = 0
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "repository": task.repository,
        "workflow": task.workflow,
        "run_id": task.run_id,
        "run_attempt": task.run_attempt,
    }
    if task.job_id or job_id:
        fields["job_id"] = task.job_id or job_id
    if job is not None:
        fields["job"] = job
    if step is not None:
        fields["step"] = step
        fields["step_number"] = step_number
    return fields


def _put(
    ctx: Context,
    task: LogsTask,
    key: str,
    name: str,
    body: IO[bytes],
    size: int,
    fields: dict[str, Any],
    unless: Callable[[Connection], bool],
) -> bool:
    """Record ``key`` as a file of the pipeline and put its bytes; False (nothing put) when
    it was recorded and put before, or when ``unless`` (asked under the run attempt's lock,
    in the transaction that would record it) says another file holds its lines."""
    with ctx.transaction() as conn:
        github_db.lock_logs(conn, task.prefix)
        if unless(conn):
            return False
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
            done = _job_log(ctx, task, downloaded)
            if done is None:
                # The run's archive brought this job's steps already: its log would repeat them.
                with ctx.transaction() as conn:
                    github_db.finish_fetch(conn, fetch, status="done", error="in the run's archive already")
                return
            count, archive_key = done
        else:
            archive_key = _store_archive(ctx, task, downloaded)
            downloaded.seek(0)
            try:
                zf = zipfile.ZipFile(downloaded)
            except zipfile.BadZipFile as exc:
                with ctx.transaction() as conn:
                    github_db.finish_fetch(conn, fetch, status="failed", error=f"the logs archive is no zip: {exc}")
                return
            with zf:
                infos = {_readable(i): i for i in zf.infolist() if not i.is_dir()}
                sizes = {name: i.file_size for name, i in infos.items()}
                listed = run_jobs(api, task)
                ids = {j.id for j in listed}
                jobs = listed + [j for j in _jobs_logged_alone(ctx.conn, task) if j.id not in ids]
                chosen = members(list(sizes), sizes, jobs)
                expands_to = sum(sizes[m.path] for m in chosen)
                if expands_to > MAX_ARCHIVE_TEXT_BYTES:
                    reason = (
                        f"the logs archive expands to {expands_to} bytes, over {MAX_ARCHIVE_TEXT_BYTES}: not ingested"
                    )
                    with ctx.transaction() as conn:
                        github_db.finish_fetch(conn, fetch, status="failed", error=reason, archive_key=archive_key)
                    return
                count = 0
                for m, key in zip(chosen, _member_keys(task, chosen), strict=True):
                    name = f"{task.title()} · {m.job}" + (f" · {m.step_number} {m.step}" if m.step else "")
                    fields = _fields(task, m.job, m.step, m.step_number, m.job_id)

                    def logged_alone(conn: Connection, m: Member = m) -> bool:
                        """This job's log came alone (``workflow_job``), maybe since the jobs
                        were matched: not twice."""
                        if m.job_id:
                            return github_db.has_file(conn, _job_log_key(task, m.job_id, m.job))
                        return bool(match_jobs([m.job], _jobs_logged_alone(conn, task)))

                    with zf.open(infos[m.path]) as member:
                        count += _put(ctx, task, key, name, member, sizes[m.path], fields, logged_alone)
    with ctx.transaction() as conn:
        github_db.finish_fetch(conn, fetch, status="done", archive_key=archive_key, files=count)
    log.info("logs of %s: %d file(s) sent for ingestion", task.title(), count)


def _readable(info: zipfile.ZipInfo) -> str:
    """A member's name as its writer meant it. zipfile reads a name whose header does not
    say UTF-8 as code page 437; where those bytes are UTF-8 (a job named with an accent or
    an emoji), they are read as UTF-8."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return info.filename


# Where a job's files go. A job known by its id (a job's own log, or an archive's job that
# the jobs API named) is keyed by it, so that its log and the run's archive find each other
# however the archive writes its name; an archive's job that no listed job matched, by name.
def _job_folder(task: LogsTask, job_id: int, job: str) -> str:
    return f"{task.prefix}/job-{job_id}" if job_id else f"{task.prefix}/{_safe(job)}"


def _job_log_key(task: LogsTask, job_id: int, job: str) -> str:
    return _job_folder(task, job_id, job) + ".txt"


def _member_keys(task: LogsTask, chosen: list[Member]) -> list[str]:
    """Each member's object key, in the job's folder: a step's file by its name in the
    archive, a whole job's as ``job.txt``; one key each, even where the archive repeats a
    step's number and name once made safe."""
    keys: list[str] = []
    taken: set[str] = set()
    for m in chosen:
        leaf = _safe(m.path.rsplit("/", 1)[-1]) if m.step is not None else "job.txt"
        key = f"{_job_folder(task, m.job_id, m.job)}/{leaf}"
        n = 1
        while key in taken:
            n += 1
            key = f"{_job_folder(task, m.job_id, m.job)}/{n}~{leaf}"
        taken.add(key)
        keys.append(key)
    return keys


def _jobs_logged_alone(conn: Connection, task: LogsTask) -> list[Job]:
    """The jobs of this run attempt whose own logs were ingested (``workflow_job``): the
    archive's names are matched against them too, when the jobs API did not list them."""
    jobs = []
    for key, fields in github_db.log_files(conn, task.prefix + "/job-"):
        m = re.fullmatch(r"job-(\d+)\.txt", key[len(task.prefix) + 1 :])
        if m and isinstance(fields.get("job"), str):
            jobs.append(Job(int(m.group(1)), fields["job"]))
    return jobs


def _job_log(ctx: Context, task: LogsTask, log_file: IO[bytes]) -> tuple[int, str] | None:
    """Put a job's own log as a file of the pipeline (1 and its key, or 0 when it was
    before), or None when the run's archive brought that job already."""
    job = task.job or str(task.job_id)
    in_archive: list[str] = []

    def archived(conn: Connection) -> bool:
        """The run's archive brought this job: a file in a job's folder (not the archive
        itself, nor a job's own log) of this job's id or, where no id was matched, name."""
        in_archive.extend(
            key
            for key, fields in github_db.log_files(conn, task.prefix + "/")
            if "/" in key[len(task.prefix) + 1 :]
            and (
                fields.get("job_id") == task.job_id
                or (not fields.get("job_id") and match_jobs([str(fields.get("job"))], [Job(task.job_id, job)]))
            )
        )
        return bool(in_archive)

    key = _job_log_key(task, task.job_id, job)
    fields = _fields(task, task.job, None, None)
    put = _put(ctx, task, key, f"{task.title()} · {job}", log_file, _size(log_file), fields, archived)
    return None if in_archive else (int(put), key)


def _safe(part: str) -> str:
    """A name as one segment of an object key: no slash, no control characters."""
    cleaned = re.sub(r"[\x00-\x1f/\\]+", "_", part).strip() or "_"
    return cleaned[:200]
