"""Opening Postgres connections (pg8000), by TCP or by a libpq-style socket directory."""

from __future__ import annotations

import os
import socket
import time

import pg8000.dbapi
import pg8000.native

from ..config import Settings
from ..errors import ServiceUnavailableError

# Errors that mean "the server is not there (yet)", as opposed to a bad query. A server
# that answers but refuses the session (starting up, shutting down, too many clients, a
# database that allows no connections) says so with an error of its own: DatabaseError.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pg8000.dbapi.InterfaceError,
    pg8000.dbapi.DatabaseError,
    ConnectionError,
    OSError,
)


TIMEOUT_S = 30


def _open_socket(settings: Settings, timeout_s: float) -> socket.socket:
    if settings.psql_addr.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout_s)
            sock.connect(os.path.join(settings.psql_addr, f".s.PGSQL.{settings.psql_port}"))
        except BaseException:
            sock.close()
            raise
        return sock
    sock = socket.create_connection((settings.psql_addr, settings.psql_port), timeout_s)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # As libpq does: without it, Nagle's algorithm holds the end of a COPY back until the
    # server's delayed ACK, about 40 ms per batch.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _open(settings: Settings, database: str, timeout_s: float) -> pg8000.native.Connection:
    # The socket is ours, so that it is closed when the server drops it during the
    # handshake (pg8000 leaves its own socket open in that case).
    sock = _open_socket(settings, timeout_s)
    try:
        conn = pg8000.native.Connection(
            user=settings.psql_user,
            password=settings.psql_pass or None,
            database=database,
            timeout=timeout_s,
            sock=sock,
        )
        conn.run("SET TIME ZONE 'UTC'")
        return conn
    except BaseException:
        sock.close()
        raise


def describe(settings: Settings) -> str:
    where = settings.psql_addr if settings.psql_addr.startswith("/") else f"{settings.psql_addr}:{settings.psql_port}"
    return f"postgres at {where}/{settings.psql_db}"


def connect(
    settings: Settings, *, database: str | None = None, wait_s: float = 0.0, timeout_s: float = TIMEOUT_S
) -> pg8000.native.Connection:
    """Open a connection, waiting up to ``wait_s`` seconds for the server to answer; each
    attempt, and each read or write on the connection it opens, gives up after ``timeout_s``.

    Raises ``ServiceUnavailableError('postgres', ...)`` naming the address when it does not
    answer, or answers by refusing the session.
    """
    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        try:
            return _open(settings, database or settings.psql_db, timeout_s)
        except CONNECTION_ERRORS as exc:
            if time.monotonic() + delay > deadline:
                raise ServiceUnavailableError("postgres", f"{describe(settings)}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def ensure_database(settings: Settings) -> bool:
    """Create ``settings.psql_db`` if it does not exist. Returns True when it created it."""
    conn = connect(settings, database="postgres")
    try:
        rows = conn.run("SELECT 1 FROM pg_database WHERE datname = :name", name=settings.psql_db)
        if rows:
            return False
        conn.run(f"CREATE DATABASE {pg8000.native.identifier(settings.psql_db)}")
        return True
    finally:
        conn.close()
