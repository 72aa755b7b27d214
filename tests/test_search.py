"""Searching stored events: /api/events with keyset pages, /api/events/{id} with context,
/api/histogram, the indexer that follows the stream log, and the rules they rest on (the
SQL prefilter keeps every match; a Bloom filter never misses a token it was given).

The oracle of every search test is the q language itself: the events the API returns
must be exactly those of the database that ``Query.matches`` and the other filters
accept, whatever the index has reached."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pg8000.native
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logpipe import db
from logpipe.config import Settings
from logpipe.db import followers
from logpipe.db import search as search_db
from logpipe.db import stream as stream_db
from logpipe.db.events import CopyBuffer, ensure_partitions
from logpipe.errors import BadRequestError
from logpipe.parsing.formats import LEVELS
from logpipe.search import bloom, query
from logpipe.search.indexer import FOLLOWER, index_pending
from logpipe.search.query import parse_fields

from conftest import Api, index_concurrently, pump

T0 = datetime(2026, 11, 30, 9, 0, 0, 250_000, tzinfo=UTC)
WORDS = ("alpha", "beta", "gamma", "delta", "disk", "full", "timeout", "user", "login", "error", "errors", "Gateway")
RARE = "zanzibar"
SOURCES = ("upload", "github")
PATTERNS = ("p-one", "p-two", "p-three", "p-old")


@dataclass
class Ev:
    line: int
    ts: datetime
    level: str | None
    message: str
    fields: dict[str, Any] | None = None
    pattern_id: str | None = None
    line_count: int = 1
    raw: str | None = None


def commit(conn: pg8000.native.Connection, file_id: str, events: list[Ev], *, source: str = "upload") -> None:
    """Commit events and their stream entry in one transaction, as the parse-worker does."""
    buf = CopyBuffer(file_id, datetime.now(UTC))
    for ev in events:
        buf.add(ev.line, ev.ts, ev.level, "text", ev.message, ev.fields, ev.raw, False, ev.line_count, ev.pattern_id)
    ensure_partitions(conn, buf.months)
    conn.run("BEGIN")
    buf.copy_into(conn)
    if source != "upload":
        conn.run(
            "UPDATE events SET source = :s WHERE file_id = CAST(:f AS uuid) AND line >= :a",
            s=source,
            f=file_id,
            a=events[0].line,
        )
    last = events[-1]
    stream_db.append(
        conn, stream_db.EVENTS, file_id=file_id, first_line=events[0].line, end_line=last.line + last.line_count
    )
    conn.run("COMMIT")
    stream_db.sequence(conn)


@dataclass
class Writer:
    """A file being written batch by batch, with events of random words, levels, fields."""

    file_id: str
    source: str
    rnd: random.Random
    line: int = 1
    ts: datetime = T0
    written: list[Ev] = field(default_factory=list)

    def batch(self, n: int) -> list[Ev]:
        out = []
        for _ in range(n):
            r = self.rnd
            self.ts += timedelta(milliseconds=r.randrange(0, 20_000))
            words = r.sample(WORDS, r.randint(1, 4))
            if r.random() < 0.01:
                words.append(RARE)
            message = " ".join(words) + f" n={r.randrange(1000)}"
            count = 3 if r.random() < 0.05 else 1
            if count > 1:
                message += "\n  at frame one\n  at frame two"
            fields = {"user": r.choice(("alice", "bob")), "n": r.randrange(5), "req": {"id": r.randrange(3)}}
            out.append(
                Ev(
                    self.line,
                    self.ts,
                    r.choice((*LEVELS, None)),
                    message,
                    fields if r.random() < 0.7 else None,
                    r.choice(PATTERNS),
                    count,
                    "RAW " + message if r.random() < 0.1 else None,
                )
            )
            self.line += count
        self.written += out
        return out


def make_writers(conn: pg8000.native.Connection, n: int, seed: int) -> list[Writer]:
    rnd = random.Random(seed)
    writers = []
    for i in range(n):
        w = Writer(str(uuid.UUID(int=rnd.getrandbits(128), version=4)), SOURCES[i % 2], random.Random(seed * 10 + i))
        w.ts = T0 + timedelta(minutes=rnd.randrange(0, 30))  # files overlap in time
        writers.append(w)
    return writers


def fill(conn: pg8000.native.Connection, writers: list[Writer], batches: int, rnd: random.Random) -> None:
    for _ in range(batches):
        w = rnd.choice(writers)
        commit(conn, w.file_id, w.batch(rnd.randint(1, 120)), source=w.source)


@dataclass(frozen=True)
class Row:
    ts: datetime
    file_id: str
    line: int
    level: str | None
    source: str
    message: str
    fields: str | None
    pattern_id: str | None

    @property
    def id(self) -> str:
        return f"{self.file_id}:{self.line}"


def rows_upto(s: Settings, as_of: int) -> list[Row]:
    """Every event of a stream entry at or below ``as_of``."""
    conn = db.connect(s)
    try:
        found = conn.run(
            "SELECT e.ts, CAST(e.file_id AS text), e.line, e.level, e.source, e.message, CAST(e.fields AS text),"
            " e.pattern_id FROM events e JOIN stream_log l ON l.file_id = e.file_id AND e.line >= l.first_line"
            " AND e.line < l.end_line WHERE l.pos <= :p",
            p=as_of,
        )
    finally:
        conn.close()
    return [Row(*r) for r in found]


def expected(rows: list[Row], aliases: dict[str, str] | None = None, **p: str) -> list[Row]:
    """What a search with parameters ``p`` must return, decided by the rules themselves."""
    q = query.parse(p.get("q"))
    now = datetime.now(UTC)
    from logpipe.search.params import parse_time

    start = parse_time("from", p["from"], now) if "from" in p else None
    end = parse_time("to", p["to"], now) if "to" in p else None
    family = None
    if "pattern_id" in p:
        canon = (aliases or {}).get(p["pattern_id"], p["pattern_id"])
        family = {canon} | {a for a, t in (aliases or {}).items() if t == canon}
    out = [
        r
        for r in rows
        if ("file_id" not in p or r.file_id == p["file_id"])
        and ("source" not in p or r.source == p["source"])
        and ("level" not in p or (r.level is not None and LEVELS.index(r.level) >= LEVELS.index(p["level"])))
        and (family is None or r.pattern_id in family)
        and (start is None or r.ts >= start)
        and (end is None or r.ts < end)
        and q.matches(r.message, parse_fields(r.fields))
    ]
    return sorted(out, key=lambda r: (r.ts, r.file_id, r.line), reverse=p.get("order", "desc") == "desc")


def all_pages(
    api: Api, *, after_page: Callable[[], None] | None = None, **p: str
) -> tuple[list[dict[str, Any]], int, int]:
    """Every page of a search: its events, its as_of, and how many pages it took."""
    got: list[dict[str, Any]] = []
    cursor, pages, as_of = None, 0, None
    while True:
        r = api.get("/api/events", query_string={**p, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert as_of is None or body["as_of"] == as_of, "a cursor keeps the first page's moment"
        as_of = body["as_of"]
        got += body["events"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return got, as_of, pages
        if after_page is not None:
            after_page()
        assert pages < 10_000


@pytest.fixture
def search_api(make_api: Callable[..., Api]) -> Iterator[tuple[Api, pg8000.native.Connection]]:
    api = make_api()
    conn = db.connect(api.settings)
    yield api, conn
    conn.close()


CASES: list[dict[str, str]] = [
    {},
    {"order": "asc"},
    {"level": "warn"},
    {"source": "github"},
    {"q": "disk"},
    {"q": "error"},  # a word, whole: not "errors"
    {"q": '"disk full"'},
    {"q": "gateway -timeout"},
    {"q": RARE},
    {"q": "fields.user=alice"},
    {"q": "fields.req.id=2 -fields.n=0"},
    {"q": "fields.n=3 beta", "order": "asc"},
    {"q": "fields.nothere=1"},
    {"q": "-alpha -beta", "level": "error"},
    {"pattern_id": "p-two"},
    {"pattern_id": "p-one"},  # p-old is aliased to it
    {"from": "2026-11-30T09:20:00Z", "to": "2026-11-30T10:00:00.5+00:00"},
    {"from": "2026-11-30T09:20:00Z", "order": "asc", "q": "delta"},
    {"to": "2026-11-30T09:40:00", "source": "upload", "level": "info"},
]


@pytest.mark.parametrize("slice_lines", [512, 16])
def test_every_parameter_returns_exactly_what_the_rules_accept(
    search_api: tuple[Api, pg8000.native.Connection], slice_lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_db, "SLICE_LINES", slice_lines)  # blocks of many slices too
    api, conn = search_api
    rnd = random.Random(5)
    writers = make_writers(conn, 4, 5)
    fill(conn, writers, 30, rnd)
    conn.run("INSERT INTO pattern_aliases (id, target, template) VALUES ('p-old', 'p-one', 'one <*>')")
    aliases = {"p-old": "p-one"}
    head = stream_db.head(conn)
    rows = rows_upto(api.settings, head)
    assert any(RARE in r.message for r in rows)

    def check(label: str) -> None:
        for case in [*CASES, {"file_id": writers[1].file_id}, {"file_id": writers[2].file_id, "q": "user"}]:
            for limit in ("37", "1000"):
                got, as_of, _ = all_pages(api, **case, limit=limit)
                assert as_of == head
                want = expected(rows, aliases, **case)
                assert [e["id"] for e in got] == [r.id for r in want], (label, case, limit)

    check("nothing indexed")  # every block read directly
    progress = index_pending(conn, budget_s=0.0, step_entries=10)  # one step: part of the log indexed
    assert 0 < progress.watermark < head and not progress.caught_up
    check("partly indexed")
    assert index_pending(conn).caught_up
    check("all indexed")

    # The event as the stream shows it, and raw where it differs from the message.
    one = next(r for r in rows if r.fields is not None and r.level is not None)
    got, _, _ = all_pages(
        api, file_id=one.file_id, **{"from": one.ts.isoformat(), "to": (one.ts + timedelta(microseconds=1)).isoformat()}
    )
    event = next(e for e in got if e["line"] == one.line)
    assert set(event) >= {"id", "file_id", "line", "line_count", "ts", "ts_inferred", "level", "source", "format",
                          "message", "pattern_id", "fields"}  # fmt: skip
    assert event["message"] == one.message and event["fields"] == json.loads(one.fields or "null")
    assert all_pages(api, q="RAW")[0] == []  # raw is not searched: q looks at messages
    with_raw = conn.run("SELECT CAST(file_id AS text), line, raw FROM events WHERE raw IS NOT NULL LIMIT 1")[0]
    r = api.get(f"/api/events/{with_raw[0]}:{with_raw[1]}", query_string={"before": "0", "after": "0"})
    assert r.get_json()["event"]["raw"] == with_raw[2]


def test_pages_stay_exact_while_rows_arrive_and_the_indexer_runs(
    search_api: tuple[Api, pg8000.native.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer commits a batch between every two pages (and an indexer moves on at the
    same time): each search still returns exactly the events of its first moment."""
    monkeypatch.setattr(search_db, "SLICE_LINES", 8)
    api, conn = search_api
    rnd = random.Random(9)
    writers = make_writers(conn, 3, 9)
    fill(conn, writers, 20, rnd)
    index_pending(conn)
    stop = threading.Event()
    page_read, batch_written = threading.Semaphore(0), threading.Semaphore(0)
    errors: list[BaseException] = []

    def write() -> None:
        c = db.connect(api.settings)
        try:
            wr = random.Random(1)
            while page_read.acquire(timeout=60) and not stop.is_set():
                w = wr.choice(writers)
                commit(c, w.file_id, w.batch(wr.randint(1, 40)), source=w.source)
                batch_written.release()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)
        finally:
            c.close()

    def index() -> None:
        c = db.connect(api.settings)
        try:
            while not stop.is_set():
                index_pending(c, budget_s=0.0, step_entries=2)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            c.close()

    def between_pages() -> None:
        page_read.release()
        assert batch_written.acquire(timeout=60), f"the writer did not write: {errors}"

    threads = [threading.Thread(target=write), threading.Thread(target=index)]
    for t in threads:
        t.start()
    try:
        results = []
        for case in ({"order": "asc"}, {"order": "desc"}, {"q": "alpha", "order": "asc"}, {"level": "error"}):
            got, as_of, pages = all_pages(api, after_page=between_pages, **case, limit="25")
            results.append((case, got, as_of, pages))
    finally:
        stop.set()
        page_read.release()
        for t in threads:
            t.join()
    assert not errors, errors
    for case, got, as_of, pages in results:
        ids = [e["id"] for e in got]
        assert len(ids) == len(set(ids)), f"a page repeated an event: {case}"
        assert ids == [r.id for r in expected(rows_upto(api.settings, as_of), **case)], case
        assert pages > 3, "rows must arrive while the pages are read"
    assert results[-1][2] > results[0][2], "the rows written meanwhile are in later searches"


