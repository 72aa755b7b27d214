"""Actions logs: fetched from a fake GitHub (an API host and an archive host that must never
see the token), kept in moto's bucket, and ingested into real Postgres as files of the
pipeline; rate limits, expired logs and repeats."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fake_github import FakeGitHub, zip_of
from test_github_webhook import GITHUB, needs_github

from logpipe.aws import client
from logpipe.config import Settings
from logpipe.github.logs import LogsTask, members
from logpipe.ingest import Context, handle_deliveries
from logpipe.queue import Delivery, work_queue

from conftest import pump, query

TOKEN = "ghs_" + "t" * 36
REPO = "octo-org/octo-repo"
RUN = 30433642
RUN_LOGS = f"/repos/{REPO}/actions/runs/{RUN}/attempts/2/logs"

STEP = (
    "\ufeff2026-11-30T10:00:00.1234567Z ##[group]Run npm test\n"
    "2026-11-30T10:00:00.2234567Z npm test --ci\n"
    "2026-11-30T10:00:00.3234567Z ##[endgroup]\n"
    "2026-11-30T10:00:01.0000001Z \x1b[31mFAIL\x1b[0m src/app.test.js\n"
    "2026-11-30T10:00:01.5000000Z ##[warning]Node.js 16 actions are deprecated\n"
    "2026-11-30T10:00:02.0000000Z ##[error]Process completed with exit code 1.\n"
).encode()
SETUP = b"2026-11-30T09:59:59.0000000Z Current runner version: '2.321.0'\n"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    yield fake
    fake.close()


@pytest.fixture
def gh_settings(make_settings: Callable[..., Settings], github: FakeGitHub) -> Settings:
    return make_settings(github_api_url=github.api_url, github_token=TOKEN)


def task(**kw: Any) -> LogsTask:
    base: dict[str, Any] = dict(repository=REPO, run_id=RUN, run_attempt=2, workflow="CI", delivery_id="d-1")
    return LogsTask(**{**base, **kw})


def send(settings: Settings, *tasks: LogsTask) -> None:
    q = work_queue(settings)
    try:
        q.send([t.message() for t in tasks])
    finally:
        q.close()


def actions_events(settings: Settings) -> list[list[Any]]:
    return query(
        settings,
        "SELECT f.name, e.line, e.level, e.message, e.raw, e.fields FROM events e JOIN files f ON f.id = e.file_id "
        "WHERE e.source = 'github-actions' ORDER BY f.name, e.line",
    )


def fetches(settings: Settings) -> list[list[Any]]:
    return query(settings, "SELECT job_id, status, error, files FROM github_log_fetches ORDER BY job_id")


def test_members_are_the_step_files_or_else_the_job_file() -> None:
    names = ["0_build.txt", "build/1_Set up job.txt", "build/2_Run tests.txt", "1_lint.txt", "build/system.txt"]
    found = [(m.path, m.job, m.step, m.step_number) for m in members(names)]
    assert found == [
        ("build/1_Set up job.txt", "build", "Set up job", 1),
        ("build/2_Run tests.txt", "build", "Run tests", 2),
        ("1_lint.txt", "lint", None, None),
    ]


def test_a_runs_step_files_are_ingested_with_their_run_job_step_and_group(
    gh_settings: Settings, github: FakeGitHub
) -> None:
    github.logs[RUN_LOGS] = zip_of(
        {"0_build.txt": SETUP + STEP, "build/1_Set up job.txt": SETUP, "build/2_Run tests.txt": STEP}
    )
    send(gh_settings, task())
    pump(gh_settings)

    events = actions_events(gh_settings)
    names = sorted({e[0] for e in events})
    assert names == [
        f"{REPO} · CI run {RUN} (attempt 2) · build · 1 Set up job",
        f"{REPO} · CI run {RUN} (attempt 2) · build · 2 Run tests",
    ]  # the job file holds the same lines as its steps: not ingested twice
    step = [e for e in events if e[0].endswith("2 Run tests")]
    assert [(e[2], e[3]) for e in step] == [
        (None, "Run npm test"),
        (None, "npm test --ci"),
        (None, ""),
        (None, "FAIL src/app.test.js"),
        ("warn", "Node.js 16 actions are deprecated"),
        ("error", "Process completed with exit code 1."),
    ]
    assert "\x1b[31m" in step[3][4]  # the colours are kept in the raw line only
    base = {"repository": REPO, "workflow": "CI", "run_id": RUN, "run_attempt": 2, "job": "build"}
    for e in step:
        assert e[5].items() >= {**base, "step": "Run tests", "step_number": 2}.items()
    assert [e[5].get("group") for e in step] == ["Run npm test", "Run npm test", "Run npm test", None, None, None]

    assert fetches(gh_settings) == [[0, "done", None, 2]]
    # The token went to the API, never to the archive host the API redirected to.
    assert github.api_seen and all(s.headers.get("authorization") == f"Bearer {TOKEN}" for s in github.api_seen)
    assert github.archive_seen and all("authorization" not in s.headers for s in github.archive_seen)
    # The archive is kept in the bucket as it came, and is no file that failed.
    s3 = client("s3", gh_settings)
    key = f"github/{REPO}/runs/{RUN}/attempt-2/logs.zip"
    assert s3.get_object(Bucket=gh_settings.bucket, Key=key)["Body"].read() == github.logs[RUN_LOGS]
    assert query(gh_settings, "SELECT status FROM files WHERE object_key = :k", k=key) == [["done"]]
    assert query(gh_settings, "SELECT count(*) FROM files WHERE status = 'failed'") == [[0]]

    # The same run asked for again (a redelivery, or the poller): nothing twice.
    send(gh_settings, task(), task(delivery_id="d-2"))
    pump(gh_settings)
    assert actions_events(gh_settings) == events
    assert github.hits(RUN_LOGS) == 1


def test_an_archive_without_step_files_is_ingested_a_job_at_a_time(gh_settings: Settings, github: FakeGitHub) -> None:
    github.logs[RUN_LOGS] = zip_of({"0_build.txt": SETUP + STEP, "1_lint.txt": SETUP})
    send(gh_settings, task())
    pump(gh_settings)
    events = actions_events(gh_settings)
    by_file = Counter(e[0] for e in events)
    assert all("step" not in e[5] for e in events)
    assert by_file == {f"{REPO} · CI run {RUN} (attempt 2) · build": 7, f"{REPO} · CI run {RUN} (attempt 2) · lint": 1}


def test_a_jobs_log_is_fetched_alone(gh_settings: Settings, github: FakeGitHub) -> None:
    github.logs[f"/repos/{REPO}/actions/jobs/77/logs"] = STEP
    send(gh_settings, task(job_id=77, job="test (3.11)"))
    pump(gh_settings)
    events = actions_events(gh_settings)
    assert len(events) == 6 and {e[0] for e in events} == {f"{REPO} · CI run {RUN} (attempt 2) · test (3.11)"}
    assert events[-1][5]["job_id"] == 77 and events[-1][2] == "error"
    assert all("authorization" not in s.headers for s in github.archive_seen)


@pytest.mark.parametrize("status", [404, 410, 403])
def test_expired_or_forbidden_logs_mark_the_fetch_failed_without_retrying(
    gh_settings: Settings, github: FakeGitHub, status: int
) -> None:
    github.errors[RUN_LOGS] = (status, {})
    send(gh_settings, task())
    pump(gh_settings)
    [[job, state, error, files]] = fetches(gh_settings)
    assert (job, state, files) == (0, "failed", 0) and f"GitHub answered {status}" in error
    assert github.hits(RUN_LOGS) == 1  # no retry storm
    q = work_queue(gh_settings)
    try:
        assert q.list_dead() == []
    finally:
        q.close()
    send(gh_settings, task())  # asked again: it failed for good, and is not fetched again
    pump(gh_settings)
    assert github.hits(RUN_LOGS) == 1


def _outcome(settings: Settings) -> Any:
    ctx = Context(settings)
    try:
        [outcome] = handle_deliveries(ctx, [Delivery("m", task().message(), 1)], time.monotonic() + 60)
    finally:
        ctx.close()
    return outcome


def test_rate_limits_wait_as_github_says_then_back_off(gh_settings: Settings, github: FakeGitHub) -> None:
    github.errors[RUN_LOGS] = (429, {"Retry-After": "37"})
    first = _outcome(gh_settings)
    assert (first.action, first.delay_s, first.next_attempt) == ("retry", 37, 1)  # waiting uses up no try

    reset = int(time.time()) + 120
    github.errors[RUN_LOGS] = (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    second = _outcome(gh_settings)
    assert second.action == "retry" and second.next_attempt == 1 and 100 <= second.delay_s <= 122

    github.errors[RUN_LOGS] = (429, {})  # says nothing: the policy's own backoff, and the try counts
    third = _outcome(gh_settings)
    assert (third.action, third.delay_s, third.next_attempt) == ("retry", 2, 2)

    assert fetches(gh_settings) == [[0, "queued", None, 0]]  # still to be done
    del github.errors[RUN_LOGS]
    github.logs[RUN_LOGS] = zip_of({"0_lint.txt": SETUP})
    assert _outcome(gh_settings).action == "ack"
    assert fetches(gh_settings) == [[0, "done", None, 1]]


def test_a_completed_run_delivered_to_the_webhook_ends_searchable(
    gh_settings: Settings, github: FakeGitHub, make_settings: Callable[..., Settings]
) -> None:
    from dataclasses import replace

    from test_github_webhook import SECRET, Hook

    from logpipe.http import deps

    github.logs[f"/repos/{REPO}/actions/runs/{RUN}/attempts/1/logs"] = zip_of({"build/1_Run tests.txt": STEP})
    hook = Hook(replace(gh_settings, github_webhook_secret=SECRET))
    try:
        payload = {
            "action": "completed",
            "repository": {"full_name": REPO},
            "sender": {"login": "octocat"},
            "workflow_run": {"id": RUN, "name": "CI", "run_attempt": 1, "run_number": 9, "conclusion": "failure"},
        }
        r = hook.deliver("workflow_run", json.dumps(payload).encode())
        assert r.status_code == 202 and r.get_json()["logs"] == "queued"
        pump(gh_settings)
        found = hook.client.get(
            "/api/events?source=github-actions&level=error",
            headers={"Authorization": f"Bearer {gh_settings.api_token}"},
        )
    finally:
        deps.close(hook.app)
    assert found.status_code == 200, found.get_json()
    [event] = found.get_json()["events"]
    assert event["message"] == "Process completed with exit code 1." and event["fields"]["run_id"] == RUN


def test_poll_lists_completed_runs_with_an_etag_and_queues_each_once(gh_settings: Settings, github: FakeGitHub) -> None:
    from logpipe.github.poll import poll

    runs_path = f"/repos/{REPO}/actions/runs"
    github.runs[REPO] = [{"id": RUN, "run_attempt": 2, "status": "completed", "name": "CI"}]
    github.logs[RUN_LOGS] = zip_of({"build/1_Run tests.txt": STEP})
    ctx = Context(gh_settings)
    try:
        first = poll(ctx, REPO)
        assert (first.not_modified, first.listed, first.queued) == (False, 1, 1)
        again = poll(ctx, REPO)
        assert again.not_modified  # 304: nothing new, no rate limit spent
        assert github.api_seen[-1].headers.get("if-none-match") and github.hits(runs_path) == 2
        pump(gh_settings, ctx=ctx)
        assert len(actions_events(gh_settings)) == 6

        later = f"/repos/{REPO}/actions/runs/{RUN + 1}/attempts/1/logs"
        github.logs[later] = zip_of({"0_lint.txt": SETUP})
        github.runs[REPO].insert(0, {"id": RUN + 1, "run_attempt": 1, "status": "completed", "name": "CI"})
        third = poll(ctx, REPO)
        assert (third.not_modified, third.listed, third.queued) == (False, 2, 1)  # the first run was seen
        pump(gh_settings, ctx=ctx)
    finally:
        ctx.close()
    assert len(actions_events(gh_settings)) == 7
    assert github.hits(RUN_LOGS) == 1 and github.hits(later) == 1


def _runs_with_logs(github: FakeGitHub, ids: list[int], created: list[str] | None = None) -> list[dict[str, Any]]:
    """Completed runs, newest first as GitHub lists them, each with a one-line log."""
    runs = []
    for n, run_id in enumerate(ids):
        github.logs[f"/repos/{REPO}/actions/runs/{run_id}/attempts/1/logs"] = zip_of({"0_lint.txt": SETUP})
        run = {"id": run_id, "run_attempt": 1, "status": "completed", "conclusion": "success", "name": "CI"}
        runs.append(run | ({"created_at": created[n]} if created else {}))
    return runs


def _pages_asked(github: FakeGitHub) -> list[str]:
    runs_path = f"/repos/{REPO}/actions/runs"
    pages = [s.path.partition("?")[2] for s in github.api_seen if s.path.split("?")[0] == runs_path]
    return [next((p for p in q.split("&") if p.startswith("page=")), "page=1") for q in pages]


def test_the_next_page_is_the_link_headers_next_and_only_below_the_api() -> None:
    from logpipe.github.client import GitHubApi, GitHubError, next_link

    api = "https://api.github.com"
    page = f"{api}/repositories/1296269/actions/runs?status=completed&per_page=100&page="
    link = f'<{page}1>; rel="prev", <{page}3>; rel="next", <{page}9>; rel="last", <{page}1>; rel="first"'
    assert next_link({"link": link}) == f"{page}3"
    assert next_link({"link": f'<{page}1>; rel="first", <{page}1>; rel="prev"'}) is None  # the last page
    assert next_link({}) is None
    client = GitHubApi(api, TOKEN)
    assert client.below(f"{page}3") == "/repositories/1296269/actions/runs?status=completed&per_page=100&page=3"
    for elsewhere in ("https://api.github.com.example.net/x", "http://api.github.com/x", "https://example.net/"):
        with pytest.raises(GitHubError):
            client.below(elsewhere)  # the token goes to the API and nowhere else


def test_poll_follows_the_pages_of_runs_until_the_runs_were_seen(gh_settings: Settings, github: FakeGitHub) -> None:
    from logpipe.github.poll import poll

    github.page_size = 2  # GitHub's pages are of 100: 2 here, so that 5 runs are 3 pages
    github.runs[REPO] = _runs_with_logs(github, [RUN + 4, RUN + 3, RUN + 2, RUN + 1, RUN])
    ctx = Context(gh_settings)
    try:
        first = poll(ctx, REPO)
        assert (first.not_modified, first.listed, first.queued) == (False, 5, 5)
        assert _pages_asked(github) == ["page=1", "page=2", "page=3"]
        pump(gh_settings, ctx=ctx)

        assert poll(ctx, REPO).not_modified  # the first page's ETag still holds: no page after it is asked for
        assert _pages_asked(github)[3:] == ["page=1"]
        assert github.api_seen[-1].headers.get("if-none-match")

        github.runs[REPO][:0] = _runs_with_logs(github, [RUN + 7, RUN + 6, RUN + 5])
        later = poll(ctx, REPO)  # pages 1 and 2 hold the three new runs; page 3 was all seen
        assert (later.not_modified, later.listed, later.queued) == (False, 6, 3)
        assert _pages_asked(github)[4:] == ["page=1", "page=2", "page=3"]
        assert "if-none-match" not in github.api_seen[-1].headers  # the ETag is the first page's
        pump(gh_settings, ctx=ctx)
    finally:
        ctx.close()
    # every run's one line, once
    assert Counter(e[5]["run_id"] for e in actions_events(gh_settings)) == {r: 1 for r in range(RUN, RUN + 8)}


def test_a_long_run_that_completes_behind_newer_runs_already_seen_is_still_polled(
    gh_settings: Settings, github: FakeGitHub
) -> None:
    """Runs are listed in the order they were created: a run that ran for hours completes
    behind the newer runs that finished meanwhile, on pages an earlier poll saw whole. A
    scheduled poll walks the runs created within its lookback (24 h), seen or not, and
    stops at a page of runs seen and older than that."""
    from datetime import UTC, datetime, timedelta

    from logpipe.github.poll import poll

    now = datetime.now(UTC)

    def ago(hours: float) -> str:
        return (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")

    github.page_size = 2
    newer = _runs_with_logs(github, [RUN + 10, RUN + 9, RUN + 8, RUN + 7], [ago(h) for h in (0.2, 0.4, 0.6, 0.8)])
    old = _runs_with_logs(github, [RUN + 2, RUN + 1, RUN], [ago(h) for h in (30, 31, 32)])
    github.runs[REPO] = newer + old  # the long run, created 3 hours ago, is still running
    ctx = Context(gh_settings)
    try:
        assert poll(ctx, REPO).queued == 7
        pump(gh_settings, ctx=ctx)
        asked = len(_pages_asked(github))
        [long_run] = _runs_with_logs(github, [RUN + 5], [ago(3)])
        github.runs[REPO] = [*newer, long_run, *old]  # pages: 2 newer, 2 newer, the long run and an old one, ...
        found = poll(ctx, REPO)
        assert (found.not_modified, found.queued) == (False, 1)
        # Pages 1 and 2 were all seen but recent; page 3 held the long run; page 4 was all
        # seen and older than the lookback, so page 5 was not asked for.
        assert _pages_asked(github)[asked:] == ["page=1", "page=2", "page=3", "page=4"]
        pump(gh_settings, ctx=ctx)
    finally:
        ctx.close()
    assert Counter(e[5]["run_id"] for e in actions_events(gh_settings))[RUN + 5] == 1


def test_a_poll_that_breaks_off_at_a_page_queues_nothing_and_the_next_walks_every_page(
    gh_settings: Settings, github: FakeGitHub
) -> None:
    from logpipe.errors import RetryableError
    from logpipe.github.poll import poll

    github.page_size = 2
    github.runs[REPO] = _runs_with_logs(github, [RUN + 4, RUN + 3, RUN + 2, RUN + 1, RUN])
    page_2 = f"/repos/{REPO}/actions/runs?status=completed&per_page=100&page=2"
    github.errors[page_2] = (502, {})
    ctx = Context(gh_settings)
    try:
        with pytest.raises(RetryableError):
            poll(ctx, REPO)
        pump(gh_settings, ctx=ctx)
        assert fetches(gh_settings) == []  # not even the first page's runs were queued
        del github.errors[page_2]
        again = poll(ctx, REPO)
        assert (again.listed, again.queued) == (5, 5)
        pump(gh_settings, ctx=ctx)
    finally:
        ctx.close()
    assert sorted(e[5]["run_id"] for e in actions_events(gh_settings)) == list(range(RUN, RUN + 5))


def test_poll_since_follows_the_pages_until_runs_older_than_since(gh_settings: Settings, github: FakeGitHub) -> None:
    from datetime import UTC, datetime

    from logpipe.github.poll import poll

    github.page_size = 2
    created = ["2026-11-30T12:00:00Z", "2026-11-30T11:00:00Z", "2026-11-30T10:00:00Z", "2026-11-29T23:59:59Z"]
    github.runs[REPO] = _runs_with_logs(github, [RUN + 3, RUN + 2, RUN + 1, RUN], created) + _runs_with_logs(
        github, [RUN - 1, RUN - 2], ["2026-11-29T10:00:00Z", "2026-11-29T09:00:00Z"]
    )
    ctx = Context(gh_settings)
    try:
        # the fake lists every run, as a server that ignored ``created`` would: the poll stops
        # on its own at the page that reaches a run older than --since, and leaves that run out
        got = poll(ctx, REPO, since=datetime(2026, 11, 30, tzinfo=UTC))
        assert (got.listed, got.queued) == (3, 3)
        assert _pages_asked(github) == ["page=1", "page=2"]
        pump(gh_settings, ctx=ctx)
    finally:
        ctx.close()
    assert sorted(e[5]["run_id"] for e in actions_events(gh_settings)) == [RUN + 1, RUN + 2, RUN + 3]


@pytest.mark.parametrize("job_first", [True, False])
def test_a_jobs_log_and_its_runs_archive_ingest_the_job_once(
    gh_settings: Settings, github: FakeGitHub, job_first: bool
) -> None:
    github.logs[f"/repos/{REPO}/actions/jobs/77/logs"] = SETUP + STEP
    github.logs[RUN_LOGS] = zip_of(
        {"build/1_Set up job.txt": SETUP, "build/2_Run tests.txt": STEP, "1_lint.txt": SETUP}
    )
    job, run = task(job_id=77, job="build"), task()
    for t in (job, run) if job_first else (run, job):
        send(gh_settings, t)
        pump(gh_settings)
    events = actions_events(gh_settings)
    assert len(events) == 1 + 7  # lint's line, and build's seven lines once
    assert sum(1 for e in events if e[3] == "Process completed with exit code 1.") == 1
    assert {row[1] for row in fetches(gh_settings)} == {"done"}


def test_logs_asked_for_through_rabbitmq_are_ingested(rabbit_settings: Settings, github: FakeGitHub) -> None:
    from dataclasses import replace

    settings = replace(rabbit_settings, github_api_url=github.api_url, github_token=TOKEN)
    github.logs[RUN_LOGS] = zip_of({"build/2_Run tests.txt": STEP})
    send(settings, task(), task(delivery_id="again"))  # onto RabbitMQ's work queue, twice
    pump(settings)
    events = actions_events(settings)
    assert len(events) == 6 and events[-1][2] == "error"
    assert github.hits(RUN_LOGS) == 1


def test_an_archive_that_expands_past_the_limit_is_refused(
    gh_settings: Settings, github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from logpipe.github import logs

    monkeypatch.setattr(logs, "MAX_ARCHIVE_TEXT_BYTES", 1000)
    github.logs[RUN_LOGS] = zip_of({"build/1_Big.txt": SETUP * 40})  # a small zip of 2,520 bytes of text
    send(gh_settings, task())
    pump(gh_settings)
    [[_, state, error, files]] = fetches(gh_settings)
    assert state == "failed" and f"expands to {len(SETUP) * 40} bytes" in error and files == 0
    assert actions_events(gh_settings) == []


# -- archives as GitHub writes them: names it changes, layouts it varies ------------------------

JOB_LOGS = f"/repos/{REPO}/actions/jobs/77/logs"


def job(job_id: int, name: str, *steps: str) -> dict[str, Any]:
    """A job as the jobs API lists it."""
    listed = [{"number": n, "name": s, "status": "completed", "conclusion": "success"} for n, s in enumerate(steps, 1)]
    return {"id": job_id, "run_id": RUN, "run_attempt": 2, "name": name, "status": "completed", "steps": listed}


# (the job's name, as the archive writes it): characters a file name cannot hold are dropped
# or replaced, what is not ASCII may go, and a long name is cut.
WRITTEN_DIFFERENTLY = [
    ("deploy / publish (ubuntu-latest, 3.11)", "deploy  publish (ubuntu-latest, 3.11)"),
    ('lint: "src" <all> | *.py?', "lint src all  .py"),
    ("Déploiement ✨ production", "Dploiement  production"),
    ("build " + "x" * 120, "build " + "x" * 80),
]


@pytest.mark.parametrize("jobs_api", [True, False], ids=["jobs-api", "no-jobs-api"])
@pytest.mark.parametrize("job_first", [True, False], ids=["job-first", "run-first"])
@pytest.mark.parametrize(("name", "written"), WRITTEN_DIFFERENTLY, ids=["slash", "punctuation", "unicode", "long"])
def test_a_job_whose_name_the_archive_writes_differently_is_ingested_once(
    gh_settings: Settings, github: FakeGitHub, name: str, written: str, job_first: bool, jobs_api: bool
) -> None:
    github.logs[JOB_LOGS] = SETUP + STEP
    github.logs[RUN_LOGS] = zip_of(
        {
            f"0_{written}.txt": SETUP + STEP,
            f"{written}/1_Set up job.txt": SETUP,
            f"{written}/2_Run tests.txt": STEP,
            f"{written}/system.txt": b"runner system log\n",
            "1_lint.txt": SETUP,
        }
    )
    if jobs_api:
        github.jobs[(REPO, RUN, 2)] = [job(77, name, "Set up job", "Run tests"), job(78, "lint")]
    for t in (task(job_id=77, job=name), task()) if job_first else (task(), task(job_id=77, job=name)):
        send(gh_settings, t)
        pump(gh_settings)
    events = actions_events(gh_settings)
    assert sum(1 for e in events if e[3] == "Process completed with exit code 1.") == 1
    assert len(events) == 1 + 7  # lint's line, and the job's seven lines once
    # The job's own name, not the archive's, where the jobs API or the job's log told it first.
    known = jobs_api or job_first
    assert {e[5]["job"] for e in events} == {name if known else written, "lint"}
    assert {e[5].get("job_id") for e in events if e[5]["job"] != "lint"} == {77 if known else None}
    assert {row[1] for row in fetches(gh_settings)} == {"done"}


def test_an_archives_layouts_as_github_varies_them(gh_settings: Settings, github: FakeGitHub) -> None:
    long_name = "integration " + "y" * 150
    github.logs[RUN_LOGS] = zip_of(
        {
            # A job split into steps, whose folder and top-level file are cut to different lengths.
            f"0_{long_name[:90]}.txt": SETUP + STEP,
            f"{long_name[:70]}/1_Set up job.txt": SETUP,
            f"{long_name[:70]}/2_Run tests.txt": STEP,
            # A folder without step files: the job's top-level file is its log.
            "1_build (ubuntu-latest, 3.11).txt": SETUP + STEP,
            "build (ubuntu-latest, 3.11)/system.txt": b"runner system log\n",
            # Step files without a top-level file; a step number twice; an empty member.
            "docs/1_Set up job.txt": SETUP,
            "docs/2_Build.txt": b"2026-11-30T10:00:03.0000000Z building docs\n",
            "docs/2_Build again.txt": b"2026-11-30T10:00:04.0000000Z building docs again\n",
            "docs/3_Empty.txt": b"",
            "2_empty job.txt": b"",
            "system.txt": b"what is not a job's log\n",
        }
    )
    github.jobs[(REPO, RUN, 2)] = [
        job(1, long_name, "Set up job", "Run tests: unit / integration"),
        job(2, "build (ubuntu-latest, 3.11)", "Set up job", "Run tests"),
        job(3, "docs"),
        job(4, "empty job"),
    ]
    github.page_size = 2  # two pages of jobs
    send(gh_settings, task())
    pump(gh_settings)
    events = actions_events(gh_settings)
    by_file = Counter(e[0] for e in events)
    title = f"{REPO} · CI run {RUN} (attempt 2)"
    assert by_file == {
        f"{title} · {long_name} · 1 Set up job": 1,
        f"{title} · {long_name} · 2 Run tests: unit / integration": 6,  # the step's own name, from the API
        f"{title} · build (ubuntu-latest, 3.11)": 7,
        f"{title} · docs · 1 Set up job": 1,
        f"{title} · docs · 2 Build": 1,
        f"{title} · docs · 2 Build again": 1,
    }
    assert {e[5]["job_id"] for e in events} == {1, 2, 3}
    assert query(gh_settings, "SELECT count(*) FROM files WHERE status = 'failed'") == [[0]]
    assert fetches(gh_settings) == [[0, "done", None, 6]]


def test_jobs_are_matched_to_the_archive_only_where_one_job_can_be_meant() -> None:
    from logpipe.github.logs import Job, match_jobs

    jobs = [Job(1, "test (3.10)"), Job(2, "test (3.1)"), Job(3, "a/b"), Job(4, "ab"), Job(5, "release " + "z" * 90)]
    found = {
        name: j.id for name, j in match_jobs(["test (3.10)", "test (3.1)", "ab", "release " + "z" * 60], jobs).items()
    }
    # "ab" could be "a/b" or "ab": neither is taken for it; the others are each one job's.
    assert found == {"test (3.10)": 1, "test (3.1)": 2, "release " + "z" * 60: 5}


# -- the lines of a log as the runner writes them ------------------------------------------------

T = "2026-11-30T10:00:0{}.{}234567Z "
RUNNER_LINES = [
    # (what the runner wrote, level, message, fields the parser adds)
    ("\ufeff" + T.format(0, 1) + "##[group]Run actions/checkout@v4", None, "Run actions/checkout@v4",
     {"actions": "group"}),
    (T.format(0, 2) + "with:", None, "with:", None),
    (T.format(0, 3) + "##[endgroup]", None, "", {"actions": "endgroup"}),
    (T.format(0, 4) + "[command]/usr/bin/git version", None, "/usr/bin/git version", {"actions": "command"}),
    (T.format(0, 5) + "##[command]/usr/bin/bash -e {0}", None, "/usr/bin/bash -e {0}", {"actions": "command"}),
    (T.format(0, 6) + "::group::Install dependencies", None, "Install dependencies", {"actions": "group"}),
    (T.format(0, 7) + "\x1b[32madded 120 packages\x1b[0m", None, "added 120 packages", None),
    (T.format(0, 8) + "::endgroup::", None, "", {"actions": "endgroup"}),
    (
        T.format(0, 9) + "::error file=app.js,line=10,col=5,title=Lint%3A semi::Missing semicolon%0Aat app.js:10",
        "error",
        "Missing semicolon\nat app.js:10",
        {"actions": "error", "file": "app.js", "line": "10", "col": "5", "title": "Lint: semi"},
    ),
    (T.format(1, 0) + "::warning::100%25 deprecated", "warn", "100% deprecated", {"actions": "warning"}),
    (T.format(1, 1) + "::notice title=Cache::Cache hit", "info", "Cache hit", {"actions": "notice", "title": "Cache"}),
    (T.format(1, 2) + "::debug::cache key abc", "debug", "cache key abc", {"actions": "debug"}),
    (T.format(1, 3) + "##[debug]Evaluating condition", "debug", "Evaluating condition", {"actions": "debug"}),
    (T.format(1, 4) + "##[notice]A notice", "info", "A notice", {"actions": "notice"}),
    (T.format(1, 5) + "##[warning]A warning", "warn", "A warning", {"actions": "warning"}),
    (T.format(1, 6) + "::add-mask::s3cr3t-value", None, "::add-mask::***", {"actions": "add-mask"}),
    (T.format(1, 7) + "::set-output name=x::1", None, "::set-output name=x::1", {"actions": "set-output", "name": "x"}),
    (T.format(1, 8) + "##[error]Process completed with exit code 1.", "error", "Process completed with exit code 1.",
     {"actions": "error"}),
    (T.format(1, 9) + "::std::vector<int> v;", None, "::std::vector<int> v;", None),  # no command of the runner's
]  # fmt: skip


def test_the_runners_lines_are_parsed_with_level_group_and_a_clean_message(
    gh_settings: Settings, github: FakeGitHub
) -> None:
    body = "\r\n".join(line for line, *_ in RUNNER_LINES) + "\r\n"  # as the runner writes them on Windows
    github.logs[JOB_LOGS] = body.encode()
    send(gh_settings, task(job_id=77, job="build (windows-latest)"))
    pump(gh_settings)
    events = actions_events(gh_settings)
    assert len(events) == len(RUNNER_LINES)
    for e, (line, level, message, added) in zip(events, RUNNER_LINES, strict=True):
        assert (e[2], e[3]) == (level, message), line
        own = {
            k: v
            for k, v in e[5].items()
            if k not in ("repository", "workflow", "run_id", "run_attempt", "job", "job_id", "group")
        }
        assert own == (added or {}), line
        assert "\r" not in (e[4] or "") + e[3]
    groups = [e[5].get("group") for e in events]
    assert groups[:9] == ["Run actions/checkout@v4"] * 3 + [None, None] + ["Install dependencies"] * 3 + [None]
    assert "\x1b[32m" in events[6][4]  # the colours are kept in the raw line only
    # The value the step asked to mask is nowhere: the runner shows *** for it, and so do we.
    assert not query(gh_settings, "SELECT count(*) FROM events WHERE raw LIKE '%s3cr3t%' OR message LIKE '%s3cr3t%'")[
        0
    ][0]


# -- deliveries as GitHub sends them: actions, conclusions, fields that may be missing ----------


@pytest.fixture
def gh_hook(gh_settings: Settings) -> Iterator[Any]:
    from dataclasses import replace

    from test_github_webhook import SECRET, Hook

    from logpipe.http import deps

    hook = Hook(replace(gh_settings, github_webhook_secret=SECRET))
    yield hook
    deps.close(hook.app)


def run_payload(
    action: str = "completed", conclusion: str | None = "failure", attempt: int = 1, **run: Any
) -> dict[str, Any]:
    return {
        "action": action,
        "repository": {"id": 1, "name": "octo-repo", "full_name": REPO, "owner": {"login": "octo-org"}},
        "sender": {"login": "octocat"},
        "workflow": {"id": 5, "name": "CI"},
        "workflow_run": {
            "id": RUN,
            "name": "CI",
            "run_attempt": attempt,
            "status": "completed" if action == "completed" else action,
            "conclusion": conclusion,
            "head_commit": None,
            "url": f"https://api.github.com/repos/{REPO}/actions/runs/{RUN}",
            **run,
        },
    }


def deliver(hook: Any, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    r = hook.deliver(event, json.dumps(payload).encode())
    assert r.status_code == 202, r.get_json()
    return dict(r.get_json())


@pytest.mark.parametrize("conclusion", ["success", "failure", "cancelled", "timed_out", "neutral", "stale"])
def test_a_completed_run_of_any_conclusion_with_logs_is_ingested(
    gh_settings: Settings, github: FakeGitHub, gh_hook: Any, conclusion: str
) -> None:
    github.logs[f"/repos/{REPO}/actions/runs/{RUN}/attempts/1/logs"] = zip_of({"build/1_Run tests.txt": STEP})
    assert deliver(gh_hook, "workflow_run", run_payload(conclusion=conclusion)).get("logs") == "queued"
    pump(gh_settings)
    assert len(actions_events(gh_settings)) == 6


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("workflow_run", run_payload("requested", None)),
        ("workflow_run", run_payload("in_progress", None)),
        ("workflow_run", run_payload(conclusion="action_required")),  # awaiting approval: nothing ran
        ("workflow_run", run_payload(conclusion="startup_failure")),  # the workflow could not start
        (
            "workflow_job",
            {
                "action": "completed",
                "repository": {"full_name": REPO},
                "workflow_job": {"id": 77, "run_id": RUN, "run_attempt": 1, "name": "deploy", "conclusion": "skipped"},
            },
        ),
    ],
    ids=["requested", "in_progress", "action_required", "startup_failure", "skipped-job"],
)
def test_a_run_or_job_that_ran_nothing_asks_for_no_logs(
    gh_settings: Settings, github: FakeGitHub, gh_hook: Any, event: str, payload: dict[str, Any]
) -> None:
    answer = deliver(gh_hook, event, payload)
    pump(gh_settings)
    assert "logs" not in answer and fetches(gh_settings) == []  # no failed fetch of logs that never were
    assert github.api_seen == []


@pytest.mark.parametrize(
    "repository",
    [
        {"id": 1, "name": "octo-repo", "owner": {"login": "octo-org"}},  # no full_name
        None,  # no repository at all: the run's own URL names it
    ],
    ids=["owner-and-name", "run-url"],
)
def test_a_run_whose_repository_has_no_full_name_is_still_fetched(
    gh_settings: Settings, github: FakeGitHub, gh_hook: Any, repository: dict[str, Any] | None
) -> None:
    github.logs[f"/repos/{REPO}/actions/runs/{RUN}/attempts/1/logs"] = zip_of({"build/1_Run tests.txt": STEP})
    payload = run_payload()
    if repository is None:
        del payload["repository"]
    else:
        payload["repository"] = repository
    assert deliver(gh_hook, "workflow_run", payload).get("logs") == "queued"
    pump(gh_settings)
    events = actions_events(gh_settings)
    assert len(events) == 6 and events[0][5]["repository"] == REPO


def test_a_re_run_ingests_its_new_attempt_and_a_redelivery_nothing(
    gh_settings: Settings, github: FakeGitHub, gh_hook: Any
) -> None:
    for attempt in (1, 2):
        github.logs[f"/repos/{REPO}/actions/runs/{RUN}/attempts/{attempt}/logs"] = zip_of(
            {"build/1_Run tests.txt": STEP}
        )
    first = run_payload(attempt=1)
    deliver(gh_hook, "workflow_run", first)
    pump(gh_settings)
    deliver(gh_hook, "workflow_run", run_payload(attempt=2, conclusion="success"))
    deliver(gh_hook, "workflow_run", first)  # the first attempt's delivery again (GitHub's "Redeliver" is a new id)
    pump(gh_settings)
    events = actions_events(gh_settings)
    assert Counter(e[5]["run_attempt"] for e in events) == {1: 6, 2: 6}
    assert fetches(gh_settings) == [[0, "done", None, 1], [0, "done", None, 1]]
    assert github.hits(f"/repos/{REPO}/actions/runs/{RUN}/attempts/1/logs") == 1


def test_logs_come_from_a_github_enterprise_server_api(make_settings: Callable[..., Settings]) -> None:
    ghes = FakeGitHub(prefix="/api/v3")  # GITHUB_API_URL=https://HOST/api/v3
    try:
        settings = make_settings(github_api_url=ghes.api_url, github_token=TOKEN)
        ghes.logs[RUN_LOGS] = zip_of({"0_deploy  prod.txt": SETUP + STEP, "deploy  prod/1_Run tests.txt": STEP})
        ghes.jobs[(REPO, RUN, 2)] = [job(9, "deploy / prod", "Run tests")]
        send(settings, task())
        pump(settings)
        events = actions_events(settings)
        assert len(events) == 6 and {e[5]["job"] for e in events} == {"deploy / prod"}
        assert all(s.path.startswith("/api/v3/") for s in ghes.api_seen)
        assert ghes.archive_seen and all("authorization" not in s.headers for s in ghes.archive_seen)
    finally:
        ghes.close()


def test_lines_without_a_time_and_overlong_lines_stay_in_their_step_and_group(
    gh_settings: Settings, github: FakeGitHub
) -> None:
    long_line = "2026-11-30T10:00:01.0000000Z " + "x" * (gh_settings.max_line_bytes + 5000)
    github.logs[JOB_LOGS] = "\n".join(
        [
            "2026-11-30T10:00:00.0000000Z ##[group]Run make",
            "continued output without a time",
            long_line,
            "2026-11-30T10:00:02.0000000Z ##[endgroup]",
            "2026-11-30T10:00:03.0000000Z ##[error]make: *** [all] Error 2",
        ]
    ).encode()
    send(gh_settings, task(job_id=77, job="build"))
    pump(gh_settings)
    rows = query(
        gh_settings,
        "SELECT e.line, e.level, left(e.message, 40), e.truncated, e.fields->>'group' FROM events e "
        "WHERE e.source = 'github-actions' ORDER BY e.line",
    )
    assert rows == [
        [1, None, "Run make", False, "Run make"],
        [2, None, "continued output without a time", False, "Run make"],
        [3, None, "x" * 40, True, "Run make"],  # cut at the line limit, and flagged
        [4, None, "", False, "Run make"],
        [5, "error", "make: *** [all] Error 2", False, None],
    ]


def test_poll_queues_a_re_runs_new_attempt_and_no_run_that_ran_nothing(
    gh_settings: Settings, github: FakeGitHub
) -> None:
    from logpipe.github.poll import poll

    github.runs[REPO] = [{"id": RUN, "run_attempt": 1, "status": "completed", "conclusion": "failure", "name": "CI"}]
    github.logs[f"/repos/{REPO}/actions/runs/{RUN}/attempts/1/logs"] = zip_of({"build/1_Run tests.txt": STEP})
    github.logs[RUN_LOGS] = zip_of({"build/1_Run tests.txt": SETUP})
    ctx = Context(gh_settings)
    try:
        assert poll(ctx, REPO).queued == 1
        pump(gh_settings, ctx=ctx)
        github.runs[REPO] = [
            {"id": RUN + 1, "run_attempt": 1, "status": "completed", "conclusion": "action_required", "name": "CI"},
            {"id": RUN, "run_attempt": 2, "status": "completed", "conclusion": "success", "name": "CI"},
        ]
        again = poll(ctx, REPO)
        assert (again.listed, again.queued) == (1, 1)  # the re-run's attempt 2; the run awaiting approval has no logs
        pump(gh_settings, ctx=ctx)
    finally:
        ctx.close()
    assert Counter(e[5]["run_attempt"] for e in actions_events(gh_settings)) == {1: 6, 2: 1}
    assert {row[1] for row in fetches(gh_settings)} == {"done"}
    assert github.hits(f"/repos/{REPO}/actions/runs/{RUN + 1}/attempts/1/logs") == 0


@pytest.mark.parametrize("utf8_flag", [True, False], ids=["utf8-flag", "no-utf8-flag"])
def test_names_that_are_not_ascii_are_read_as_written_in_the_archive(
    gh_settings: Settings, github: FakeGitHub, utf8_flag: bool
) -> None:
    github.logs[RUN_LOGS] = zip_of(
        {"0_Déploiement ✨.txt": SETUP + STEP, "Déploiement ✨/1_Préparer.txt": SETUP}, utf8_flag=utf8_flag
    )
    send(gh_settings, task())  # no jobs API: the archive's names alone
    pump(gh_settings)
    names = {e[0] for e in actions_events(gh_settings)}
    assert names == {f"{REPO} · CI run {RUN} (attempt 2) · Déploiement ✨ · 1 Préparer"}


@needs_github
def test_githubs_example_runs_and_jobs_ask_for_the_logs_of_their_own_attempt() -> None:
    examples = sorted((GITHUB / "payloads").glob("workflow_*/*.json"))
    assert examples
    for path in examples:
        event, payload = path.parent.name, json.loads(path.read_bytes())
        thing = payload[event]
        asked = LogsTask.of_delivery(event, payload, "d")
        if payload["action"] != "completed" or thing.get("conclusion") in ("skipped", "action_required"):
            assert asked is None, path.name
            continue
        assert asked is not None, path.name
        assert asked.repository == payload["repository"]["full_name"]
        assert (asked.run_id, asked.run_attempt) == (thing.get("run_id", thing["id"]), thing["run_attempt"])
        assert asked.job_id == (thing["id"] if event == "workflow_job" else 0)
        assert asked.workflow  # a run whose name is empty is named by its workflow
