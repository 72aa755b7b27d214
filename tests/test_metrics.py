"""Metrics that add up: reports applied once, totals that neither lose nor double counts
while processes come and go, checked in a real Prometheus fed by a real Pushgateway
against the tables; and ``GET /metrics`` of the local runner."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, push_to_gateway
from werkzeug.test import Client

from logpipe import cron, db, metrics
from logpipe.config import Settings
from logpipe.db import metrics as metrics_db
from logpipe.ingest import Context
from logpipe.metrics import push

import prom
from conftest import Api, query, settings_env

pytestmark = pytest.mark.services


def test_reports_are_applied_once_and_folding_moves_no_total(make_settings: Callable[..., Settings]) -> None:
    """Many processes report at once, some reports twice (a commit whose answer was lost):
    the totals are the sums of what each counted, and folding quiet processes keeps them."""
    settings = make_settings()
    expected: dict[str, float] = {}
    lock = threading.Lock()

    def process(n: int) -> None:
        rnd = random.Random(n)
        conn = db.connect(settings)
        try:
            for number in range(1, 41):
                deltas = [(f"logpipe_test_{k}_total", f'{{"k":"{k}"}}', float(rnd.randrange(1, 9))) for k in range(3)]
                for _ in range(1 + (rnd.random() < 0.3)):  # sent again as it was
                    metrics_db.report(conn, f"proc-{n}", number, deltas, [])
                with lock:
                    for name, _, v in deltas:
                        expected[name] = expected.get(name, 0.0) + v
        finally:
            conn.close()

    threads = [threading.Thread(target=process, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conn = db.connect(settings)
    try:
        totals = {name: v for name, _, v in metrics_db.totals(conn, 60)}
        assert totals == expected
        assert metrics_db.fold_quiet(conn, quiet_s=0, forget_s=3600) == 8
        assert {name: v for name, _, v in metrics_db.totals(conn, 60)} == expected
        assert query(settings, "SELECT DISTINCT instance FROM metric_values") == [[""]]
        # A process that wakes up later adds rows of its own again, and nothing is lost.
        metrics_db.report(conn, "proc-0", 41, [("logpipe_test_0_total", '{"k":"0"}', 5.0)], [])
        assert {name: v for name, _, v in metrics_db.totals(conn, 60)}["logpipe_test_0_total"] == (
            expected["logpipe_test_0_total"] + 5
        )
    finally:
        conn.close()


def _upload_files(api: Api, n: int, lines: int) -> None:
    for f in range(n):
        body = "".join(
            f"2026-11-27T0{f}:{i // 60 % 60:02d}:{i % 60:02d}Z {('INFO', 'WARN', 'ERROR')[i % 3]} file {f} line {i}\n"
            for i in range(lines)
        )
        api.upload(f"file-{f}.log", body.encode())


def _all_done(settings: Settings, files: int, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while query(settings, "SELECT count(*) FROM files WHERE status = 'done'")[0][0] < files:
        assert time.monotonic() < deadline, query(settings, "SELECT name, status, error FROM files")
        time.sleep(0.3)  # the workers run in other processes; this polls their result


def _events_committed(settings: Settings, at_least: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while query(settings, "SELECT count(*) FROM events")[0][0] < at_least:
        assert time.monotonic() < deadline, "no events were committed"
        time.sleep(0.1)


def test_prometheus_sums_equal_postgres_while_workers_come_and_go(make_api: Callable[..., Api], tmp_path: Path) -> None:
    api = make_api(chunk_bytes=16384, batch_rows=200)
    stack = f"test-{os.getpid()}-{random.randrange(10**6)}"
    files, lines = 6, 3000
    _upload_files(api, files, lines)

    spawn = multiprocessing.get_context("spawn")
    env = {**settings_env(api.settings), "LOGPIPE_LOG_LEVEL": "WARNING"}
    from logpipe_local.consumer import run_worker

    def start() -> multiprocessing.process.BaseProcess:
        p = spawn.Process(target=run_worker, args=("parse-worker", env), daemon=True)
        p.start()
        return p

    workers = [start() for _ in range(4)]
    try:
        _events_committed(api.settings, 2000)
        os.kill(workers[0].pid or 0, signal.SIGKILL)  # gone without a word, mid-work maybe
        workers[1].terminate()  # gone after the message at hand
        workers[1].join(60)
        workers += [start(), start()]  # and new ones come
        _all_done(api.settings, files)
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.join(60)
            if w.is_alive():
                w.kill()

    pushed = replace(api.settings, pushgateway_url="", stack=stack)
    with prom.pushgateway(tmp_path) as gateway:
        target = gateway.removeprefix("http://")
        with prom.prometheus(tmp_path, prom.scrape_config("pushgateway", target)) as prometheus:
            settings = replace(pushed, pushgateway_url=gateway)
            ctx = Context(settings)
            try:
                cron.run(ctx, budget_s=60)  # indexes, counts, pushes; and again: nothing doubles
                summary = cron.run(ctx, budget_s=60)
            finally:
                ctx.close()
            assert summary.pushed_groups == 2 and summary.index_caught_up
            # A scrape after both pushes sees both groups' last push times, the earlier included.
            pushed_at = min(t for labels, t in push.groups(gateway) if labels.get("stack") == stack)
            prom.wait_for(prometheus, f'min(push_time_seconds{{stack="{stack}"}})', pushed_at)

            def total(expr: str) -> float | None:
                return prom.scalar(prometheus, f'sum({expr}{{stack="{stack}"}})')

            [[lines_in, events_in, bytes_in]] = query(
                api.settings, "SELECT sum(lines), sum(events), sum(size) FROM files"
            )
            [[rows]] = query(api.settings, "SELECT count(*) FROM events")
            assert lines_in == files * lines and events_in == rows
            assert total("logpipe_parsed_lines_total") == lines_in
            assert total("logpipe_parsed_events_total") == rows
            assert total("logpipe_parsed_bytes_total") == bytes_in
            assert total("logpipe_events_total") == rows  # from the rollups, pushed by rollup-cron
            assert prom.scalar(prometheus, f'logpipe_files{{stack="{stack}",status="done"}}') == files
            [[chunks]] = query(api.settings, "SELECT count(*) FROM chunks")
            # Durations are observed in the process and reported as its invocation ends (one
            # chunk message an invocation): the worker killed with -9 may take one with it.
            assert total("logpipe_chunk_duration_seconds_count") >= chunks - 1
            invocations = prom.scalar(
                prometheus, f'sum(logpipe_invocations_total{{stack="{stack}",function="parse-worker"}})'
            )
            assert invocations is not None and invocations >= files  # one a notification at least

            # A deployment that is gone left its group: the sweep deletes it, and only it.
            registry = CollectorRegistry()
            Counter("logpipe_left_behind", "a group nobody pushes", registry=registry).inc()
            push_to_gateway(gateway, push.JOB, registry, push.grouping_key(f"{stack}-gone", "functions"))
            ctx = Context(settings)
            try:
                cron.run(ctx, budget_s=60)
            finally:
                ctx.close()
            groups = push.groups(gateway)
            [gone_at] = [t for labels, t in groups if labels.get("stack") == f"{stack}-gone"]
            ours_at = min(t for labels, t in groups if labels.get("stack") == stack)
            assert gone_at < ours_at  # rollup-cron pushed its groups after that one
            now = ours_at + 600  # as if ten minutes had passed; the threshold falls between the two
            assert push.delete_stale_groups(gateway, now - (gone_at + ours_at) / 2, now=now) == 1
            assert {labels["stack"] for labels, _ in push.groups(gateway)} == {stack}


def test_local_runner_serves_the_totals_at_metrics(make_settings: Callable[..., Settings]) -> None:
    from logpipe_local import template
    from logpipe_local.runner import Dispatcher, MetricsPage

    settings = make_settings()
    specs = [s for s in template.load() if s.name == "query-api"]
    os.environ.update(settings_env(settings))
    sys.modules.pop("query_api", None)  # its settings are read as it loads: these ones
    try:
        dispatcher = Dispatcher(specs, "WARNING", MetricsPage(settings))
        client = Client(dispatcher)
        headers = {"Authorization": f"Bearer {settings.api_token}"}
        # What this process counted before (other tests) goes to this database first.
        conn = db.connect(settings)
        try:
            metrics.report(conn)
            found = [v for name, labels, v in metrics_db.totals(conn, 60)
                     if name == "logpipe_invocations_total" and "query-api" in labels]  # fmt: skip
        finally:
            conn.close()
        before = found[0] if found else 0.0
        assert client.get("/api/files", headers=headers).status_code == 200
        assert client.get("/api/events/nope", headers=headers).status_code == 400
        page = client.get("/metrics")
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/plain")
        text = page.get_data(as_text=True)
        stack = f'stack="{settings.stack}"'
        line = next(x for x in text.splitlines() if x.startswith("logpipe_invocations_total{") and "query-api" in x)
        assert stack in line and float(line.rsplit(" ", 1)[1]) == before + 2
        assert f'logpipe_files{{group="pipeline",{stack},status="done"}} 0.0' in text
        dlq = f'logpipe_queue_messages{{group="pipeline",queue="{settings.dead_letter_queue}",role="dead_letter"'
        dlq += f",{stack}}}"
        assert f"{dlq} 0.0" in text, text
    finally:
        from logpipe.http import deps

        deps.close(sys.modules.pop("query_api").app)
