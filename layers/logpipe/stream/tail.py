"""Following the stream log: one tail per process, any number of readers.

The tail reads each new entry of the stream log once, with its events, turns every item
into the bytes of its SSE message once, and keeps the recent entries in a ring bounded
by bytes. Each reader walks the ring from its own position and sends what its filter
wants. A reader that is behind the ring (it resumed from long ago, or it read too slowly
and the ring moved on) reads the entries it lacks from the database itself, then joins
the ring again. So memory does not grow with readers or with slow readers, and nothing
is known only to one process: the rows are the truth, the ring is a cache of them.

The tail looks for new entries every ``POLL_S``, and sooner when another relay's sequencer
NOTIFYs. Writers leave their entries without a position (see ``logpipe.db.stream``): the
tail gives them one, which is most of the latency from a commit to a client.
"""

from __future__ import annotations

import bisect
import json
import logging
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import pg8000.native

from ..db import github as github_db
from ..db import stream as stream_db
from ..parsing.formats import LEVELS
from ..search.query import Query, parse_fields
from .positions import WHOLE, Position, event_id

log = logging.getLogger("logpipe.stream")

POLL_S = 0.05
RING_BYTES = 32 * 1024 * 1024
CATCH_UP_ENTRIES = 20  # entries a reader behind the ring reads from the database at a time


@dataclass(slots=True)
class Item:
    """One SSE message, with what filters look at."""

    kind: str  # the SSE event name: log, file...
    line: int  # its place in its entry: the event's line, or WHOLE for the item that ends it
    file_id: str | None
    text: bytes  # the whole SSE message
    level: str | None = None
    source: str | None = None
    message: str = ""
    pattern_id: str | None = None
    fields: str | None = None  # JSON text, parsed only for a filter that asks


# What a reader needs of an entry's events: all of them, those of a level at least
# LEVELS[k] (k = 0..5), or none. The tail loads what the readers it knows of need together;
# an entry loaded with less than a reader needs, that reader reads again for itself.
ALL = -1
NONE = len(LEVELS)


@dataclass(slots=True)
class Loaded:
    entry: stream_db.Entry
    items: list[Item]
    size: int
    need: int  # what of its events was loaded (ALL, a level's index or NONE)

    @property
    def pos(self) -> int:
        return self.entry.pos


def _sse(event: str, id_: str, data: str) -> bytes:
    return f"id: {id_}\nevent: {event}\ndata: {data}\n\n".encode()


def _events_items(conn: pg8000.native.Connection, e: stream_db.Entry, after_line: int | None, need: int) -> list[Item]:
    assert e.file_id is not None and e.first_line is not None and e.end_line is not None
    items = []
    if need != NONE:
        levels = None if need == ALL else list(LEVELS[need:])
        items = [
            Item(
                "log",
                line,
                e.file_id,
                _sse("log", event_id(e.pos, line), text),
                level,
                source,
                message,
                pattern,
                fields,
            )
            for line, level, source, message, pattern, fields, text in stream_db.events_in_lines(
                conn, e.file_id, e.first_line, e.end_line, after_line, levels
            )
        ]
    if e.data is not None:
        items.append(_file_item(e))
    return items


def _file_item(e: stream_db.Entry) -> Item:
    data = dict(e.data or {})
    data["committed_at"] = e.written_at.isoformat()  # when its entry was written, near the end of its transaction
    return Item("file", WHOLE, e.file_id, _sse("file", str(e.pos), json.dumps(data, separators=(",", ":"))))


def _file_items(conn: pg8000.native.Connection, e: stream_db.Entry, after_line: int | None, need: int) -> list[Item]:
    return [_file_item(e)]


def _delivery_items(
    conn: pg8000.native.Connection, e: stream_db.Entry, after_line: int | None, need: int
) -> list[Item]:
    """A GitHub delivery stored (or the logs it asked for that could not be fetched)."""
    data = dict(e.data or {})
    data["committed_at"] = e.written_at.isoformat()
    text = _sse("delivery", str(e.pos), json.dumps(data, separators=(",", ":"), default=str))
    return [Item("delivery", WHOLE, None, text, data.get("level"), "github")]


