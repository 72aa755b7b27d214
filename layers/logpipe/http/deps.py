"""What a route needs from the app that serves it: the settings and a database connection.

``create_app`` binds both to the app it builds (``bind``); a blueprint reads them during a
request through ``settings()`` and ``connection()``. Blueprints import this module and
never ``app.py``, so building the app imports the blueprints and nothing imports back.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pg8000.native
from flask import Flask, current_app

from ..config import Settings
from .pool import Connections

_SETTINGS = "logpipe.settings"
_CONNECTIONS = "logpipe.connections"
_CLOSERS = "logpipe.closers"


def bind(app: Flask, settings_: Settings) -> None:
    """Give ``app`` its settings and a pool of Postgres connections built from them."""
    app.config[_SETTINGS] = settings_
    app.config[_CONNECTIONS] = Connections(settings_)


def settings() -> Settings:
    """The settings of the app serving the current request."""
    return current_app.config[_SETTINGS]  # type: ignore[no-any-return]


def settings_of(app: Flask) -> Settings:
    """``app``'s settings, outside any request (a blueprint binding itself to the app)."""
    return app.config[_SETTINGS]  # type: ignore[no-any-return]


def connection() -> AbstractContextManager[pg8000.native.Connection]:
    """A pooled Postgres connection for the current request, given back when the block ends."""
    pool: Connections = current_app.config[_CONNECTIONS]
    return pool.get()


def pool() -> Connections:
    """The current app's pool, for work that outlives the request (a stream's body)."""
    return current_app.config[_CONNECTIONS]  # type: ignore[no-any-return]


def pool_of(app: Flask) -> Connections:
    """``app``'s pool, outside any request (a Lambda handler reporting its metrics)."""
    return app.config[_CONNECTIONS]  # type: ignore[no-any-return]


def on_close(app: Flask, closer: Callable[[], None]) -> None:
    """Have ``close(app)`` call ``closer`` (a thread to stop, say) before the connections go."""
    app.config.setdefault(_CLOSERS, []).append(closer)


def close(app: Flask) -> None:
    """Let go of what ``app`` holds (it serves no more requests): what was registered with
    ``on_close``, then its Postgres connections."""
    for closer in app.config.pop(_CLOSERS, []):
        closer()
    pool_: Connections = app.config[_CONNECTIONS]
    pool_.close()
