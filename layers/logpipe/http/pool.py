"""The Postgres connections that the requests of one HTTP app share."""

from __future__ import annotations

import functools
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pg8000.native

from .. import db
from ..config import Settings
from ..errors import LogpipeError, ServiceUnavailableError

# pg8000 turns a query's :named parameters into $n by scanning its text a character at a
# time, at every run: a millisecond of the interpreter for the webhook's statement, more than
# the rest of its request's Python, on every request of every server thread. What it makes
# depends on the text alone (the values are bound later), so the result is kept; the
# queries are the code's own texts, a few hundred at most.
pg8000.native.to_statement = functools.lru_cache(maxsize=1024)(pg8000.native.to_statement)  # type: ignore[attr-defined]

# pg8000's status byte from the server's last ReadyForQuery: b"I" idle, b"T" in a
# transaction, b"E" in a failed one.
_IDLE = b"I"


def reusable(conn: pg8000.native.Connection) -> bool:
    """Whether ``conn`` is fit to serve another request: open, outside any transaction, and
    with nothing from the server waiting to be read (an answer left unread by an error, or
    the notice and end of file of a backend that was terminated or a link that was cut).

    Costs no round trip: it looks at the driver's last transaction status and polls the socket.
    """
    sock = getattr(conn, "_usock", None)
    if not isinstance(sock, socket.socket) or sock.fileno() < 0:
        return False
    if getattr(conn, "_transaction_status", None) != _IDLE:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _known_state(exc: BaseException) -> bool:
    """Whether a connection is in a known state after ``exc`` left the block that used it.

    Two kinds of error are raised between whole exchanges with the server: Postgres's own
    errors (pg8000 reads on to ReadyForQuery before raising them) and the package's own
    (a 4xx decided between two queries). Anything else (an encoding error after Parse
    went out, a decoding error in the middle of the rows, a timeout, a closed socket, an
    interrupt) may leave an answer unread, which the next request would take as its own.
    A package error raised while handling one of those (its cause or context) is as unsure.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if not isinstance(seen, pg8000.native.DatabaseError | LogpipeError):
            return False
        seen = seen.__cause__ or seen.__context__
    return True


def _set_timeout(conn: pg8000.native.Connection, timeout_s: float) -> None:
    sock = getattr(conn, "_usock", None)
    if isinstance(sock, socket.socket):
        sock.settimeout(timeout_s)


class Connections:
    """Postgres connections shared by the requests of one app, reused, replaced when broken.

    A request takes an idle connection (or opens one) and gives it back when it ends, so
    there are never more connections than requests in flight, even under a server that
    starts a thread per connection (as ``logpipe run`` does): one connection per thread
    there would leak one per request until Postgres refuses new clients. Nor more than
    ``max_open``: the requests beyond wait for one.

    A connection goes back to the pool only when it is known to be clean: the block ended
    without an error or on an error raised between exchanges, and ``reusable`` holds. It
    is checked again when taken, so that one that died while idle (a restarted server, a
    terminated backend) is closed there and costs the request nothing.
    """

    # Idle connections kept for the next requests, so that a burst does not open and close
    # one connection per request.
    MAX_IDLE = 32
    # Connections open at once; a request beyond them waits for one to be given back (for
    # the block's timeout at most, then a 503). Postgres on a few cores answers no sooner
    # for more, and each server process has a pool of its own: with a connection for every
    # request in flight, 64 clients on two processes, the workers and the tools beside them
    # went over Postgres's max_connections (100 by default), which then refused clients.
    MAX_OPEN = 16

    def __init__(self, settings: Settings, max_open: int = MAX_OPEN) -> None:
        self.settings = settings
        self.max_open = max_open
        self._slots = threading.BoundedSemaphore(max_open)
        self._idle: list[pg8000.native.Connection] = []
        self._all: list[pg8000.native.Connection] = []
        self._lock = threading.Lock()
        self.discarded = 0  # connections closed as unfit, for tests and logs

    def _take(self, timeout_s: float) -> pg8000.native.Connection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            if reusable(conn):
                _set_timeout(conn, timeout_s)
                return conn
            self._discard(conn)
        conn = db.connect(self.settings, timeout_s=timeout_s)
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def get(self, timeout_s: float | None = None) -> Iterator[pg8000.native.Connection]:
        """A connection for the block, given back when it ends. ``timeout_s`` bounds the
        opening and every read and write of the block (a frozen server costs that, then a
        ``ServiceUnavailableError``); without it, the driver's usual timeout."""
        wait_s = timeout_s or db.TIMEOUT_S
        if not self._slots.acquire(timeout=wait_s):
            raise ServiceUnavailableError(
                "postgres", f"all {self.max_open} connections of this process stayed in use for {wait_s:g} s"
            )
        try:
            conn = self._take(wait_s)
            try:
                yield conn
            except BaseException as exc:
                if _known_state(exc) and reusable(conn):
                    self._release(conn)
                else:
                    self._discard(conn)
                if isinstance(exc, pg8000.native.InterfaceError | OSError):
                    raise ServiceUnavailableError("postgres", str(exc) or type(exc).__name__) from exc
                raise
            if reusable(conn):
                self._release(conn)
            else:
                self._discard(conn)
        finally:
            self._slots.release()

    def _release(self, conn: pg8000.native.Connection) -> None:
        _set_timeout(conn, db.TIMEOUT_S)
        with self._lock:
            if len(self._idle) < self.MAX_IDLE and conn in self._all:
                self._idle.append(conn)
                return
        self._close(conn)

    def _discard(self, conn: pg8000.native.Connection) -> None:
        self.discarded += 1
        self._close(conn)

    def _close(self, conn: pg8000.native.Connection) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except Exception:  # noqa: BLE001 - a broken connection may fail to say goodbye; it is gone either way
            sock = getattr(conn, "_usock", None)
            if isinstance(sock, socket.socket):
                sock.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all, self._idle = self._all, [], []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already gone
                pass
