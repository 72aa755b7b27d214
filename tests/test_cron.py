"""rollup-cron: the sweeps that moved out of the runner and the new ones, retention that
keeps the rollups, its schedule in template.yaml, and ``logpipe invoke`` with the event
``sam local generate-event cloudwatch scheduled-event`` prints."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from logpipe import cron, db
from logpipe.aws import client
from logpipe.config import Settings
from logpipe.db import stream as stream_db
from logpipe.ingest import Context, chunk_message
from logpipe.queue import ingest_queue
from logpipe.search.indexer import index_pending

from conftest import Api, pump, query
from test_local_runner import _cli_env, sam_event

T_OLD = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)


def run_cron(settings: Settings) -> cron.Summary:
    ctx = Context(settings)
    try:
        return cron.run(ctx, budget_s=60)
    finally:
        ctx.close()


def received(settings: Settings) -> list[str]:
    """The bodies waiting in the ingest queue, taken off it."""
    q = ingest_queue(settings)
    bodies = []
    while got := q.receive(10, wait_s=0.2):
        bodies += [d.body for d in got]
        for d in got:
            q.sqs.delete_message(QueueUrl=q.url(q.name), ReceiptHandle=d.id)
    return bodies


def test_sweeps_send_lost_work_once_pick_up_unrecorded_objects_and_close_dead_uploads(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(chunk_bytes=4096, batch_rows=100)
    settings = replace(api.settings, stuck_after_s=60)
    lines = b"".join(b"2026-11-27T00:00:00Z INFO line %d\n" % i for i in range(600))
    stuck = api.upload("stuck.log", lines)
    received(settings)  # its notification is lost
    query(settings, "UPDATE files SET created_at = now() - interval '2 hours' WHERE id = CAST(:f AS uuid)", f=stuck)
    s3 = client("s3", settings)
    s3.put_object(Bucket=settings.bucket, Key="dropped/by-hand.log", Body=lines)
    received(settings)  # and so is this one's; no file row knows it
    never = api.post("/api/uploads", json={"filename": "never.log", "size": 10}).get_json()["file_id"]
    query(settings, "UPDATE files SET created_at = now() - interval '3 hours' WHERE id = CAST(:f AS uuid)", f=never)

    # The unrecorded object is new: its notification may still be on its way.
    summary = run_cron(settings)
    assert (summary.requeued, summary.picked_up, summary.expired_uploads) == (1, 0, 1)
    assert api.file(never)["status"] == "failed" and "never completed" in api.file(never)["error"]
    assert len(received(settings)) == 1
    assert run_cron(settings).requeued == 0  # sent once, not at every run

    # Once the object is older than a second by the bucket's own (whole-second) clock, a
    # one-second threshold picks it up; the stuck file, looked at just now, is not sent again.
    s3_written = s3.head_object(Bucket=settings.bucket, Key="dropped/by-hand.log")["LastModified"]
    deadline = time.monotonic() + 10
    while datetime.now(UTC) - s3_written <= timedelta(seconds=1.2):
        assert time.monotonic() < deadline, "the clock did not move past the object's write"
        time.sleep(0.05)
    query(settings, "UPDATE files SET swept_at = now() WHERE id = CAST(:f AS uuid)", f=stuck)
    summary = run_cron(replace(settings, stuck_after_s=1))
    assert summary.picked_up == 1
    [body] = received(settings)
    assert json.loads(body)["Records"][0]["s3"]["object"]["key"] == "dropped/by-hand.log"

    # A file stuck in processing: its chunks' messages were lost mid-way.
    api.upload("big.log", lines)
    pump(settings)
    [[big, chunks]] = query(settings, "SELECT id, chunks_total FROM files WHERE name = 'big.log'")
    assert chunks > 1
    query(
        settings,
        "UPDATE chunks SET done = false, next_line = first_line, next_offset = start_offset,"
        " updated_at = now() - interval '2 hours' WHERE file_id = :f AND seq = 1",
        f=big,
    )
    query(settings, "UPDATE files SET status = 'processing', chunks_done = chunks_done - 1 WHERE id = :f", f=big)
    assert run_cron(settings).requeued == 1
    assert received(settings) == [chunk_message(str(big), 1)]


def _old_events(settings: Settings) -> None:
    """Events of January 2024 in their own partition, and of 2019 in the default one, each
    with its stream entry; indexed and counted."""
    conn = db.connect(settings)
    try:
        fid = "11111111-1111-4111-8111-111111111111"
        conn.run("CREATE TABLE events_2024_01 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')")
        conn.run("BEGIN")
        for line, ts in ((1, T_OLD), (2, T_OLD + timedelta(minutes=1)), (3, datetime(2019, 5, 1, tzinfo=UTC))):
            conn.run(
                "INSERT INTO events (file_id, line, ts, ts_inferred, ingested_at, level, format, message)"
                " VALUES (CAST(:f AS uuid), :l, :t, false, now(), 'info', 'text', 'old news')",
                f=fid,
                l=line,
                t=ts,
            )
        stream_db.append(conn, stream_db.EVENTS, file_id=fid, first_line=1, end_line=4)
        conn.run("COMMIT")
        assert index_pending(conn).caught_up
        conn.run("UPDATE stream_log SET written_at = '2024-01-15'")
    finally:
        conn.close()


def test_retention_drops_old_months_and_keeps_their_rollups(make_api: Callable[..., Api]) -> None:
    api = make_api()
    settings = api.settings
    _old_events(settings)
    fresh = api.upload("fresh.log", b"2026-11-27T00:00:00Z INFO today\n")
    pump(settings)
    rollups = query(settings, "SELECT minute, events FROM rollup_minutes ORDER BY 1")

    assert run_cron(settings).dropped_partitions == []  # LOGPIPE_RETENTION_DAYS=0 keeps everything
    assert query(settings, "SELECT count(*) FROM events")[0][0] == 4

    summary = run_cron(replace(settings, retention_days=400))
    assert summary.dropped_partitions == ["events_2024_01"]
    assert summary.deleted_default_rows == 1 and summary.forgotten_blocks == 1
    assert query(settings, "SELECT CAST(file_id AS text) FROM events") == [[fresh]]
    assert query(settings, "SELECT to_regclass('events_2024_01')") == [[None]]
    assert query(settings, "SELECT minute, events FROM rollup_minutes ORDER BY 1")[: len(rollups)] == rollups
    # The histogram of those old days still reads them, from the rollups.
    old = {"from": "2024-01-15T12:00:00Z", "to": "2024-01-15T12:05:00Z", "bucket": "1m"}
    hist = api.get("/api/histogram", query_string=old)
    assert hist.get_json()["total"] == 2
    # Stream entries past the retention go, but the newest stays (positions go on from it).
    assert summary.pruned_stream_entries >= 1
    [[left, newest]] = query(settings, "SELECT count(*), max(pos) FROM stream_log")
    assert left >= 1 and newest == query(settings, "SELECT pos FROM stream_followers")[0][0]
    assert run_cron(replace(settings, retention_days=400)).dropped_partitions == []


def test_retention_cutoff_is_the_start_of_a_month() -> None:
    now = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    assert cron.retention_cutoff(now, 30) == datetime(2026, 2, 1, tzinfo=UTC)
    assert cron.retention_cutoff(now, 9) == datetime(2026, 3, 1, tzinfo=UTC)
    assert cron.retention_cutoff(now, 70) == datetime(2025, 12, 1, tzinfo=UTC)


def test_template_schedules_rollup_cron_every_minute_and_the_runner_reads_it() -> None:
    from logpipe_local import template
    from logpipe_local.runner import schedule_every_s

    spec = template.find("rollup-cron")
    assert spec.schedules == [60] and spec.handler == "rollup_cron.handler"
    assert schedule_every_s(spec, 10) == 10 and schedule_every_s(spec, 0) == 60 and schedule_every_s(spec, 600) == 60
    assert template.rate_seconds("rate(5 minutes)") == 300 and template.rate_seconds("rate(1 day)") == 86400
    with pytest.raises(ValueError, match="rate"):
        template.rate_seconds("cron(0 * * * ? *)")


@pytest.mark.services  # `logpipe invoke` reaches the test's PostgreSQL and moto
def test_invoke_rollup_cron_with_sam_scheduled_event(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    from logpipe_local.cli import main

    settings = make_settings()
    _cli_env(monkeypatch, settings)
    generated = sam_event("cloudwatch", "scheduled-event")
    event = tmp_path / "scheduled.json"
    event.write_text(generated)
    assert json.loads(generated)["detail-type"] == "Scheduled Event"
    try:
        assert main(["--data-dir", str(tmp_path), "invoke", "rollup-cron", "--event", str(event)]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["failed"] == [] and out["index_caught_up"] is True
        assert query(settings, "SELECT value FROM metric_values WHERE name = 'logpipe_invocations_total'") == [[1.0]]
    finally:
        sys.modules["rollup_cron"]._ctx.close()
        del sys.modules["rollup_cron"]
