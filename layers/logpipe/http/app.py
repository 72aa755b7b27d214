"""Building the WSGI app that an HTTP function serves, with auth and JSON errors in one place."""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pg8000.native
from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import db
from ..config import Settings
from ..errors import ClientError, ServiceUnavailableError, UnauthorizedError

log = logging.getLogger("logpipe.http")


class Connections:
    """Postgres connections shared by the requests of one app, reused, replaced when broken.

    A request takes an idle connection (or opens one) and gives it back when it ends, so
    there are never more connections than requests in flight, even under a server that
    starts a thread per request (werkzeug's threaded server, as ``logpipe run`` uses):
    one connection per thread there would leak one per request until Postgres refuses
    new clients.
    """

    MAX_IDLE = 8

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


def settings() -> Settings:
    return current_app.config["LOGPIPE_SETTINGS"]  # type: ignore[no-any-return]


def connection() -> Any:
    return current_app.config["LOGPIPE_DB"].get()


def require_token() -> None:
    """Every /api route needs ``Authorization: Bearer <LOGPIPE_API_TOKEN>``."""
    expected = settings().api_token
    if not expected:
        raise ServiceUnavailableError("config", "LOGPIPE_API_TOKEN is not set on the server")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise UnauthorizedError("missing bearer token: send 'Authorization: Bearer <LOGPIPE_API_TOKEN>'")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise UnauthorizedError("wrong API token")


def create_app(settings_: Settings, *parts: str) -> Flask:
    """The WSGI app serving ``parts`` (``uploads``, ``files``, ``patterns``, ``health``); all if none named."""
    from . import files, health, patterns, uploads

    blueprints: dict[str, Blueprint] = {
        "uploads": uploads.bp,
        "files": files.bp,
        "patterns": patterns.bp,
        "health": health.bp,
    }
    app = Flask("logpipe")
    app.config["LOGPIPE_SETTINGS"] = settings_
    app.config["LOGPIPE_DB"] = Connections(settings_)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    for name in parts or tuple(blueprints):
        app.register_blueprint(blueprints[name])

    @app.before_request
    def _auth() -> None:
        if request.path.startswith("/api/"):
            require_token()

    @app.errorhandler(ClientError)
    def _client_error(exc: ClientError) -> Any:
        response = jsonify(error=str(exc))
        response.status_code = exc.status
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="logpipe"'
        return response

    @app.errorhandler(ServiceUnavailableError)
    def _unavailable(exc: ServiceUnavailableError) -> Any:
        log.warning("dependency unavailable: %s", exc)
        return jsonify(error=str(exc), component=exc.component), 503

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        return jsonify(error=exc.description or exc.name), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error=f"internal error: {type(exc).__name__}"), 500

    return app
