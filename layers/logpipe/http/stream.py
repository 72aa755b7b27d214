"""GET /api/stream (server-sent events) and POST /api/stream-token.

``event: log`` for each new event and ``event: file`` for each change of a file's status
or progress, filtered here by ``file_id``, ``level`` (the least severe wanted),
``source``, ``q`` and ``pattern_id``; ``only=file`` sends the files' changes alone. A
client resumes with ``Last-Event-ID`` (as ``EventSource`` sends it) or ``?since=``, and
gets exactly what it missed.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request

from .. import db, metrics
from ..config import Settings
from ..errors import BadRequestError, ClientError
from ..parsing.formats import LEVELS
from ..search import query
from ..stream import positions, tokens
from ..stream.positions import Position
from ..stream.tail import Filter, Tail, follow
from . import deps
from .spec import Op, Param, declare

log = logging.getLogger("logpipe.stream")

bp = Blueprint("stream", __name__)

RETRY_MS = 2000  # how long EventSource waits before it reconnects


class TooManyStreamsError(ClientError):
    status = 429


class _Streams:
    """This process's tail and its count of open streams."""

    def __init__(self, settings_: Settings) -> None:
        self.tail = Tail(lambda: db.connect(settings_))
        self.open = 0
        self.lock = threading.Lock()


_lock = threading.Lock()


def _streams() -> _Streams:
    """This app's streams, made on the first request (the tail's thread starts then)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with _lock:
        found = app.extensions.get("logpipe_streams")
        if found is None:
            found = app.extensions["logpipe_streams"] = _Streams(deps.settings())
            deps.on_close(app, found.tail.stop)
    return found  # type: ignore[no-any-return]


@bp.post("/api/stream-token")
@declare(
    Op(
        "A short-lived token for GET /api/stream's ?token= (EventSource cannot send headers)",
        responses={
            201: (
                "the token",
                {
                    "type": "object",
                    "required": ["token", "expires_at"],
                    "properties": {"token": {"type": "string"}},
                },
            )
        },
    )
)
def stream_token() -> Any:
    s = deps.settings()
    token, expires = tokens.issue(s.api_token, s.stream_token_ttl_s)
    return {"token": token, "expires_at": expires}, 201


def _filter() -> Filter:
    args = request.args
    file_id = args.get("file_id") or None
    if file_id is not None:
        try:
            file_id = str(uuid.UUID(file_id))
        except ValueError:
            raise BadRequestError("'file_id' must be a file's id (a UUID)") from None
    level = args.get("level") or None
    if level is not None and level not in LEVELS:
        raise BadRequestError(f"'level' must be one of {', '.join(LEVELS)} (the least severe level wanted)")
    source = args.get("source") or None
    if source is not None and len(source) > 64:
        raise BadRequestError("'source' is at most 64 characters")
    pattern_id = args.get("pattern_id") or None
    if pattern_id is not None and len(pattern_id) > 64:
        raise BadRequestError("'pattern_id' is at most 64 characters")
    only = args.get("only") or None
    if only not in (None, "file"):
        raise BadRequestError("'only' takes one value, 'file' (the files' changes, no events)")
    return Filter(file_id, level, source, query.parse(args.get("q")), pattern_id, files_only=only == "file")


def _start(tail: Tail) -> tuple[Position, bytes]:
    """Where this stream starts, and what to tell the client first."""
    given = request.headers.get("Last-Event-ID") or request.args.get("since")
    name = "Last-Event-ID" if request.headers.get("Last-Event-ID") else "'since'"
    head = tail.head
    if not given:
        return Position(head), b""
    start = positions.parse(given, name)
    if start.pos > head:
        note = f"position {start} is ahead of the stream (now at {head}): starting from now"
        return Position(head), f'event: reset\ndata: {{"reason": "{note}"}}\n\n'.encode()
    return start, b""


@bp.get("/api/stream")
@declare(
    Op(
        "New events and file changes as server-sent events, resumable with Last-Event-ID or ?since=",
        params=(
            Param("file_id", {"type": "string", "format": "uuid"}, "only this file's"),
            Param("level", {"type": "string", "enum": list(LEVELS)}, "the least severe level wanted"),
            Param("source", {"type": "string", "maxLength": 64}, "only this source"),
            Param("q", {"type": "string"}, "words and phrases the message holds"),
            Param("pattern_id", {"type": "string", "maxLength": 64}, "only this pattern"),
            Param("since", {"type": "string"}, "the position to resume after"),
            Param("token", {"type": "string"}, "a stream token (POST /api/stream-token), instead of the header"),
        ),
        media_type="text/event-stream",
        responses={200: ("the stream", None), 429: ("too many streams on this server", None)},
        fuzz=False,
    )
)
def stream() -> Any:
    s = deps.settings()
    flt = _filter()
    streams = _streams()
    streams.tail.ensure_started()
    start, first = _start(streams.tail)
    with streams.lock:
        if streams.open >= s.stream_max_clients:
            raise TooManyStreamsError(
                f"this server already holds {streams.open} streams (LOGPIPE_STREAM_MAX_CLIENTS); try again shortly"
            )
        streams.open += 1
    metrics.STREAM_CLIENTS.inc()
    held = [True]

    def release() -> None:
        """Give the stream's slot back, once: when its body ends, or when the server closes
        a body that was never read (the client left before the first byte)."""
        with streams.lock:
            if not held[0]:
                return
            held[0] = False
            streams.open -= 1
        metrics.STREAM_CLIENTS.dec()

    _limit_writes(request.environ, s.stream_write_timeout_s)
    pool = deps.pool()

    def body() -> Iterator[bytes]:
        try:
            yield f"retry: {RETRY_MS}\n\n".encode() + first
            yield from follow(
                streams.tail, flt, start, pool.get, max_s=s.stream_max_s, heartbeat_s=s.stream_heartbeat_s
            )
        except Exception:  # the client reconnects and resumes; say why here
            log.warning("a stream ended on an error; its client will resume", exc_info=True)
        finally:
            release()

    response = Response(body(), mimetype="text/event-stream")
    response.call_on_close(release)  # a generator never started runs no finally of its own
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # proxies must not hold events back
    return response


def _limit_writes(environ: dict[str, Any], timeout_s: int) -> None:
    """Let a client that reads nothing go after ``timeout_s`` (its socket's sends time out)."""
    sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        sock.settimeout(timeout_s)
