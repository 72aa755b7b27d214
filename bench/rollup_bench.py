"""rollup-cron benchmark: prints figures, asserts nothing about time.

Builds the query benchmark's database (10,000,000 events by default: 20 files over 7
days, one stream entry per batch of 5,000, as the parse-worker commits them), then
times rollup-cron's runs as the schedule would make them: the first runs, which index
and count everything (each run stops indexing after its budget; the next goes on), and
then an incremental run after 100,000 more events were committed. The sweeps run
against a moto server of its own; no Pushgateway is pushed to.

    .venv/bin/python bench/rollup_bench.py [--events N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import query_bench as qb  # noqa: E402  (puts the layer and the runner on sys.path)

from logpipe import cron, db, logs  # noqa: E402
from logpipe.config import Settings  # noqa: E402
from logpipe.db import stream as stream_db  # noqa: E402
from logpipe.db.events import COPY_SQL  # noqa: E402
from logpipe.db.migrate import migrate  # noqa: E402
from logpipe.ingest import Context  # noqa: E402


def runs(settings: Settings, label: str) -> None:
    """rollup-cron runs until the index has caught up; their time, one by one and in all."""
    times = []
    while True:
        ctx = Context(settings)
        try:
            t0 = time.monotonic()
            summary = cron.run(ctx, budget_s=60)
            times.append(time.monotonic() - t0)
        finally:
            ctx.close()
        qb.say(f"  run {len(times)}: {times[-1]:.1f}s, {summary.indexed_blocks} blocks (load {qb.load()})")
        if summary.index_caught_up:
            break
    qb.say(f"{label}: {len(times)} run(s), {sum(times):.1f}s in all")


def more_events(settings: Settings, total: int) -> None:
    """``total`` more events committed batch by batch with their stream entries, as workers do."""
    conn = db.connect(settings)
    try:
        rows = qb.Rows(total, qb.datetime.now(qb.UTC), seed=2)  # 20 new files
        for file_id, first, end_line, payload in rows.batches():
            conn.run("BEGIN")
            conn.run(COPY_SQL, stream=[payload])
            stream_db.append(conn, stream_db.EVENTS, file_id=file_id, first_line=first, end_line=end_line)
            conn.run("COMMIT")
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    args = ap.parse_args(argv)
    logs.quiet_libraries()
    from moto.server import ThreadedMotoServer

    from logpipe_local.stack import provision_aws

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    tag = uuid.uuid4().hex[:8]
    settings = Settings.from_env(
        {k: v for k, v in os.environ.items() if k.startswith("PSQL_")},
        psql_db=f"logpipe_bench_r_{tag}",
        aws_endpoint_url=f"http://{host}:{port}",
        bucket=f"logpipe-bench-{tag}",
        ingest_queue=f"logpipe-bench-{tag}",
        dead_letter_queue=f"logpipe-bench-{tag}-dlq",
    )
    qb.say(f"rollup-cron benchmark: {args.events:,} events in {settings.psql_db}; load {qb.load()}")
    db.ensure_database(settings)
    try:
        conn = db.connect(settings)
        try:
            migrate(conn)
        finally:
            conn.close()
        provision_aws(settings)
        qb.build(settings, args.events)
        conn = db.connect(settings)
        try:
            conn.run("UPDATE stream_log SET pos = NULL")  # as written: the readers give positions
        finally:
            conn.close()
        runs(settings, f"first runs over {args.events:,} events")
        more_events(settings, 100_000)
        runs(settings, "incremental run after 100,000 more events")
        conn = db.connect(settings)
        try:
            sizes = conn.run(
                "SELECT (SELECT count(*) FROM rollup_minutes), (SELECT count(*) FROM rollup_hours),"
                " (SELECT count(*) FROM rollup_pattern_minutes), (SELECT count(*) FROM rollup_pattern_hours),"
                " pg_size_pretty(pg_total_relation_size('rollup_pattern_minutes'))"
            )[0]
        finally:
            conn.close()
        qb.say(f"rows: minutes {sizes[0]:,}, hours {sizes[1]:,}, pattern minutes {sizes[2]:,} ({sizes[4]}), "
               f"pattern hours {sizes[3]:,}")  # fmt: skip
    finally:
        qb._drop(settings)
        moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