# What each kind of entry becomes: adding a kind is adding its loader here.
LOADERS: dict[str, Callable[[pg8000.native.Connection, stream_db.Entry, int | None, int], list[Item]]] = {
    stream_db.EVENTS: _events_items,
    stream_db.FILE: _file_items,
    github_db.DELIVERY: _delivery_items,
}


def load(conn: pg8000.native.Connection, e: stream_db.Entry, need: int = ALL, after: Position | None = None) -> Loaded:
    """An entry's items (of its events, those ``need`` says), after ``after`` when that is a
    position inside this entry."""
    after_line = after.line if after is not None and after.pos == e.pos and not after.whole else None
    loader = LOADERS.get(e.kind)
    items = loader(conn, e, after_line, need) if loader else []
    return Loaded(e, items, sum(len(i.text) + len(i.message) for i in items) + 64, need)


@dataclass(frozen=True)
class Filter:
    """What a reader asked for; applied here, on the server."""

    file_id: str | None = None
    min_level: str | None = None
    source: str | None = None
    query: Query = field(default_factory=Query)
    pattern_id: str | None = None
    files_only: bool = False  # files' status and progress, no events (a page listing files)

    def need(self, e: stream_db.Entry) -> int:
        """What this reader needs of the entry's events (ALL, a level's index, or NONE)."""
        if self.files_only or e.kind != stream_db.EVENTS or (self.file_id is not None and e.file_id != self.file_id):
            return NONE
        return ALL if self.min_level is None else LEVELS.index(self.min_level)

    def wants(self, item: Item) -> bool:
        if self.file_id is not None and item.file_id != self.file_id:
            return False
        if self.files_only:
            return item.kind == "file"
        if item.kind == "delivery":  # GitHub's: shown unless another source is asked for
            return self.source in (None, "github")
        if item.kind != "log":
            return self.source is None or item.kind == "file"  # progress is not filtered by level or text
        if self.source is not None and item.source != self.source:
            return False
        if self.min_level is not None and (
            item.level is None or LEVELS.index(item.level) < LEVELS.index(self.min_level)
        ):
            return False
        if self.pattern_id is not None and item.pattern_id != self.pattern_id:
            return False
        if self.query:
            fields = parse_fields(item.fields) if self.query.needs_fields else None
            return self.query.matches(item.message, fields)
        return True


