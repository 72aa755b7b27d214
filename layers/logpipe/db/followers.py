"""Followers of the stream log: work done once for every committed change, off the
ingest path (the search index, per-minute counts, and whatever else needs such a feed).

A follower has a name and a watermark, the position of the last entry it has handled.
``advance`` reads the entries after the watermark, hands them to the follower, and moves
the watermark in the same transaction as whatever the follower wrote: a run that fails
or dies writes nothing and moves nothing, and the next run does the same entries again.
Positions are final and gap-free once visible (db/stream.py), so "after the watermark"
misses nothing. One run of a follower at a time: each transaction first takes an
advisory lock on the follower's name, and a second run that finds it taken returns at
once (a scheduled run that overlaps a slow one has nothing to do).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pg8000.native

from . import stream as stream_db

_LOCK_SPACE = 0x6C6F6766  # "logf": advisory locks of followers, keyed by hashtext(name)


@dataclass(frozen=True, slots=True)
class Step:
    """What one ``advance`` did: entries handled, and the watermark after them."""

    entries: int
    pos: int


Handler = Callable[[pg8000.native.Connection, Sequence[stream_db.Entry]], None]


def watermark(conn: pg8000.native.Connection, name: str) -> int:
    """The position up to which ``name`` has handled the stream log (0 before its first run)."""
    rows = conn.run("SELECT pos FROM stream_followers WHERE name = :n", n=name)
    return int(rows[0][0]) if rows else 0


def advance(
    conn: pg8000.native.Connection, name: str, handle: Handler, *, max_entries: int = 50, max_lines: int = 50_000
) -> Step | None:
    """Hand the next entries after ``name``'s watermark to ``handle`` and move the watermark
    past them, in one transaction. At most ``max_entries`` entries, fewer where their
    lines add up past ``max_lines`` (but at least one). Returns None when another run
    of the same follower holds it. Call outside a transaction; may be retried."""
    conn.run("BEGIN")
    try:
        if not conn.run("SELECT pg_try_advisory_xact_lock(:s, hashtext(:n))", s=_LOCK_SPACE, n=name)[0][0]:
            conn.run("ROLLBACK")
            return None
        conn.run("INSERT INTO stream_followers (name) VALUES (:n) ON CONFLICT DO NOTHING", n=name)
        pos = int(conn.run("SELECT pos FROM stream_followers WHERE name = :n FOR UPDATE", n=name)[0][0])
        entries = stream_db.entries_after(conn, pos, max_entries)
        lines = 0
        for n, e in enumerate(entries):
            lines += (e.end_line or 0) - (e.first_line or 0)
            if lines > max_lines and n > 0:
                entries = entries[:n]
                break
        if entries:
            handle(conn, entries)
            pos = entries[-1].pos
            conn.run("UPDATE stream_followers SET pos = :p, updated_at = now() WHERE name = :n", p=pos, n=name)
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    return Step(len(entries), pos)