def _floor(ts: datetime, seconds: int) -> datetime:
    us = (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us - us % (seconds * 1_000_000))


def _hist_expected(rows: list[Row], bucket_s: int, **p: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in expected(rows, **p):
        row = out.setdefault(_floor(r.ts, bucket_s).isoformat(), {})
        key = r.level or "none"
        row[key] = row.get(key, 0) + 1
    return out


def test_histogram_counts_what_the_test_counts(search_api: tuple[Api, pg8000.native.Connection]) -> None:
    api, conn = search_api
    rnd = random.Random(3)
    writers = make_writers(conn, 3, 3)
    fill(conn, writers, 25, rnd)
    index_pending(conn, budget_s=0.0, step_entries=12)  # part indexed: counts come from rollups and from events
    fill(conn, writers, 3, rnd)
    rows = rows_upto(api.settings, stream_db.head(conn))
    cases = [
        ({"bucket": "1m"}, 60),
        ({"bucket": "5m", "from": "2026-11-30T09:03:27.5Z", "to": "2026-11-30T09:47:01Z"}, 300),
        ({"bucket": "1m", "level": "warn", "source": "upload", "from": "2026-11-30T09:10:30Z"}, 60),
        ({"bucket": "10s", "from": "2026-11-30T09:30:00Z", "to": "2026-11-30T09:35:00Z"}, 10),
        ({"bucket": "1h", "q": "disk -full"}, 3600),
        ({"bucket": "1m", "pattern_id": "p-two", "file_id": writers[0].file_id}, 60),
        ({"bucket": "1m", "pattern_id": "p-two"}, 60),  # from the per-minute counts by pattern
        ({"bucket": "5m", "pattern_id": "p-one", "level": "error", "from": "2026-11-30T09:12:00Z"}, 300),
        ({"bucket": "1m", "from": "2026-11-30T09:10:30Z", "to": "2026-11-30T09:10:50Z"}, 60),
    ]
    for indexed in ("partly", "all"):
        for case, seconds in cases:
            r = api.get("/api/histogram", query_string=case)
            assert r.status_code == 200, r.get_json()
            body = r.get_json()
            got = {b["start"]: b["counts"] for b in body["buckets"] if b["total"]}
            filters = {k: v for k, v in case.items() if k != "bucket"}
            if "from" in filters:  # the range is widened to whole buckets
                assert body["from"] == _floor(datetime.fromisoformat(filters["from"]), seconds).isoformat()
                filters["from"] = body["from"]
            if "to" in filters:
                filters["to"] = body["to"]
                assert _floor(datetime.fromisoformat(body["to"]), seconds) == datetime.fromisoformat(body["to"])
            assert got == _hist_expected(rows, seconds, **filters), (indexed, case)
            assert body["total"] == sum(sum(c.values()) for c in got.values())
            starts = [b["start"] for b in body["buckets"]]
            assert starts == sorted(starts) and len(set(starts)) == len(starts)
        assert index_pending(conn).caught_up

    auto = api.get("/api/histogram", query_string={"from": "2026-11-30T09:00:00Z", "to": "2026-11-30T12:00:00Z"})
    body = auto.get_json()
    assert body["bucket"] == "1m" and "smallest" in body["bucket_rule"] and len(body["buckets"]) == 180
    recent = api.get("/api/histogram", query_string={"from": "-20m"}).get_json()  # to: now
    assert recent["bucket"] == "10s" and len(recent["buckets"]) in (120, 121) and recent["total"] == 0
    whole = api.get("/api/histogram").get_json()  # no range: the range of the events
    assert whole["total"] == len(rows) and whole["from"] == _floor(min(r.ts for r in rows), 60).isoformat()


def test_indexer_indexes_each_block_exactly_once(search_api: tuple[Api, pg8000.native.Connection]) -> None:
    api, conn = search_api
    rnd = random.Random(4)
    writers = make_writers(conn, 3, 4)
    fill(conn, writers, 40, rnd)

    # A run that fails mid-step leaves nothing behind: the next one does the step again.
    real = search_db.add_rollups
    calls = [0]

    def failing(c: pg8000.native.Connection, blocks: Any) -> None:
        calls[0] += 1
        real(c, blocks)
        raise RuntimeError("the indexer died after writing counts")

    search_db.add_rollups = failing  # type: ignore[assignment]
    try:
        with pytest.raises(RuntimeError):
            index_pending(conn)
    finally:
        search_db.add_rollups = real  # type: ignore[assignment]
    assert calls[0] == 1 and followers.watermark(conn, FOLLOWER) == 0
    assert conn.run("SELECT count(*) FROM rollup_minutes")[0][0] == 0

    # Several indexers at once: one works at a time, the others come back busy.
    results = index_concurrently(api.settings, step_entries=3)
    head = stream_db.head(conn)
    assert followers.watermark(conn, FOLLOWER) == head
    assert sum(p.blocks for p in results) == 40 == conn.run("SELECT count(*) FROM search_blocks")[0][0]
    truth = conn.run(
        "SELECT date_trunc('minute', ts), level, source, CAST(file_id AS text), count(*) FROM events"
        " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )
    counted = conn.run(
        "SELECT minute, level, source, CAST(file_id AS text), events FROM rollup_minutes ORDER BY 1, 2, 3, 4"
    )
    assert counted == truth
    assert sorted(r[0] for r in conn.run("SELECT key FROM search_field_keys")) == ["n", "req", "user"]
    assert index_pending(conn).entries == 0


def test_event_context_keeps_multiline_events_whole(api: Api) -> None:
    text = (
        b"2026-11-30 10:00:00,000 INFO starting\n"
        b"2026-11-30 10:00:01,000 INFO step one\n"
        b"2026-11-30 10:00:02,000 ERROR it broke\n"
        b"Traceback (most recent call last):\n"
        b'  File "app.py", line 3, in <module>\n'
        b"    main()\n"
        b"ValueError: bad\n"
        b"2026-11-30 10:00:03,000 INFO step two\n"
        b"2026-11-30 10:00:04,000 WARN almost done\n"
        b"2026-11-30 10:00:05,000 INFO done\n"
    )
    file_id = api.upload("app.log", text)
    pump(api.settings)
    assert api.file(file_id)["status"] == "done"

    def ctx(line: int, **p: int) -> Any:
        r = api.get(f"/api/events/{file_id}:{line}", query_string={k: str(v) for k, v in p.items()})
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    body = ctx(3, before=1, after=1)
    assert body["event"]["line"] == 3 and body["event"]["line_count"] == 5
    assert "ValueError: bad" in body["event"]["message"]
    assert [e["line"] for e in body["before"]] == [2]
    assert [e["line"] for e in body["after"]] == [8]
    assert body["event"]["id"] == f"{file_id}:3"
    # A line inside the traceback finds its event; context reaching into a multi-line
    # event takes it whole.
    assert ctx(5, before=0, after=0)["event"]["line"] == 3
    body = ctx(9, before=2, after=5)
    assert [e["line"] for e in body["before"]] == [3, 8]  # line 7 is the traceback's last: the whole event
    assert [e["line"] for e in body["after"]] == [10]
    assert ctx(1, before=10)["before"] == []
    assert api.get(f"/api/events/{file_id}:11").status_code == 404
    assert api.get(f"/api/events/{uuid.uuid4()}:1").status_code == 404


def test_bad_input_gets_a_clear_answer(search_api: tuple[Api, pg8000.native.Connection]) -> None:
    api, conn = search_api
    writers = make_writers(conn, 2, 7)
    fill(conn, writers, 6, random.Random(7))
    index_pending(conn)
    first = api.get("/api/events", query_string={"limit": "2", "q": "alpha"}).get_json()
    cursor = first["next_cursor"]
    assert cursor

    def bad(path: str, words: str, **p: str) -> None:
        r = api.get(path, query_string=p)
        assert r.status_code == 400, (p, r.get_json())
        assert words in r.get_json()["error"], (p, r.get_json())

    bad("/api/events", "RFC 3339", **{"from": "yesterday"})
    bad("/api/events", "RFC 3339", to="-15x")
    bad("/api/events", "RFC 3339", to="-99999999w")
    bad("/api/events", "reversed", **{"from": "-1h", "to": "-2h"})
    bad("/api/events", "reversed", **{"from": "2026-11-30T10:00:00Z", "to": "2026-11-30T10:00:00Z"})
    bad("/api/events", "not one this server gave", cursor="garbage")
    bad("/api/events", "not one this server gave", cursor=cursor[:-3] + "AAA", q="alpha", limit="2")
    forged = cursor.split(".")[0][:-4] + "AAAA." + cursor.split(".")[1]
    bad("/api/events", "not one this server gave", cursor=forged, q="alpha")
    bad("/api/events", "other filters", cursor=cursor, q="beta")
    bad("/api/events", "other filters", cursor=cursor, q="alpha", order="asc")
    bad("/api/events", "characters long", q="x" * 10_000)
    bad("/api/events", "nothing to search for", q='- "" -')
    bad("/api/events", "closing quote", q='"unclosed')
    bad("/api/events", "field filter", q="fields.=3")
    bad("/api/events", "whole number", limit="ten")
    bad("/api/events", "at least 1", limit="0")
    bad("/api/events", "one of trace", level="loud")
    bad("/api/events", "UUID", file_id="nope")
    bad("/api/events", "asc", order="sideways")
    bad("/api/events", "unknown parameter 'levle'", levle="error")
    bad("/api/events", "at most 64", source="s" * 65)
    bad("/api/histogram", "'bucket' must be one of", bucket="3m")
    bad(
        "/api/histogram",
        "at most 10000",
        bucket="10s",
        **{"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
    )
    bad("/api/histogram", "reversed", **{"from": "now", "to": "-1d"})
    bad(f"/api/events/{writers[0].file_id}:x", "<file_id>:<line>")
    bad("/api/events/nope:3", "UUID")
    bad(f"/api/events/{writers[0].file_id}:1", "whole number", before="many")

    # Capped, not refused: the page says what it used.
    assert api.get("/api/events", query_string={"limit": "1000000"}).get_json()["limit"] == 1000
    # A key no event has: no error, no match, and the answer names the key.
    r = api.get("/api/events", query_string={"q": "fields.usr=alice fields.user=bob"})
    assert r.status_code == 200 and r.get_json()["events"] == [] and r.get_json()["unknown_fields"] == ["usr"]
    r = api.get("/api/events", query_string={"q": "-fields.usr=alice"})
    assert r.status_code == 200 and "unknown_fields" not in r.get_json() and r.get_json()["events"]
    # Relative times from the cursor's first page: the next page uses the same "now".
    assert api.get("/api/events", query_string={"q": "alpha", "limit": "2", "cursor": cursor}).status_code == 200


# -- the rules the index rests on ---------------------------------------------------------------


@pytest.fixture
def pg(make_settings: Callable[..., Settings]) -> Iterator[pg8000.native.Connection]:
    """A connection for the rules' SQL, shared by the examples of a property test."""
    conn = db.connect(make_settings())
    yield conn
    conn.close()


_TEXT = st.text(
    alphabet=st.sampled_from(list("abcAB _-.:\"'é\u00df\u0130\u212a9\n\t")) | st.characters(codec="utf-8"), max_size=30
).map(lambda s: s.replace("\x00", ""))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=_TEXT, data=st.data())
def test_prefilter_keeps_every_match(pg: pg8000.native.Connection, message: str, data: st.DataObject) -> None:
    """Terms are pieces of the message (so that many queries match) or any text, quoted or
    bare, some excluded: whenever ``matches`` says yes, the SQL kept the row."""
    parts = []
    for _ in range(data.draw(st.integers(1, 3))):
        if message and data.draw(st.booleans()):
            a = data.draw(st.integers(0, len(message) - 1))
            term = message[a : a + data.draw(st.integers(1, 8))]
        else:
            term = data.draw(_TEXT)
        quoted = '"' + term.replace("\\", "\\\\").replace('"', '\\"') + '"'
        bare = term.split()[0] if term.split() else ""
        use = quoted if data.draw(st.booleans()) or not bare or '"' in bare else bare
        parts.append(("-" if data.draw(st.integers(0, 3)) == 0 else "") + use)
    try:
        q = query.parse(" ".join(parts))
    except BadRequestError:
        return  # a query the language refuses has nothing to prefilter
    sql, params = q.prefilter("CAST(:msg AS text)", "CAST(:fld AS jsonb)")
    kept = pg.run(f"SELECT {sql}", msg=message, fld="{}", **params)[0][0]
    if q.matches(message, {}):
        assert kept, (message, q.source)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    message=_TEXT,
    key=st.sampled_from(["k", "n.m", "n", "x"]),
    value=st.one_of(_TEXT, st.integers().map(str), st.sampled_from(["true", "1.50", "1e3"])),
)
def test_field_prefilter_keeps_every_match(pg: pg8000.native.Connection, message: str, key: str, value: str) -> None:
    stored = pg.run(
        "SELECT CAST(CAST(:f AS jsonb) AS text)",
        f=json.dumps({"k": value, "n": {"m": 1.50 if value == "1.50" else value}, "x": [value]}),
    )[0][0]
    quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    q = query.parse(f"fields.{key}={quoted}")
    sql, params = q.prefilter("CAST(:msg AS text)", "CAST(:fld AS jsonb)")
    kept = pg.run(f"SELECT {sql}", msg=message, fld=stored, **params)[0][0]
    if q.matches(message, parse_fields(stored)):
        assert kept


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tokens=st.sets(st.text(min_size=1, max_size=20) | st.from_regex(r"\A[a-z0-9_]{1,12}\Z"), min_size=1, max_size=400)
)
def test_bloom_filters_never_miss(pg: pg8000.native.Connection, tokens: set[str]) -> None:
    segments, filter_ = bloom.Builder().build(tokens)
    assert len(filter_) == segments * bloom.SEGMENT_BYTES
    some = list(tokens)[:40]
    assert all(bloom.contains(segments, filter_, t) for t in tokens)
    for t in some:  # the SQL that queries read answers as the Python does
        sql, params = bloom.sql_condition([t], "t", bloom="CAST(:bl AS bytea)", segments="CAST(:sg AS integer)")
        assert pg.run(f"SELECT {sql}", bl=filter_, sg=segments, **params)[0][0], t
    sql, params = bloom.sql_condition(some, "t", bloom="CAST(:bl AS bytea)", segments="CAST(:sg AS integer)")
    assert pg.run(f"SELECT {sql}", bl=filter_, sg=segments, **params)[0][0]
    absent = [f"absent-{n}" for n in range(50)]
    for t in absent[:5]:
        sql, params = bloom.sql_condition([t], "t", bloom="CAST(:bl AS bytea)", segments="CAST(:sg AS integer)")
        assert pg.run(f"SELECT {sql}", bl=filter_, sg=segments, **params)[0][0] == bloom.contains(segments, filter_, t)


