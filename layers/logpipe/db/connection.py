"""Opening Postgres connections (pg8000), by TCP or by a libpq-style socket directory."""

from __future__ import annotations

import os
import socket
import time

import pg8000.dbapi
import pg8000.native

from ..config import Settings
from ..errors import ServiceUnavailableError

# Errors that mean "the server is not there (yet)", as opposed to a bad query.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    pg8000.dbapi.InterfaceError,
    ConnectionError,
    OSError,
)


TIMEOUT_S = 30


def _open_socket(settings: Settings) -> socket.socket:
    if settings.psql_addr.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(TIMEOUT_S)
            sock.connect(os.path.join(settings.psql_addr, f".s.PGSQL.{settings.psql_port}"))
        except BaseException:
            sock.close()
            raise
        return sock
    sock = socket.create_connection((settings.psql_addr, settings.psql_port), TIMEOUT_S)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # As libpq does: without it, Nagle's algorithm holds the end of a COPY back until the
    # server's delayed ACK, about 40 ms per batch.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _open(settings: Settings, database: str) -> pg8000.native.Connection:
    # The socket is ours, so that it is closed when the server drops it during the
    # handshake (pg8000 leaves its own socket open in that case).
    sock = _open_socket(settings)
    try:
        conn = pg8000.native.Connection(
            user=settings.psql_user,
            password=settings.psql_pass or None,
            database=database,
            timeout=TIMEOUT_S,
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


def connect(settings: Settings, *, database: str | None = None, wait_s: float = 0.0) -> pg8000.native.Connection:
    """Open a connection, waiting up to ``wait_s`` seconds for the server to answer.

    Raises ``ServiceUnavailableError('postgres', ...)`` naming the address when it does not.
    """
    deadline = time.monotonic() + wait_s
    delay = 0.2
    while True:
        try:
            return _open(settings, database or settings.psql_db)
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
