"""The fault suite (``make test-faults``): worker processes ingest a mix of files while one
fault at a time is injected, again and again, at seeded random points of the work; then
Postgres must hold every line of every file exactly once.

Everything a fault touches is the test's own: a PostgreSQL cluster and a RabbitMQ node
started for this module (tests/private_services.py), moto's server behind a proxy, and the
worker processes, started as ``logpipe run`` starts them. A point of the work is a count
of rows the workers sent Postgres in their COPYs (tests/tcp_proxy.py ``after_count``),
drawn from the seed, so the fault lands in the middle of a batch wherever the timing falls.

The faults: kill -9 of the worker that is writing; Postgres restarted, frozen (SIGSTOP of
the whole cluster) and its backends terminated; RabbitMQ restarted and its connections
closed; the S3 endpoint gone for a while. Each ends in a row of the table printed at the
end of the run (tests/fault_table.py).
"""

from __future__ import annotations

import gzip
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pg8000.native
import pytest

from logpipe.config import Settings
from logpipe.errors import ServiceUnavailableError

import fault_table
from conftest import Api, build_settings, dead_letters, provision, query, settings_env
from private_services import PrivatePostgres, PrivateRabbit, postgres_available, rabbit_available
from tcp_proxy import TcpProxy

pytestmark = [pytest.mark.services, pytest.mark.faults]

ROUNDS = int(os.environ.get("LOGPIPE_FAULT_ROUNDS", "3"))  # times each fault is injected
WORKERS = 2
ROW = b" line number "  # once in every row of the files below, as COPY sends it
DONE_TIMEOUT_S = 240.0  # a guard against a hang, not a timing assertion
WORKER_CODE = "from logpipe_local.consumer import run_worker; run_worker('parse-worker', {})"


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    why = postgres_available()
    if why:
        pytest.skip(f"the fault suite starts a PostgreSQL of its own: {why}")
    pg = PrivatePostgres().start()
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def private_rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbit]:
    why = rabbit_available()
    if why:
        pytest.skip(f"the fault suite starts a RabbitMQ node of its own: {why}")
    node = PrivateRabbit(tmp_path_factory.mktemp("rabbit")).start()
    yield node
    node.stop()


# -- the work --------------------------------------------------------------------------------


@dataclass
class LogFile:
    name: str
    tag: str
    lines: int
    gzipped: bool = False

    def content(self) -> bytes:
        body = b"".join(
            f"2026-11-27T00:{i // 60 % 60:02d}:{i % 60:02d}Z INFO {self.tag} line number {i}\n".encode()
            for i in range(1, self.lines + 1)
        )
        return gzip.compress(body, 1) if self.gzipped else body


def mixed_files(rng: random.Random, plain_only: bool) -> list[LogFile]:
    """Files of a few chunks each (workers take them in parallel through the queue), and,
    unless ``plain_only``, a gzip and a small one that the planning worker parses itself."""
    files = [LogFile(f"big-{k}.log", f"b{k}", rng.randint(4000, 6000)) for k in range(3)]
    if not plain_only:
        files += [LogFile("packed.log.gz", "gz", rng.randint(2000, 3000), gzipped=True)]
        files += [LogFile("small.log", "s", rng.randint(50, 400))]
    return files