class Tail:
    """Follows the stream log for the readers of one process (see the module's docstring)."""

    def __init__(self, connect: Callable[[], pg8000.native.Connection], ring_bytes: int = RING_BYTES) -> None:
        self._connect = connect
        self._ring_bytes = ring_bytes
        self.cond = threading.Condition()
        self.ring: list[Loaded] = []
        self._size = 0
        self.floor = -1  # entries at or below it are not in the ring; -1 until the tail has read the head
        self.head = 0
        self.readers: list[Filter] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- the tail's own thread -------------------------------------------------------------
    def ensure_started(self) -> None:
        with self.cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="logpipe-stream-tail", daemon=True)
                self._thread.start()
            while self.floor < 0 and not self._stop.is_set():
                self.cond.wait(1.0)  # until the head is known: a new reader starts there

    def stop(self) -> None:
        self._stop.set()
        with self.cond:
            self.cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                conn.run(f"LISTEN {stream_db.CHANNEL}")
                if self.floor < 0:
                    head = stream_db.head(conn)
                    with self.cond:
                        self.head = self.floor = head
                        self.cond.notify_all()
                backoff = 0.5
                self._follow(conn)
            except Exception:  # the database went away: readers wait, the tail retries
                log.warning("the stream tail lost the database; retrying in %.1f s", backoff, exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001 - already broken
                        pass

    def _follow(self, conn: pg8000.native.Connection) -> None:
        sock = _socket_of(conn)
        while not self._stop.is_set():
            if stream_db.unsequenced(conn):
                stream_db.sequence(conn)
            entries = stream_db.entries_after(conn, self.head, 200)
            if entries:
                with self.cond:
                    readers = list(self.readers)
                loaded = [load(conn, e, min(r.need(e) for r in readers)) for e in entries] if readers else []
                with self.cond:
                    self.head = entries[-1].pos
                    if loaded:
                        self.ring += loaded
                        self._size += sum(x.size for x in loaded)
                        self._trim()
                    else:  # nobody reads: keep nothing, a new reader starts at the head
                        self.ring, self._size, self.floor = [], 0, self.head
                    self.cond.notify_all()
                if len(entries) == 200:
                    continue
            conn.notifications.clear()
            if sock is not None:
                select.select([sock], [], [], POLL_S)
            else:
                self._stop.wait(POLL_S)

    def _trim(self) -> None:
        cut = 0
        while self._size > self._ring_bytes and cut < len(self.ring) - 1:
            self._size -= self.ring[cut].size
            cut += 1
        if cut:
            self.floor = self.ring[cut - 1].pos
            del self.ring[:cut]

    # -- readers ---------------------------------------------------------------------------
    def after(self, cursor: Position) -> list[Loaded] | None:
        """The ring's entries past ``cursor`` (maybe none); None when the cursor is behind
        the ring and the reader must read from the database. Call under ``cond``."""
        if cursor.pos < self.floor or (cursor.pos == self.floor and not cursor.whole):
            return None
        start = bisect.bisect_left(self.ring, cursor.pos, key=lambda x: x.pos)
        if start < len(self.ring) and self.ring[start].pos == cursor.pos and cursor.whole:
            start += 1
        return self.ring[start:]


def _socket_of(conn: pg8000.native.Connection) -> Any:
    """The connection's socket, to wait on for a NOTIFY (None where it cannot be found)."""
    sock = getattr(conn, "_usock", None)
    return sock if sock is not None and hasattr(sock, "fileno") else None


def follow(
    tail: Tail,
    flt: Filter,
    start: Position,
    connection: Callable[[], AbstractContextManager[pg8000.native.Connection]],
    *,
    max_s: float,
    heartbeat_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[bytes]:
    """The SSE messages after ``start`` that ``flt`` wants, until ``max_s`` has passed.

    What the ring lacks (the reader is behind it, or an entry was loaded with less than
    this reader needs) is read through ``connection()``. Yields a heartbeat comment
    whenever ``heartbeat_s`` passes with nothing to send.
    """
    cursor = start
    began = last_sent = clock()
    with tail.cond:
        tail.readers.append(flt)
    try:
        while True:
            now = clock()
            if now - began >= max_s:
                yield b": the stream's time is up; reconnect with Last-Event-ID to go on\n\n"
                return
            with tail.cond:
                batch = tail.after(cursor)
                if batch == []:
                    wait = min(heartbeat_s - (now - last_sent), max_s - (now - began))
                    if wait > 0:
                        tail.cond.wait(wait)
                    batch = tail.after(cursor)
            if batch is None:
                batch = _read_behind(connection, flt, cursor)
                if not batch:  # retention dropped what lay between: go on from the ring
                    with tail.cond:
                        cursor = Position(max(cursor.pos, tail.floor))
                    continue
            out = []
            for entry in batch:
                if entry.need > flt.need(entry.entry):  # loaded with less than this reader needs
                    with connection() as conn:
                        entry = load(conn, entry.entry, flt.need(entry.entry), cursor)
                for item in entry.items:
                    if entry.pos == cursor.pos and item.line <= cursor.line:
                        continue
                    if flt.wants(item):
                        out.append(item.text)
                cursor = Position(entry.pos)
            if out:
                last_sent = clock()
                yield b"".join(out)
            elif clock() - last_sent >= heartbeat_s:
                last_sent = clock()
                yield b": heartbeat\n\n"
    finally:
        with tail.cond:
            tail.readers.remove(flt)


def _read_behind(
    connection: Callable[[], AbstractContextManager[pg8000.native.Connection]], flt: Filter, cursor: Position
) -> list[Loaded]:
    """The first entries after ``cursor``, read from the database for a reader behind the ring."""
    with connection() as conn:
        entries = stream_db.entries_after(conn, cursor.pos if cursor.whole else cursor.pos - 1, CATCH_UP_ENTRIES)
        return [load(conn, e, flt.need(e), cursor) for e in entries]
