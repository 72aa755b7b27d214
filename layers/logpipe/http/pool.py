"""The Postgres connections that the requests of one HTTP app share."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pg8000.native

from .. import db
from ..config import Settings
from ..errors import ServiceUnavailableError


class Connections:
    """Postgres connections shared by the requests of one app, reused, replaced when broken.

    A request takes an idle connection (or opens one) and gives it back when it ends, so
    there are never more connections than requests in flight, even under a server that
    starts a thread per request (werkzeug's threaded server, as ``logpipe run`` uses):
    one connection per thread there would leak one per request until Postgres refuses
    new clients.
    """

    # Idle connections kept for the next requests: as many as a busy webhook has requests
    # in flight (32 concurrent deliveries), so that a burst does not open and close one
    # connection per request.
    MAX_IDLE = 32

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: list[pg8000.native.Connection] = []
        self._all: list[pg8000.native.Connection] = []
        self._lock = threading.Lock()

    @contextmanager
    def get(self) -> Iterator[pg8000.native.Connection]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = db.connect(self.settings)
            with self._lock:
                self._all.append(conn)
        try:
            yield conn
        except (pg8000.native.InterfaceError, OSError) as exc:
            self._discard(conn)
            raise ServiceUnavailableError("postgres", str(exc)) from exc
        except BaseException:
            self._release(conn)
            raise
        self._release(conn)

    def _release(self, conn: pg8000.native.Connection) -> None:
        with self._lock:
            if len(self._idle) < self.MAX_IDLE and conn in self._all:
                self._idle.append(conn)
                return
        self._discard(conn)

    def _discard(self, conn: pg8000.native.Connection) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except (pg8000.native.InterfaceError, OSError):
            pass  # already gone

    def close(self) -> None:
        with self._lock:
            conns, self._all, self._idle = self._all, [], []
        for conn in conns:
            try:
                conn.close()
            except (pg8000.native.InterfaceError, OSError):
                pass  # already gone