@dataclass
class Workers:
    """Worker processes, as ``logpipe run`` starts them; ``replace`` starts another for a dead one."""

    env: dict[str, str]
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        with open(self.logs / f"worker-{len(self.procs)}.log", "wb") as out:
            proc = subprocess.Popen([sys.executable, "-c", WORKER_CODE], env=self.env, stdout=out, stderr=out)
        self.procs.append(proc)

    def kill_owner_of(self, client: socket.socket) -> bool:
        """kill -9 of the worker whose connection ``client`` (the proxy's side) is, and
        another started in its place; False when no live worker owns it."""
        with self.lock:
            port = client.getpeername()[1]
            for proc in self.procs:
                if proc.poll() is None and owns_local_port(proc.pid, port):
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    self.start()
                    return True
        return False

    def tails(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(self.logs.glob("*.log"))
        )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def owns_local_port(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the TCP socket whose local port (on 127.0.0.1) is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


# -- the stage: private services, proxies, workers -------------------------------------------


@dataclass
class Stage:
    settings: Settings  # as the test sees the services: directly
    postgres: PrivatePostgres
    rabbit: PrivateRabbit | None
    pg_proxy: TcpProxy
    s3_proxy: TcpProxy
    workers: Workers
    rng: random.Random


@pytest.fixture
def make_stage(
    private_postgres: PrivatePostgres,
    private_rabbit: PrivateRabbit,
    moto_endpoint: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[str], Stage]]:
    made: list[Stage] = []

    def make(queue: str) -> Stage:
        fault_table.STARTED.append(request.node.name)
        database = private_postgres.create_database()
        rabbit = private_rabbit if queue == "rabbitmq" else None
        settings = build_settings(
            moto_endpoint,
            database,
            psql_port=private_postgres.port,
            chunk_bytes=64 * 1024,
            batch_rows=250,
            rabbitmq_url=rabbit.url if rabbit else "",
            rabbitmq_queue=f"logpipe.faults.{database}",
        )
        provision(settings)
        pg_proxy = TcpProxy("127.0.0.1", private_postgres.port)
        moto = moto_endpoint.rsplit(":", 1)
        s3_proxy = TcpProxy(moto[0].split("//")[1], int(moto[1]))
        worker_settings = replace(
            settings, psql_port=pg_proxy.port, aws_endpoint_url=f"http://127.0.0.1:{s3_proxy.port}"
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PSQL_", "RABBITMQ_", "LOGPIPE_", "AWS_"))}
        env = {
            **base,
            **settings_env(worker_settings),
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "LOGPIPE_OUTAGE_RETRY_S": "1",
        }
        workers = Workers(env, tmp_path)
        seed = f"{fault_table.SEED}:{request.node.name}"
        made.append(Stage(settings, private_postgres, rabbit, pg_proxy, s3_proxy, workers, random.Random(seed)))
        return made[-1]

    yield make
    for stage in made:
        stage.workers.stop()
        stage.pg_proxy.close()
        stage.s3_proxy.close()


# -- the faults ------------------------------------------------------------------------------

Inject = Callable[[Stage, socket.socket], None]


def kill_worker(stage: Stage, client: socket.socket) -> None:
    assert stage.workers.kill_owner_of(client), "no live worker owned the connection that wrote the row"


def restart_postgres(stage: Stage, client: socket.socket) -> None:
    stage.postgres.restart()


def freeze_postgres(stage: Stage, client: socket.socket) -> None:
    frozen = stage.postgres.freeze()
    try:
        threading.Event().wait(stage.rng.uniform(1, 4))  # how long it stays frozen: the fault itself
    finally:
        stage.postgres.thaw(frozen)


class Missed(Exception):
    """The fault found nothing to act on at its point (and is tried at another)."""


def terminate_backends(stage: Stage, client: socket.socket) -> None:
    # The session that wrote the row may be between connections by now (one ended by the
    # last point, and not opened again yet): then there is nothing to terminate.
    if stage.postgres.terminate_backends(stage.settings.psql_db) == 0:
        raise Missed("no session of the database to terminate")


def restart_rabbit(stage: Stage, client: socket.socket) -> None:
    assert stage.rabbit is not None
    stage.rabbit.restart()


def cut_rabbit(stage: Stage, client: socket.socket) -> None:
    assert stage.rabbit is not None
    stage.rabbit.close_connections()


def s3_gone(stage: Stage, client: socket.socket) -> None:
    stage.s3_proxy.cut()
    try:
        threading.Event().wait(stage.rng.uniform(1, 4))  # how long it stays away: the fault itself
    finally:
        stage.s3_proxy.restore()


# kill -9 acts in the proxy's thread, before the row is forwarded: the worker dies in the
# middle of its COPY. The others run beside the work, as an outage would.
IN_LINE = {kill_worker}


class Injection:
    """One fault, injected when the proxy's count is reached (``act``)."""

    def __init__(self, stage: Stage, inject: Inject) -> None:
        self.stage, self.inject = stage, inject
        self.fired, self.done = threading.Event(), threading.Event()
        self.errors: list[BaseException] = []
        self.missed = False

    def act(self, client: socket.socket) -> None:
        self.fired.set()
        if self.inject in IN_LINE:
            self._run(client)
        else:
            threading.Thread(target=self._run, args=(client,), daemon=True).start()

    def _run(self, client: socket.socket) -> None:
        try:
            self.inject(self.stage, client)
        except Missed:
            self.missed = True
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            self.errors.append(exc)
        finally:
            self.done.set()


def run_scenario(stage: Stage, fault: str, inject: Inject, queue: str) -> None:
    rng = stage.rng
    files = mixed_files(rng, plain_only=inject is kill_worker)
    api = Api(stage.settings)
    try:
        ids = {api.upload(f.name, f.content()): f for f in files}
    finally:
        api.close()
    total = sum(f.lines for f in files)
    for _ in range(WORKERS):
        stage.workers.start()

    injected = 0
    try:
        for _ in range(3 * ROUNDS):  # a point where the fault found nothing to act on is drawn again
            if injected == ROUNDS:
                break
            # The next point: a number of rows from now, within the work that is left.
            injection = Injection(stage, inject)
            stage.pg_proxy.after_count(ROW, rng.randint(1, max(total // (ROUNDS + 2), 2)), injection.act)
            fired = injection.fired
            wait_for(
                lambda fired=fired: fired.is_set() or all_done(stage.settings, ids), "the fault's point, or the end"
            )
            if not injection.fired.is_set():
                break
            assert injection.done.wait(DONE_TIMEOUT_S), f"{fault} did not finish"
            assert not injection.errors, injection.errors
            injected += 0 if injection.missed else 1
        stage.pg_proxy.after_count(ROW, 1 << 62, lambda _: None)  # disarmed
        wait_for(lambda: all_done(stage.settings, ids), "every file done", stage.workers.tails)
    finally:
        stage.workers.stop()

    lost = duplicated = 0
    wrong = []
    for file_id, f in ids.items():
        file_sql = "SELECT status, lines, events FROM files WHERE id = CAST(:f AS uuid)"
        state = query(stage.settings, file_sql, f=file_id)[0]
        rows, distinct, right = query(
            stage.settings,
            "SELECT count(*), count(DISTINCT line), coalesce(bool_and(message = :tag || ' line number ' || line "
            "AND line BETWEEN 1 AND :n), true) FROM events WHERE file_id = CAST(:f AS uuid)",
            f=file_id,
            tag=f.tag,
            n=f.lines,
        )[0]
        lost += f.lines - distinct
        duplicated += rows - distinct
        if not right or state != ["done", f.lines, f.lines]:
            wrong.append((f.name, f.lines, state, "rows that are not the file's lines" if not right else ""))
    fault_table.ROWS.append(fault_table.Row(fault, queue, injected, total, lost, duplicated))
    assert (lost, duplicated) == (0, 0), wrong
    assert wrong == []
    assert injected >= 1, f"{fault}: the work ended before the first point"
    assert dead_letters(stage.settings) == []


def all_done(settings: Settings, ids: dict[str, LogFile]) -> bool:
    """Whether every file is done; not yet, while a fault keeps Postgres from answering (or
    ends this very query: a restart, a terminated backend)."""
    try:
        rows = query(
            settings,
            "SELECT count(*) FROM files WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'done'",
            ids=list(ids),
        )
    except (ServiceUnavailableError, pg8000.native.InterfaceError, pg8000.native.DatabaseError):
        return False
    return int(rows[0][0]) == len(ids)


def wait_for(cond: Callable[[], bool], what: str, details: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + DONE_TIMEOUT_S
    while not cond():
        assert time.monotonic() < deadline, f"waited {DONE_TIMEOUT_S} s for {what}\n{details()}"
        time.sleep(0.2)


FAULTS: list[tuple[str, Inject, tuple[str, ...]]] = [
    ("worker killed (-9) mid-COPY", kill_worker, ("rabbitmq",)),
    ("postgres restarted", restart_postgres, ("sqs", "rabbitmq")),
    ("postgres frozen (SIGSTOP 1-4 s)", freeze_postgres, ("sqs", "rabbitmq")),
    ("postgres backends terminated", terminate_backends, ("sqs", "rabbitmq")),
    ("rabbitmq restarted", restart_rabbit, ("rabbitmq",)),
    ("rabbitmq connections closed", cut_rabbit, ("rabbitmq",)),
    ("s3 endpoint gone (1-4 s)", s3_gone, ("sqs", "rabbitmq")),
]


@pytest.mark.parametrize(
    ("fault", "inject", "queue"),
    [pytest.param(name, fn, q, id=f"{fn.__name__}-{q}") for name, fn, queues in FAULTS for q in queues],
)
def test_fault_loses_and_duplicates_nothing(
    make_stage: Callable[[str], Stage], fault: str, inject: Inject, queue: str
) -> None:
    run_scenario(make_stage(queue), fault, inject, queue)
