"""Query benchmark (`make bench`): prints figures, asserts nothing about time.

1. Builds a fresh database of 10,000,000 events on the real PostgreSQL, fast: 20 files
   of 500,000 events each over the last 7 days (files overlap in time, as services
   logging side by side do), COPYed in batches of 5,000 in the order concurrent workers
   would commit them, with one stream-log entry per batch; then runs the search indexer
   until it has caught up, and VACUUM ANALYZE. Each step's time is printed.
2. Latency (p50, p99 over repeats) of /api/events and /api/histogram as the query-api
   serves them (the Flask app in-process, no network): a selective text search, a rare
   term over the whole range, a 24 h histogram (target < 300 ms each), and a few more.
3. What an index on ``events`` would cost ingest: 1,000,000 of the same rows COPYed
   into a fresh events table with no extra index, a BRIN on ts, a btree on ts.

    .venv/bin/python bench/query_bench.py [--events N] [--repeats R] [--keep]

The database is removed at the end unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import queue
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pg8000.native

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _extra in (ROOT / "layers", ROOT / "local"):
    if str(_extra) not in sys.path:
        sys.path.append(str(_extra))

from logpipe import db  # noqa: E402
from logpipe.config import Settings  # noqa: E402
from logpipe.db import followers  # noqa: E402
from logpipe.db import stream as stream_db  # noqa: E402
from logpipe.db.events import COPY_SQL, ensure_partitions  # noqa: E402
from logpipe.db.migrate import migrate  # noqa: E402
from logpipe.db.stream import EVENTS  # noqa: E402
from logpipe.http import create_app, deps  # noqa: E402
from logpipe.search.indexer import FOLLOWER, index_pending  # noqa: E402

FILES = 20
BATCH = 5000
SPAN = timedelta(days=7)
RARE = "kraken"
RARE_COUNT = 7
LEVELS = [("info", 66), ("debug", 12), ("warn", 11), ("error", 8), ("fatal", 1), ("trace", 2)]
USERS = [f"user{n}" for n in range(500)]
HOSTS = [f"ip-10-0-{a}-{b}" for a in range(4) for b in range(16)]
# (template, weight): request ids, numbers and hosts make many distinct words, as real logs do
TEMPLATES = [
    ("request completed in {ms} ms for {rid}", 300),
    ("cache miss for key user:{n}", 150),
    ("user {user} logged in from {host}", 100),
    ("payment authorised for order {n} ({rid})", 80),
    ("payment declined by issuer for order {n} ({rid})", 30),
    ("retrying upstream call to {host} attempt {a}", 50),
    ("connection pool exhausted, waiting for a free connection", 20),
    ("slow query detected: {ms} ms on table orders", 40),
    ("scheduled job {job} finished in {ms} ms", 50),
    ("order {n} placed by {user}", 80),
    ("email queued for delivery to {user}@example.com", 40),
    ("rate limit reached for client {host}", 20),
    ("failed to parse upstream response from {host}: unexpected token at position {a}", 15),
    ("worker heartbeat {rid}", 60),
    ("upstream {host} timed out after 30000 ms", 15),
    ("TLS handshake failed: certificate has expired for {host}", 1),
]


def say(text: str) -> None:
    print(text, flush=True)


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


class Rows:
    """Deterministic COPY rows of FILES files, batch by batch, interleaved between files."""

    def __init__(self, total: int, end: datetime, seed: int = 1) -> None:
        self.rnd = random.Random(seed)
        self.per_file = total // FILES
        self.end = end
        self.start = end - SPAN
        self.files = [str(uuid.UUID(int=self.rnd.getrandbits(128), version=4)) for _ in range(FILES)]
        self.templates = [t for t, w in TEMPLATES for _ in range(w)]
        self.pattern_of = {t: hashlib.sha1(t.encode()).hexdigest()[:12] for t, _ in TEMPLATES}
        self.levels = [lv for lv, w in LEVELS for _ in range(w)]
        self.ingested = datetime.now(UTC).isoformat()
        self.rare = set(self.rnd.sample(range(total), RARE_COUNT))
        self._seconds: dict[int, str] = {}

    def _ts(self, us: int) -> str:
        second, frac = divmod(us, 1_000_000)
        text = self._seconds.get(second)
        if text is None:
            text = datetime.fromtimestamp(second, UTC).isoformat()[:19]
            self._seconds[second] = text
        return f"{text}.{frac:06d}+00:00"

    def batches(self) -> Iterator[tuple[str, int, int, bytes]]:
        """(file_id, first line, end line, COPY payload) in commit order."""
        rnd = self.rnd
        step_us = SPAN / timedelta(microseconds=1) / self.per_file
        start_us = (self.start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        n = 0
        for b in range(self.per_file // BATCH):
            for f, file_id in enumerate(self.files):
                parts = []
                first = b * BATCH + 1
                for line in range(first, first + BATCH):
                    template = rnd.choice(self.templates)
                    message = template.format(
                        ms=rnd.randrange(1, 5000),
                        rid=f"{rnd.getrandbits(64):016x}",
                        n=rnd.randrange(100_000),
                        user=rnd.choice(USERS),
                        host=rnd.choice(HOSTS),
                        a=rnd.randrange(1, 6),
                        job=rnd.randrange(50),
                    )
                    pattern = self.pattern_of[template]
                    if n in self.rare:
                        message, pattern = f"checksum mismatch in segment {RARE}-{n}", "000000000000"
                    level = rnd.choice(self.levels)
                    us = int(start_us + (line + f / FILES) * step_us) + rnd.randrange(0, 1000)
                    fields = (
                        f'{{"user":"{rnd.choice(USERS)}","status":{rnd.choice((200, 200, 201, 404, 500))},'
                        f'"duration_ms":{rnd.randrange(1, 900)}}}'
                        if rnd.random() < 0.4
                        else "\\N"
                    )
                    parts.append(
                        f"{file_id}\t{line}\t{self._ts(us)}\tf\t{self.ingested}\t{level}\tapp\t{message}\t{fields}\t"
                        f"\\N\tf\t1\t{pattern}\n"
                    )
                    n += 1
                yield file_id, first, first + BATCH, "".join(parts).encode()


def build(settings: Settings, total: int) -> tuple[datetime, list[str]]:
    """Fill the database; returns the time of the newest events and the file ids."""
    end = datetime.now(UTC).replace(microsecond=0)
    rows = Rows(total, end)
    conn = db.connect(settings)
    try:
        months = set()
        day = rows.start
        while day <= end + timedelta(days=1):
            months.add((day.year, day.month))
            day += timedelta(days=1)
        ensure_partitions(conn, months)
        # One thread makes the rows while this one COPYs them (pg8000 waits on the socket
        # with the GIL released, PostgreSQL works in its own process).
        made: queue.Queue[tuple[str, int, int, bytes] | None] = queue.Queue(maxsize=8)

        def produce() -> None:
            for batch in rows.batches():
                made.put(batch)
            made.put(None)

        threading.Thread(target=produce, daemon=True).start()
        entries: list[tuple[str, int, int]] = []
        t0 = time.monotonic()
        copied = 0
        while (batch := made.get()) is not None:
            file_id, first, end_line, payload = batch
            conn.run(COPY_SQL, stream=[payload])  # a transaction per batch, as the worker commits
            entries.append((file_id, first, end_line))
            copied += end_line - first
            if len(entries) % 200 == 0:
                say(f"  {copied:,} events COPYed, {copied / (time.monotonic() - t0):,.0f}/s")
        seconds = time.monotonic() - t0
        say(f"generate + COPY: {copied:,} events in {seconds:.1f}s = {copied / seconds:,.0f} events/s")
        t0 = time.monotonic()
        conn.run(
            "INSERT INTO stream_log (pos, kind, file_id, first_line, end_line)"
            " SELECT n, :k, f, a, z FROM unnest(CAST(:f AS uuid[]), CAST(:a AS bigint[]), CAST(:z AS bigint[]))"
            " WITH ORDINALITY AS e(f, a, z, n)",
            k=EVENTS,
            f=[e[0] for e in entries],
            a=[e[1] for e in entries],
            z=[e[2] for e in entries],
        )
        say(f"stream log: {len(entries):,} entries in {time.monotonic() - t0:.1f}s")
    finally:
        conn.close()
    return end, rows.files


def index(settings: Settings, total: int) -> None:
    conn = db.connect(settings)
    try:
        t0 = time.monotonic()
        while not (p := index_pending(conn, budget_s=30)).caught_up:
            say(f"  indexed up to position {p.watermark}: {time.monotonic() - t0:.0f}s")
        seconds = time.monotonic() - t0
        say(f"indexer: {total:,} events in {seconds:.1f}s = {total / seconds:,.0f} events/s (load {load()})")
        size = conn.run(
            "SELECT pg_size_pretty(pg_total_relation_size('search_blocks')),"
            " pg_size_pretty(pg_total_relation_size('rollup_minutes')), (SELECT count(*) FROM rollup_minutes),"
            " (SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_inherits i"
            "  JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST('events' AS regclass))"
        )[0]
        say(f"  search_blocks {size[0]}, rollup_minutes {size[1]} ({size[2]:,} rows); events {size[3]}")
        t0 = time.monotonic()
        conn.run("VACUUM ANALYZE")
        say(f"VACUUM ANALYZE: {time.monotonic() - t0:.1f}s")
    finally:
        conn.close()


def latency(settings: Settings, end: datetime, files: list[str], repeats: int) -> None:
    app = create_app(settings, "events")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {settings.api_token}"}
    day_ago = (end - timedelta(hours=24)).isoformat()
    cases: list[tuple[str, str, dict[str, str], Callable[[Any], str]]] = [
        ("selective text search (0.1% of events), newest 100", "/api/events",
         {"q": '"certificate has expired"', "limit": "100"}, lambda b: f"{len(b['events'])} events"),
        ("selective text search, errors of the last 24 h, -word", "/api/events",
         {"q": "declined -authorised", "level": "error", "from": day_ago, "limit": "100"},
         lambda b: f"{len(b['events'])} events"),
        (f"rare term over the whole range ({RARE_COUNT} events)", "/api/events", {"q": RARE, "limit": "100"},
         lambda b: f"{len(b['events'])} events"),
        ("24 h histogram, bucket chosen", "/api/histogram", {"from": day_ago, "to": end.isoformat()},
         lambda b: f"{len(b['buckets'])} buckets of {b['bucket']}, {b['total']:,} events"),
        ("24 h histogram, errors of one file", "/api/histogram",
         {"from": day_ago, "level": "error", "file_id": files[3]},
         lambda b: f"{len(b['buckets'])} buckets, {b['total']:,} events"),
        ("newest 100 events, no filter", "/api/events", {"limit": "100"}, lambda b: f"{len(b['events'])} events"),
        ("oldest 100 of one file, second page", "/api/events", {"file_id": files[0], "order": "asc", "limit": "100"},
         lambda b: f"{len(b['events'])} events"),
        ("7 d histogram of a rare term", "/api/histogram", {"q": RARE}, lambda b: f"{b['total']} events"),
    ]  # fmt: skip
    say(f"latency over {repeats} repeats each (in-process, load {load()}):")
    try:
        for label, path, query, describe in cases:
            if label.endswith("second page"):
                first = client.get(path, query_string=query, headers=headers).get_json()
                query = {**query, "cursor": first["next_cursor"]}
            times = []
            body: Any = None
            for _ in range(repeats):
                t0 = time.perf_counter()
                r = client.get(path, query_string=query, headers=headers)
                times.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    raise RuntimeError(f"{label}: {r.status_code} {r.get_json()}")
                body = r.get_json()
            times.sort()
            p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
            say(f"  {label}: p50 {statistics.median(times):.0f} ms, p99 {p99:.0f} ms ({describe(body)})")
    finally:
        deps.close(app)


def copy_costs(settings: Settings, rows_n: int) -> None:
    """rows/s of COPY into a fresh events table with each candidate index on ts, and with
    the indexer following the stream log in a process of its own while the COPYs go on."""
    rows = Rows(rows_n, datetime.now(UTC).replace(microsecond=0), seed=2)
    batches = list(rows.batches())
    say(f"COPY of {rows_n:,} events in batches of {BATCH}, a transaction each (load {load()}):")
    runs: tuple[tuple[str, str | None, bool | None], ...] = (
        ("no index on ts (what ships)", None, False),
        ("BRIN on ts", "CREATE INDEX ON events USING brin (ts)", False),
        ("btree on ts", "CREATE INDEX ON events (ts)", False),
        ("no index on ts, a stream entry a batch", None, None),
        ("no index on ts, a stream entry a batch, the indexer following", None, True),
    )
    for name, ddl, follow in runs:
        s = Settings.from_env({}, **{**_psql(settings), "psql_db": f"logpipe_bench_copy_{uuid.uuid4().hex[:8]}"})
        db.ensure_database(s)
        conn = db.connect(s)
        indexer = None
        stop = multiprocessing.Event()
        try:
            migrate(conn)
            if ddl:
                conn.run(ddl)
            ensure_partitions(conn, {(d.year, d.month) for d in (rows.start, rows.end)})
            conn.run("CHECKPOINT")
            if follow:
                indexer = multiprocessing.Process(target=_follow, args=(s, stop), daemon=True)
                indexer.start()
            t0 = time.monotonic()
            for file_id, first, end_line, payload in batches:
                if follow is not False:  # None: entries, no indexer
                    conn.run("BEGIN")
                    conn.run(COPY_SQL, stream=[payload])
                    stream_db.append(conn, EVENTS, file_id=file_id, first_line=first, end_line=end_line)
                    conn.run("COMMIT")
                    stream_db.sequence(conn)
                else:
                    conn.run(COPY_SQL, stream=[payload])
            seconds = time.monotonic() - t0
            note = ""
            if follow:
                behind = stream_db.head(conn) - followers.watermark(conn, FOLLOWER)
                t1 = time.monotonic()
                stop.set()
                assert indexer is not None
                indexer.join()
                catch_up = index_pending(conn, budget_s=3600)
                note = (
                    f"; the indexer was {behind} of {len(batches)} blocks behind at the end and caught up "
                    f"{time.monotonic() - t1:.1f}s later ({catch_up.blocks} blocks)"
                )
            say(f"  {name}: {rows_n / seconds:,.0f} rows/s ({seconds:.1f}s){note}")
        finally:
            stop.set()
            if indexer is not None:
                indexer.join()
            conn.close()
            _drop(s)


def _follow(settings: Settings, stop: Any) -> None:
    """The indexer, as its schedule would run it, until told to stop."""
    conn = db.connect(settings)
    try:
        while not stop.is_set():
            if index_pending(conn, budget_s=5).caught_up:
                stop.wait(0.2)  # the scheduled run's pause: nothing to do until more arrives
    finally:
        conn.close()


def _psql(settings: Settings) -> dict[str, Any]:
    return {
        "psql_addr": settings.psql_addr,
        "psql_port": settings.psql_port,
        "psql_user": settings.psql_user,
        "psql_pass": settings.psql_pass,
    }


def _drop(settings: Settings) -> None:
    conn = db.connect(settings, database="postgres")
    try:
        conn.run(f"DROP DATABASE IF EXISTS {pg8000.native.identifier(settings.psql_db)} WITH (FORCE)")
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--copy-rows", type=int, default=1_000_000, help="rows of the COPY cost runs (0: skip them)")
    ap.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    ap.add_argument("--reuse", metavar="DB", help="query a database an earlier --keep run built (implies --keep)")
    args = ap.parse_args(argv)
    if args.events % (FILES * BATCH):
        ap.error(f"--events must be a multiple of {FILES * BATCH:,}")
    settings = Settings.from_env(
        {k: v for k, v in os.environ.items() if k.startswith("PSQL_")},
        psql_db=args.reuse or f"logpipe_bench_q_{uuid.uuid4().hex[:8]}",
        api_token=uuid.uuid4().hex,
    )
    args.keep = args.keep or bool(args.reuse)
    say(f"query benchmark: {args.events:,} events in {settings.psql_db}; {os.cpu_count()} cores, load {load()}")
    db.ensure_database(settings)
    try:
        conn = db.connect(settings)
        try:
            migrate(conn)
            newest = conn.run("SELECT max(ts_max) FROM search_blocks")[0][0] if args.reuse else None
        finally:
            conn.close()
        if newest is None:
            end, files = build(settings, args.events)
            index(settings, args.events)
        else:
            end, files = newest.replace(microsecond=0), Rows(FILES * BATCH, newest).files
        latency(settings, end, files, args.repeats)
        if args.copy_rows:
            copy_costs(settings, args.copy_rows)
    finally:
        if args.keep:
            say(f"kept database {settings.psql_db}")
        else:
            _drop(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
