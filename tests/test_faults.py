"""Failures of the services under the worker: Postgres or RabbitMQ going away mid-run or
missing at start, and a worker killed with -9 in the middle of a chunk.

Outages are made for real with a TCP proxy (tests/tcp_proxy.py) between the worker and the
service; every other connection of the test goes straight to the service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from logpipe.config import Settings
from logpipe.errors import RetryableError
from logpipe.ingest import Context, handle_deliveries
from logpipe.ingest.sweep import requeue_stalled
from logpipe.queue import Delivery, Outcome, all_queues

from conftest import TOKEN, Api, dead_letters, pump, query, settings_env
from tcp_proxy import TcpProxy, closed_port

pytestmark = pytest.mark.services

LOGPIPE = Path(sys.executable).with_name("logpipe")


def numbered_lines(n: int) -> bytes:
    return b"".join(f"2026-11-27T00:00:{i % 60:02d}Z INFO line number {i}\n".encode() for i in range(1, n + 1))


def file_state(settings: Settings, file_id: str) -> tuple[str, int, int]:
    status, lines, events = query(
        settings, "SELECT status, lines, events FROM files WHERE id = CAST(:f AS uuid)", f=file_id
    )[0]
    return status, lines, events


def assert_exact(settings: Settings, file_id: str, n: int) -> None:
    """The file is done with every line stored exactly once."""
    assert file_state(settings, file_id) == ("done", n, n)
    assert query(
        settings,
        "SELECT count(*), count(DISTINCT line), min(line), max(line), "
        "bool_and(message = 'line number ' || line) FROM events WHERE file_id = CAST(:f AS uuid)",
        f=file_id,
    )[0] == [n, n, 1, n, True]


Log = list[tuple[Delivery, Outcome] | RetryableError]


def drive(settings: Settings, ctx: Context, until: Callable[[], bool], log: Log, timeout_s: float = 60) -> None:
    """Work the queues as a worker does until ``until()``: receive, handle, settle. Nothing may be dead-lettered.

    A queue that does not answer is waited out, as the local worker does; its unsettled
    messages come back by themselves. Every outcome and queue error goes into ``log``.
    """
    queues = all_queues(settings)
    deadline = time.monotonic() + timeout_s
    try:
        while not until():
            assert time.monotonic() < deadline, "did not get there in time"
            got = 0
            for q in queues:
                try:
                    deliveries = q.receive(10, wait_s=0.2)
                    got += len(deliveries)
                    results = handle_deliveries(ctx, deliveries, time.monotonic() + 600)
                    for d, outcome in zip(deliveries, results, strict=True):
                        log.append((d, outcome))
                        assert outcome.action != "dead_letter", f"dead-lettered on attempt {d.attempt}: {outcome.error}"
                        q.settle(d, outcome)
                except RetryableError as exc:
                    log.append(exc)
            if not got:
                time.sleep(0.1)
    finally:
        for q in queues:
            q.close()


def copy_of_line(n: int) -> bytes:
    """What the worker sends Postgres when line ``n`` of ``numbered_lines`` is in a COPY:
    a hook on it acts in the middle of that batch, whatever the timing."""
    return f"\tline number {n}\t".encode()


def outcomes(log: Log) -> list[tuple[Delivery, Outcome]]:
    return [e for e in log if isinstance(e, tuple)]


def through_outage(
    settings: Settings, worker: Settings, file_id: str, proxy: TcpProxy, log: Log, while_away: Callable[[Log], bool]
) -> int:
    """Run ``worker`` until ``proxy`` cuts its service off, on while the service stays away
    until ``while_away`` holds of what was logged since the cut, then with the service back
    until the file is done; the file, watched through ``settings``, is not done before.
    Gives where the cut is in ``log``."""
    ctx = Context(worker)
    try:
        drive(worker, ctx, lambda: proxy.is_cut, log)
        assert file_state(settings, file_id)[0] != "done"
        at_cut = len(log)
        drive(worker, ctx, lambda: while_away(log[at_cut:]), log)
        assert file_state(settings, file_id)[0] != "done"
        proxy.restore()
        drive(worker, ctx, lambda: file_state(settings, file_id)[0] == "done", log)
    finally:
        ctx.close()
    return at_cut


# -- a service goes away mid-run -------------------------------------------------------------


def test_postgres_down_mid_run_loses_and_duplicates_nothing(make_api: Callable[..., Api]) -> None:
    # max_attempts=1: if an outage counted as an attempt, the first failure would dead-letter.
    api = make_api(chunk_bytes=16384, batch_rows=50, max_attempts=1)
    settings = api.settings
    n = 8000
    file_id = api.upload("outage.log", numbered_lines(n))
    log: Log = []
    with TcpProxy(settings.psql_addr, settings.psql_port) as proxy:
        proxy.cut_at(copy_of_line(n // 4))  # Postgres goes away a quarter of the way in
        worker = replace(settings, psql_port=proxy.port)

        # Postgres stays away while messages come back: each is retried again and again,
        # more often than max_attempts would allow if an outage counted as a try.
        def retried_twice(since_cut: Log) -> bool:
            retries = [o for _, o in outcomes(since_cut) if o.action == "retry"]
            return len(retries) > settings.max_attempts

        at_cut = through_outage(settings, worker, file_id, proxy, log, retried_twice)
        assert proxy.connections > 1  # the worker came back through a new connection

    after_cut = outcomes(log[at_cut:])
    failed = [(d, o) for d, o in after_cut if o.action != "ack"]
    # Every one a retry on the same try: an outage does not use up the tries.
    assert failed and all(o.action == "retry" and o.next_attempt == d.attempt for d, o in failed), failed
    assert_exact(settings, file_id, n)
    assert dead_letters(settings) == []


def test_postgres_cut_inside_a_copy_loses_and_duplicates_nothing(make_api: Callable[..., Api]) -> None:
    """The connection drops halfway through a batch's COPY: the rows that reached Postgres
    roll back with their transaction, and the retry writes the batch once."""
    api = make_api(chunk_bytes=1 << 20, batch_rows=500, max_attempts=1)
    settings = api.settings
    n = 4000
    file_id = api.upload("cut-in-copy.log", numbered_lines(n))
    log: Log = []
    with TcpProxy(settings.psql_addr, settings.psql_port) as proxy:
        # Line 1750 is in the fourth batch (1501-2000), inside its COPY data.
        proxy.cut_at(b"\tline number 1750\t")
        worker = replace(settings, psql_port=proxy.port)
        ctx = Context(worker)
        try:
            drive(worker, ctx, lambda: proxy.is_cut, log)
            at_cut = len(log)
            drive(worker, ctx, lambda: any(o.action == "retry" for _, o in outcomes(log[at_cut:])), log)
            # Three batches were committed before the cut; none of the fourth's rows stayed.
            assert file_state(settings, file_id) == ("processing", 1500, 1500)
            proxy.restore()
            drive(worker, ctx, lambda: file_state(settings, file_id)[0] == "done", log)
        finally:
            ctx.close()
        assert proxy.cuts == 1 and proxy.connections > 1  # one cut, then a new connection
    assert_exact(settings, file_id, n)
    assert dead_letters(settings) == []


def test_pattern_aliases_of_a_commit_cut_short_are_written_by_the_retry(make_api: Callable[..., Api]) -> None:
    """The batch whose lines make a template generalise carries the aliases of the ids
    handed out before; when its commit fails, the retry (same miner, which has moved on)
    still writes them."""
    api = make_api(batch_rows=10, max_attempts=1)
    settings = api.settings
    lines = [f"2026-03-01T10:00:0{i}Z INFO user {n} logged in" for i, n in enumerate(("alice", "bob", "carol"))]
    lines += [f"2026-03-01T10:00:10Z INFO disk check at step {i}" for i in range(4, 11)]
    lines += ["2026-03-01T10:00:11Z INFO user dave logged in"]  # the fourth name: a variable now
    lines += [f"2026-03-01T10:00:12Z INFO disk check at step {i}" for i in range(12, 21)]
    file_id = api.upload("aliases.log", ("\n".join(lines) + "\n").encode())
    log: Log = []
    with TcpProxy(settings.psql_addr, settings.psql_port) as proxy:
        proxy.cut_at(b"\tdisk check at step 15\t")  # inside the second batch's COPY
        worker = replace(settings, psql_port=proxy.port)
        ctx = Context(worker)
        try:
            drive(worker, ctx, lambda: proxy.is_cut, log)
            assert file_state(settings, file_id)[1] == 10  # the first batch only
            proxy.restore()
            drive(worker, ctx, lambda: file_state(settings, file_id)[0] == "done", log)
        finally:
            ctx.close()
    ids = [r[0] for r in query(settings, "SELECT pattern_id FROM events ORDER BY line")]
    general = ids[10]
    aliases = query(settings, "SELECT id, target, template FROM pattern_aliases ORDER BY id")
    assert aliases == sorted([i, general, "user <*> logged in"] for i in ids[:3])


def rabbit_through(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's, keeping credentials and vhost."""
    parts = urlsplit(url)
    creds = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{creds}127.0.0.1:{port}"))