def test_index_command_brings_the_index_up_to_date(
    search_api: tuple[Api, pg8000.native.Connection], monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: Any
) -> None:
    from logpipe_local.cli import main

    from conftest import settings_env

    api, conn = search_api
    fill(conn, make_writers(conn, 2, 8), 5, random.Random(8))
    for name, value in settings_env(api.settings).items():
        monkeypatch.setenv(name, value)
    assert main(["--data-dir", str(tmp_path), "index"]) == 0
    out = capsys.readouterr().out
    assert "indexed 5 blocks" in out and "up to date" in out
    assert followers.watermark(conn, FOLLOWER) == stream_db.head(conn)
    assert main(["--data-dir", str(tmp_path), "index"]) == 0
    assert "indexed 0 blocks" in capsys.readouterr().out


def test_query_api_serves_the_search_routes_locally_and_on_aws() -> None:
    """template.yaml routes the search to query-api (so the local runner serves it too),
    and query-api's app has the routes."""
    from logpipe_local import template

    spec = next(f for f in template.load() if f.name == "query-api")
    paths = ["/api/events", f"/api/events/{uuid.uuid4()}:12", "/api/histogram", "/api/rollups"]
    for path in paths:
        assert any(r.method == "GET" and r.pattern.match(path) for r in spec.routes), path
    app = spec.load().app
    adapter = app.url_map.bind("localhost")
    for path in paths:
        assert adapter.match(path, method="GET")[0].startswith(("events.", "rollups."))


