"""PostgreSQL and RabbitMQ of a test's own, to restart, freeze and cut without disturbing
any other test: each runs from a temporary directory, on free ports of 127.0.0.1.

- ``PrivatePostgres``: ``initdb`` and ``pg_ctl`` of the newest PostgreSQL under
  ``/usr/lib/postgresql`` (as the ``postgres`` user when the tests run as root, which
  ``initdb`` refuses), trust authentication, its socket in its own directory.
- ``PrivateRabbit``: a RabbitMQ node of its own name, ports, database, cookie and
  ``rabbitmqctl``, with no plugins.

Both wait for their service with a deadline and fail loudly, naming their log, when it
does not come.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pg8000.native

PG_ROOTS = sorted(
    Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
)
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
START_TIMEOUT_S = 120.0  # a guard against a service that never comes, not a timing assertion


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on at the moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def postgres_available() -> str | None:
    """Why a private PostgreSQL cannot start here, or None when it can."""
    if not PG_ROOTS or not (PG_ROOTS[-1] / "initdb").exists():
        return "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user for initdb to run as"
    return None


def rabbit_available() -> str | None:
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        return f"no RabbitMQ server under {RABBIT_BIN}"
    return None


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary directory of its own (one ``initdb`` running as
    ``postgres`` can reach), listening on ``127.0.0.1:<port>``; ``user`` postgres."""

    def __init__(self) -> None:
        self.bin = PG_ROOTS[-1]
        self.root = Path(tempfile.mkdtemp(prefix="logpipe-faults-pg-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.user = "postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}\n{log}")

    def start(self) -> PrivatePostgres:
        if self._as:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync", "-E", "UTF8"
        )
        self._pg_ctl_start()
        return self

    def _pg_ctl_start(self) -> None:
        # fsync off: the cluster is thrown away, and only stopped cleanly or frozen.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "120",
            "start",
        )

    def connect(self, database: str = "postgres") -> pg8000.native.Connection:
        return pg8000.native.Connection(user=self.user, host="127.0.0.1", port=self.port, database=database)

    def create_database(self) -> str:
        name = f"logpipe_faults_{uuid.uuid4().hex[:8]}"
        conn = self.connect()
        conn.run(f"CREATE DATABASE {name}")
        conn.close()
        return name

    def restart(self) -> None:
        """Stop (fast: every session is ended, every open transaction rolled back) and start again."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "120", "stop")
        self._pg_ctl_start()

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def _processes(self) -> list[int]:
        """The postmaster and every process it started (backends, checkpointer, ...)."""
        pid = self.postmaster_pid()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [pid, *map(int, children)]

    def freeze(self) -> list[int]:
        """SIGSTOP the whole cluster: connections stay open and nothing answers. Returns
        what was stopped, for ``thaw``."""
        frozen = self._processes()
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        return frozen

    def thaw(self, frozen: list[int]) -> None:
        for pid in frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def terminate_backends(self, database: str) -> int:
        """End every session of ``database`` but this one, as an administrator's
        ``pg_terminate_backend`` does; returns how many."""
        conn = self.connect()
        try:
            rows = conn.run(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :d AND pid <> pg_backend_pid()",
                d=database,
            )
        finally:
            conn.close()
        return int(rows[0][0])

    def stop(self) -> None:
        try:
            self.thaw(self._processes())
        except (OSError, ValueError):
            pass
        subprocess.run(
            [*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRabbit:
    """A RabbitMQ node of its own (name, ports, database, Erlang cookie) in ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.node = f"logpipe-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.log = root / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")},
            "HOME": str(root),  # the node's own Erlang cookie, and rabbitmqctl's
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(root / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(root / "rabbitmq.pid"),
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def start(self) -> PrivateRabbit:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq.conf").write_text("loopback_users.guest = true\n")
        with open(self.log, "wb") as out:
            self._proc = subprocess.Popen(
                [str(RABBIT_BIN / "rabbitmq-server")], env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        self._wait_accepting()
        self.ctl("await_startup", timeout_s=START_TIMEOUT_S)
        return self

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not accepts(self.port):
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited; see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.node} does not accept on {self.port}; see {self.log}")
            time.sleep(0.2)

    def ctl(self, *args: str, timeout_s: float = 60) -> str:
        done = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,  # a guard against a hang
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stdout}{done.stderr}; see {self.log}")
        return done.stdout

    def restart(self) -> None:
        """Stop the broker and start it again in the same node: every connection drops, and
        the durable queues come back from disk with their persistent messages."""
        self.ctl("stop_app")
        self.ctl("start_app", timeout_s=START_TIMEOUT_S)
        self._wait_accepting()

    def close_connections(self) -> None:
        """Close every client connection of this node (they are all the test's)."""
        self.ctl("close_all_connections", "closed by the fault test")

    def stop(self) -> None:
        if self._proc is not None:
            try:
                self.ctl("stop", timeout_s=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                os.killpg(self._proc.pid, signal.SIGKILL)
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
