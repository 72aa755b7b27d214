"""Rollups: events per minute and hour by level, source, file and pattern, counted once
from the stream log whatever arrives late, is replayed, or runs twice; and /api/rollups.

The oracle is the events table itself: every rollup must equal a GROUP BY over it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from logpipe import db
from logpipe.db import followers
from logpipe.db import stream as stream_db
from logpipe.queue import ingest_queue
from logpipe.search.indexer import FOLLOWER, index_pending

from conftest import Api, index_concurrently, pump, query

pytestmark = pytest.mark.services

LEVELS = ("INFO", "WARN", "ERROR")


def minute_lines(n: int, marker: int | None = None) -> bytes:
    """``n`` lines over several minutes and hours of 2026-11-27, three levels, two shapes
    of message; line ``marker`` also says QUARANTINE."""
    out = []
    for i in range(1, n + 1):
        hour, minute = divmod(i // 40, 60)
        ts = f"2026-11-27T{hour % 24:02d}:{minute:02d}:{i % 60:02d}Z"
        shape = f"user {i} logged in" if i % 3 else f"disk /dev/sd{i % 7} is {i % 100}% full"
        out.append(f"{ts} {LEVELS[i % 3]} {shape}{' QUARANTINE' if i == marker else ''}\n")
    return "".join(out).encode()


TRUTH = {
    "rollup_minutes": "SELECT date_trunc('minute', ts), level, source, CAST(file_id AS text), count(*) FROM events"
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    "rollup_hours": "SELECT date_trunc('hour', ts), level, source, CAST(file_id AS text), count(*) FROM events"
    " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    "rollup_pattern_minutes": "SELECT date_trunc('minute', ts), pattern_id, level, count(*) FROM events"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    "rollup_pattern_hours": "SELECT date_trunc('hour', ts), pattern_id, level, count(*) FROM events"
    " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
}
STORED = {
    "rollup_minutes": "SELECT minute, level, source, CAST(file_id AS text), events FROM rollup_minutes"
    " ORDER BY 1, 2, 3, 4",
    "rollup_hours": "SELECT hour, level, source, CAST(file_id AS text), events FROM rollup_hours ORDER BY 1, 2, 3, 4",
    "rollup_pattern_minutes": "SELECT minute, pattern_id, level, events FROM rollup_pattern_minutes ORDER BY 1, 2, 3",
    "rollup_pattern_hours": "SELECT hour, pattern_id, level, events FROM rollup_pattern_hours ORDER BY 1, 2, 3",
}


def assert_rollups_equal_events(api: Api) -> None:
    for table, truth in TRUTH.items():
        assert query(api.settings, STORED[table]) == query(api.settings, truth), table


def index_all(api: Api) -> None:
    conn = db.connect(api.settings)
    try:
        assert index_pending(conn).caught_up
    finally:
        conn.close()


def test_every_event_is_counted_once_through_late_chunks_replays_and_concurrent_runs(
    make_api: Callable[..., Api],
) -> None:
    api = make_api(chunk_bytes=8192, batch_rows=100, max_attempts=1)
    settings = api.settings
    # A chunk in the middle cannot be written until the cause is fixed: it is dead-lettered,
    # and its events arrive after those of later minutes were counted.
    query(settings, "ALTER TABLE events ADD CONSTRAINT no_quarantine CHECK (message NOT LIKE '%QUARANTINE%')")
    file_id = api.upload("minutes.log", minute_lines(3000, marker=1500))
    pump(settings)
    assert len(ingest_queue(settings).list_dead()) == 1
    index_all(api)
    assert_rollups_equal_events(api)
    before = query(settings, "SELECT sum(events) FROM rollup_minutes")[0][0]
    assert 0 < before < 3000

    query(settings, "ALTER TABLE events DROP CONSTRAINT no_quarantine")
    assert ingest_queue(settings).replay_dead() == 1
    pump(settings)
    # A replay of what was already written writes nothing: no entry, nothing to count.
    for body in {d.body for d in ingest_queue(settings).list_dead()}:
        ingest_queue(settings).send([body])
    pump(settings)
    assert api.file(file_id)["status"] == "done"

    # Several runs at once, then again: one counts, the others find the log taken or done.
    index_concurrently(settings)
    index_all(api)
    assert_rollups_equal_events(api)
    minutes = len({i // 40 for i in range(1, 3001)})
    assert query(settings, "SELECT sum(events), count(DISTINCT minute) FROM rollup_minutes")[0] == [3000, minutes]
    conn = db.connect(settings)
    try:
        assert followers.watermark(conn, FOLLOWER) == stream_db.head(conn)
    finally:
        conn.close()


def test_rollups_api_serves_counts_by_each_dimension(api: Api) -> None:
    file_id = api.upload("minutes.log", minute_lines(600))
    pump(api.settings)
    index_all(api)
    window = {"from": "2026-11-27T00:00:00Z", "to": "2026-11-27T01:00:00Z"}

    by_level = api.get("/api/rollups", query_string={**window, "by": "level"}).get_json()
    assert by_level["bucket"] == "1m" and len(by_level["buckets"]) == 60
    assert by_level["totals"] == {"error": 200, "info": 200, "warn": 200}
    assert by_level["buckets"][0]["start"] == "2026-11-27T00:00:00+00:00"
    assert by_level["buckets"][0]["counts"] == {"error": 13, "info": 13, "warn": 13}  # lines 1..39
    assert by_level["buckets"][20]["counts"] == {}

    by_file = api.get("/api/rollups", query_string={**window, "by": "file", "bucket": "1h"}).get_json()
    assert by_file["buckets"] == [{"start": "2026-11-27T00:00:00+00:00", "counts": {file_id: 600}}]
    by_source = api.get("/api/rollups", query_string={**window, "by": "source", "bucket": "1h"}).get_json()
    assert by_source["totals"] == {"upload": 600}

    by_pattern = api.get("/api/rollups", query_string={**window, "by": "pattern", "bucket": "1h"}).get_json()
    assert sorted(by_pattern["totals"].values()) == [200, 400]
    assert sorted(by_pattern["templates"].values()) == sorted(
        r[0] for r in query(api.settings, "SELECT template FROM patterns")
    )
    # An id that generalised counts for the template it became.
    [[small]] = query(api.settings, "SELECT id FROM patterns ORDER BY count LIMIT 1")
    [[big]] = query(api.settings, "SELECT id FROM patterns ORDER BY count DESC LIMIT 1")
    query(api.settings, "INSERT INTO pattern_aliases (id, target, template) VALUES (:a, :b, 'x')", a=small, b=big)
    merged = api.get("/api/rollups", query_string={**window, "by": "pattern", "bucket": "1h"}).get_json()
    assert merged["totals"] == {big: 600}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"bucket": "5m"}, "'bucket' must be one of 1m, 1h"),
        ({"by": "host"}, "'by' must be one of level, source, file, pattern"),
        ({"from": "yesterday"}, "'from' must be an RFC 3339 time"),
        ({"from": "-1h", "to": "-2h"}, "the range is reversed or empty"),
        ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "at most 10000"),
        ({"limit": "3"}, "unknown parameter 'limit'"),
    ],
)
def test_rollups_api_says_what_is_wrong(api: Api, args: dict[str, str], says: str) -> None:
    r = api.get("/api/rollups", query_string=args)
    assert r.status_code == 400 and says in r.get_json()["error"], r.get_json()