def test_events_written_before_the_stream_log_get_entries_of_their_own(
    search_api: tuple[Api, pg8000.native.Connection],
) -> None:
    """The migration gives events that no entry holds entries of 5,000 lines, so that the
    search, which reads events through entries, finds them."""
    from logpipe.db.migrate import migrate

    api, conn = search_api
    w = make_writers(conn, 1, 6)[0]
    commit(conn, w.file_id, w.batch(30))  # an entry of its own: left as it is
    old = w.batch(7000)
    buf = CopyBuffer(w.file_id, datetime.now(UTC))
    for ev in old:
        buf.add(ev.line, ev.ts, ev.level, "text", ev.message, ev.fields, ev.raw, False, ev.line_count, ev.pattern_id)
    ensure_partitions(conn, buf.months)
    buf.copy_into(conn)  # no entry, as before the stream log
    conn.run("DROP TABLE stream_followers, search_blocks, rollup_minutes, search_field_keys")
    conn.run("DELETE FROM schema_migrations WHERE version = 6")
    assert migrate(conn) == ["0006_search"]
    entries = conn.run("SELECT first_line, end_line FROM stream_log WHERE pos IS NULL ORDER BY first_line")
    assert (
        len(entries) == len({ev.line // 5000 for ev in old})
        and entries[0][0] == old[0].line
        and entries[-1][1] == old[-1].line + old[-1].line_count
    )
    assert index_pending(conn).caught_up  # it sequences them first
    got, _, _ = all_pages(api, limit="1000")
    assert len(got) == 7030 == len({e["id"] for e in got})


def test_uploaded_files_are_searchable_through_the_pipeline(api: Api) -> None:
    """Upload, parse (the parse-worker announces each batch on the stream log), index:
    search, histogram and context agree with the rows the pipeline wrote."""
    lines = []
    for n in range(1, 401):
        level = ("INFO", "WARN", "ERROR")[n % 3]
        word = "zanzibar" if n % 97 == 0 else "routine"
        lines.append(f"2026-11-30 10:{n // 60:02d}:{n % 60:02d},000 {level} step {n} {word} work\n".encode())
    file_id = api.upload("pipeline.log", b"".join(lines))
    pump(api.settings)
    assert api.file(file_id)["status"] == "done"

    def search(**p: str) -> list[dict[str, Any]]:
        return all_pages(api, file_id=file_id, limit="50", **p)[0]

    unindexed = search(q="zanzibar")  # read straight from the stream log's blocks
    assert [e["line"] for e in unindexed] == [388, 291, 194, 97]
    conn = db.connect(api.settings)
    try:
        assert index_pending(conn).caught_up
        assert conn.run("SELECT count(*) FROM search_blocks")[0][0] >= 1
    finally:
        conn.close()
    assert search(q="zanzibar") == unindexed
    assert len(search(level="error")) == 133 and len(search(order="asc")) == 400
    h = api.get("/api/histogram", query_string={"file_id": file_id, "bucket": "1m"}).get_json()
    assert h["total"] == 400 and [b["total"] for b in h["buckets"]] == [59, 60, 60, 60, 60, 60, 41]
    ctx = api.get(f"/api/events/{file_id}:97", query_string={"before": "1", "after": "1"}).get_json()
    assert [e["line"] for e in (*ctx["before"], ctx["event"], *ctx["after"])] == [96, 97, 98]