def test_rabbitmq_down_mid_run_loses_and_duplicates_nothing(rabbit_settings: Settings) -> None:
    settings = replace(rabbit_settings, chunk_bytes=16384, batch_rows=50, max_attempts=1)
    api = Api(settings)
    n = 8000
    log: Log = []
    try:
        file_id = api.upload("rabbit-outage.log", numbered_lines(n))
        broker = urlsplit(settings.rabbitmq_url)
        with (
            TcpProxy(broker.hostname or "127.0.0.1", broker.port or 5672) as proxy,
            TcpProxy(settings.psql_addr, settings.psql_port) as postgres,
        ):
            # RabbitMQ goes away while the worker is in the middle of a chunk: at the moment
            # it writes line n/4 to Postgres (which stays up, and is only watched).
            postgres.when_sent(copy_of_line(n // 4), proxy.cut)
            worker = replace(
                settings, rabbitmq_url=rabbit_through(settings.rabbitmq_url, proxy.port), psql_port=postgres.port
            )

            # RabbitMQ stays away a little: receiving and settling fail, nothing is lost meanwhile.
            def refused_thrice(since_cut: Log) -> bool:
                return sum(isinstance(e, RetryableError) for e in since_cut) >= 3

            at_cut = through_outage(settings, worker, file_id, proxy, log, refused_thrice)
            assert proxy.connections > 1
    finally:
        api.close()

    assert all("RabbitMQ" in str(e) for e in log[at_cut:] if isinstance(e, RetryableError))
    assert_exact(settings, file_id, n)
    assert dead_letters(settings) == []


# -- a service is missing at start -----------------------------------------------------------


def run_logpipe(env: dict[str, str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PSQL_", "RABBITMQ_", "LOGPIPE_"))}
    return subprocess.run(
        [str(LOGPIPE), "--data-dir", str(data_dir), "run", "--port", "0", "--workers", "1"],
        env={**base, "LOGPIPE_API_TOKEN": TOKEN, **env},
        capture_output=True,
        text=True,
        timeout=120,  # a guard against a hang, not a timing assertion
        check=False,
    )


@pytest.fixture
def refused() -> Iterator[int]:
    """A 127.0.0.1 port where nothing listens (and nothing can start listening meanwhile)."""
    s = closed_port()
    yield s.getsockname()[1]
    s.close()


def test_run_without_postgres_says_so_and_exits(refused: int, moto_endpoint: str, tmp_path: Path) -> None:
    env = {"PSQL_ADDR": "127.0.0.1", "PSQL_PORT": str(refused), "AWS_ENDPOINT_URL": moto_endpoint}
    done = run_logpipe(env, tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"postgres is not reachable: postgres at 127.0.0.1:{refused}/" in done.stderr
    assert "Traceback" not in done.stderr
    assert "logpipe is running" not in done.stdout
    assert not (tmp_path / "postgres").exists()  # it did not quietly start an embedded one instead


def test_run_without_rabbitmq_says_so_and_exits(
    refused: int, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    s = make_settings()
    env = {**settings_env(s), "RABBITMQ_URL": f"amqp://guest:secret-word@127.0.0.1:{refused}/%2F"}
    done = run_logpipe(env, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "RabbitMQ" in done.stderr and f"127.0.0.1:{refused}" in done.stderr
    assert "secret-word" not in done.stderr
    assert "Traceback" not in done.stderr
    assert "logpipe is running" not in done.stdout


# -- a worker killed with -9 -----------------------------------------------------------------


def test_worker_killed_mid_chunk_loses_and_duplicates_nothing(make_api: Callable[..., Api], tmp_path: Path) -> None:
    api = make_api(chunk_bytes=256 * 1024, batch_rows=100)
    settings = api.settings
    n = 60_000
    file_id = api.upload("killed.log", numbered_lines(n))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PSQL_", "RABBITMQ_", "LOGPIPE_"))},
        **settings_env(settings),
    }
    code = "from logpipe_local.consumer import run_worker; run_worker('parse-worker', {})"
    # The worker reaches Postgres through a proxy that kills it the moment it writes line
    # 650 in a COPY: six batches of the first chunk (of about 6,000 lines) are committed,
    # and the seventh never will be.
    started = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []

    def kill() -> None:
        assert started.wait(60)
        procs[0].send_signal(signal.SIGKILL)

    with TcpProxy(settings.psql_addr, settings.psql_port) as postgres:
        postgres.when_sent(copy_of_line(6 * settings.batch_rows + 50), kill)
        env.update(settings_env(replace(settings, psql_port=postgres.port)))
        with open(tmp_path / "worker.log", "wb") as worker_log:
            procs.append(subprocess.Popen([sys.executable, "-c", code], env=env, stdout=worker_log, stderr=worker_log))
        started.set()
        proc = procs[0]
        try:
            proc.wait(timeout=120)  # a guard against a hang, not a timing assertion
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "worker.log").read_text()
    status, _, events = file_state(settings, file_id)
    assert status != "done" and 0 < events < n
    # The killed chunk is part committed: its middle.
    assert query(
        settings,
        "SELECT count(*) FROM chunks WHERE file_id = CAST(:f AS uuid) AND NOT done AND next_line > first_line",
        f=file_id,
    ) == [[1]]

    # What `logpipe run` does at start; otherwise the killed worker's message would come
    # back by itself once its visibility timeout (a minute locally) is over.
    ctx = Context(settings)
    try:
        assert requeue_stalled(ctx) >= 1
    finally:
        ctx.close()
    pump(settings)

    assert_exact(settings, file_id, n)
    assert dead_letters(settings) == []
