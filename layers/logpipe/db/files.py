"""The files table: what was uploaded, how far its parsing has got, and how it ended."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

import pg8000.native

from ..parsing.layouts import Layout
from . import stream

FILE_COLUMNS = (
    "id, name, size, status, lines, events, errors, created_at, finished_at, error, "
    "size_declared, content_type, upload_kind, object_key, multipart_id, compression, "
    "chunks_total, chunks_done, truncated_lines, etag, source_format, source_tz, failure, layout, layout_source"
)
# Why a file failed (the ``failure`` column): only ``dead_lettered`` can be undone, by a
# replay of the message that was dead-lettered. ``replaced``: another object was written
# under the file's key after it was planned.
Failure = Literal["dead_lettered", "upload", "content", "replaced"]
PUBLIC = ("id", "name", "size", "status", "lines", "events", "errors", "created_at", "finished_at", "error")


def _row(columns: str, values: list[Any]) -> dict[str, Any]:
    return dict(zip([c.strip() for c in columns.split(",")], values, strict=True))


def public_view(f: dict[str, Any]) -> dict[str, Any]:
    """The file as the API shows it."""
    out = {k: f[k] for k in PUBLIC}
    out["id"] = str(out["id"])
    for k in ("created_at", "finished_at"):
        out[k] = out[k].isoformat() if out[k] is not None else None
    if out["size"] is None:
        out["size"] = f["size_declared"]
    out["truncated_lines"] = f["truncated_lines"]
    out["format"] = f["source_format"]
    out["timezone"] = f["source_tz"]
    out["layout"] = _layout_view(f["layout"], f["layout_source"])
    return out


def _layout_view(layout: Any, source: str | None) -> dict[str, Any] | None:
    """The file's layout as the API shows it: the description (which an upload may send
    back, corrected, as its ``layout``), whether it was inferred or forced, and in words."""
    if layout is None:
        return None
    if isinstance(layout, str):
        layout = json.loads(layout)
    view = dict(layout)
    view["source"] = source
    try:
        view["reads_as"] = Layout.from_dict(layout).describe()
    except ValueError as exc:  # stored by an older code's rules
        view["reads_as"] = f"(not readable by this version: {exc})"
    return view


def _announce(conn: pg8000.native.Connection, rows: list[list[Any]]) -> None:
    """Tell live readers what the file has become (a stream entry in the caller's
    transaction), if the statement that returned ``rows`` changed it."""
    if rows:
        view = public_view(_row(FILE_COLUMNS, rows[0]))
        stream.append(conn, stream.FILE, file_id=view["id"], data=view)


def create_upload(
    conn: pg8000.native.Connection,
    *,
    name: str,
    size: int,
    content_type: str | None,
    kind: str,
    source_format: str | None = None,
    source_tz: str | None = None,
    layout: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record an upload; ``layout`` forces the layout its lines are read with."""
    file_id = uuid.uuid4()
    rows = conn.run(
        "INSERT INTO files (id, name, object_key, size_declared, content_type, upload_kind, source_format, source_tz, "
        "layout, layout_source) VALUES (:id, :name, :key, :size, :ct, :kind, :fmt, :tz, CAST(:layout AS jsonb), "
        f"CASE WHEN CAST(:layout AS text) IS NULL THEN NULL ELSE 'forced' END) RETURNING {FILE_COLUMNS}",
        fmt=source_format,
        tz=source_tz,
        layout=json.dumps(layout) if layout is not None else None,
        id=file_id,
        name=name,
        key=f"uploads/{file_id}",
        size=size,
        ct=content_type,
        kind=kind,
    )
    _announce(conn, rows)
    return _row(FILE_COLUMNS, rows[0])


def set_multipart(conn: pg8000.native.Connection, file_id: str, upload_id: str) -> None:
    conn.run("UPDATE files SET multipart_id = :u WHERE id = :id", u=upload_id, id=file_id)


def get(conn: pg8000.native.Connection, file_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    try:
        uuid.UUID(str(file_id))
    except ValueError:
        return None
    rows = conn.run(f"SELECT {FILE_COLUMNS} FROM files WHERE id = :id" + (" FOR UPDATE" if lock else ""), id=file_id)
    return _row(FILE_COLUMNS, rows[0]) if rows else None


def by_key(conn: pg8000.native.Connection, key: str, *, lock: bool = False) -> dict[str, Any] | None:
    rows = conn.run(f"SELECT {FILE_COLUMNS} FROM files WHERE object_key = :k" + (" FOR UPDATE" if lock else ""), k=key)
    return _row(FILE_COLUMNS, rows[0]) if rows else None


def by_keys(conn: pg8000.native.Connection, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The files of those of ``keys`` that have one, by key, in one statement."""
    rows = conn.run(f"SELECT {FILE_COLUMNS} FROM files WHERE object_key = ANY(CAST(:k AS text[]))", k=keys)
    return {f["object_key"]: f for f in (_row(FILE_COLUMNS, r) for r in rows)}


def create_external(conn: pg8000.native.Connection, key: str, size: int) -> None:
    """Record an object that reached the bucket without a presign (idempotent)."""
    create_externals(conn, {key: size})


def create_externals(conn: pg8000.native.Connection, sizes: dict[str, int]) -> None:
    """Record objects (key: size) that reached the bucket without a presign, in one
    statement; those recorded already are left as they are."""
    conn.run(
        "INSERT INTO files (id, name, object_key, size, upload_kind) "
        "SELECT gen_random_uuid(), k, k, s, 'external' "
        "FROM unnest(CAST(:k AS text[]), CAST(:s AS bigint[])) AS o(k, s) "
        "ON CONFLICT (object_key) DO NOTHING",
        k=list(sizes),
        s=list(sizes.values()),
    )


def list_recent(conn: pg8000.native.Connection, limit: int = 100, before: str | None = None) -> list[dict[str, Any]]:
    """The newest files; not the one that holds GitHub's deliveries, which are listed by
    /api/github/deliveries (its events are searched like any file's)."""
    rows = conn.run(
        f"SELECT {FILE_COLUMNS} FROM files WHERE source <> 'github' "
        + ("AND created_at < CAST(:before AS timestamptz) " if before else "")
        + "ORDER BY created_at DESC, id LIMIT :limit",
        limit=limit,
        **({"before": before} if before else {}),
    )
    return [_row(FILE_COLUMNS, r) for r in rows]


def fail(conn: pg8000.native.Connection, file_id: str, error: str, failure: Failure, only_if: str = "TRUE") -> None:
    """Mark the file failed, with the error users read and the kind of failure it was;
    ``only_if`` (SQL of this module's own, never input) says when it still should be."""
    rows = conn.run(
        "UPDATE files SET status = 'failed', error = :e, failure = :k, finished_at = now() "
        f"WHERE id = CAST(:id AS uuid) AND ({only_if}) RETURNING {FILE_COLUMNS}",
        e=error[:2000],
        k=failure,
        id=file_id,
    )
    _announce(conn, rows)


def fail_dead_lettered(conn: pg8000.native.Connection, file_id: str, error: str) -> None:
    """Mark the file failed because a message about it was dead-lettered with ``error``.

    A replay that finishes the file's last chunk brings it back to ``done`` (see ``add_progress``).
    """
    fail(conn, file_id, f"dead-lettered: {error}", "dead_lettered")


def refuse_replaced(conn: pg8000.native.Connection, file_id: str, planned: str, found: str | None) -> None:
    """Fail the file because the object under its key is no longer the one it was planned
    from. Its events stay: they are the first object's, as far as it was read (reads are
    pinned to its ETag, so none of them is the new object's). Said once: a file already
    failed for this keeps its first message."""
    now = f"ETag {found}" if found else "another object"
    error = (
        f"the object under this file's key was replaced after parsing began (ETag {planned}, now {now}): "
        "the new object is not parsed, upload it as a new file; the events kept are the first object's, "
        "as far as it was read"
    )
    fail(conn, file_id, error, "replaced", only_if="failure IS DISTINCT FROM 'replaced'")


def awaits_replay(f: dict[str, Any]) -> bool:
    """Whether the file failed only because a message about it was dead-lettered."""
    return bool(f["status"] == "failed" and f["failure"] == "dead_lettered")


def set_object(conn: pg8000.native.Connection, file_id: str, size: int, etag: str) -> None:
    """Record the object that arrived for the file, which is now queued for parsing."""
    rows = conn.run(
        "UPDATE files SET size = :size, etag = :etag, status = 'queued', queued_at = coalesce(queued_at, now()) "
        f"WHERE id = CAST(:id AS uuid) RETURNING {FILE_COLUMNS}",
        size=size,
        etag=etag,
        id=file_id,
    )
    _announce(conn, rows)


def finish_empty(conn: pg8000.native.Connection, file_id: str) -> None:
    """An empty object: the file is done, with no chunk to parse."""
    rows = conn.run(
        "UPDATE files SET status = 'done', chunks_total = 0, finished_at = now() WHERE id = CAST(:id AS uuid) "
        f"RETURNING {FILE_COLUMNS}",
        id=file_id,
    )
    _announce(conn, rows)


def set_inferred_layout(conn: pg8000.native.Connection, file_id: str, layout: dict[str, Any] | None) -> None:
    """Record the layout inferred for the file (None: the known formats read it), unless
    one was forced. Idempotent; done before any chunk is queued, so all read with it."""
    conn.run(
        "UPDATE files SET layout = CAST(:l AS jsonb), layout_source = CASE WHEN CAST(:l AS text) IS NULL THEN NULL "
        "ELSE 'inferred' END WHERE id = CAST(:id AS uuid) AND layout_source IS DISTINCT FROM 'forced'",
        l=json.dumps(layout) if layout is not None else None,
        id=file_id,
    )


def set_plan(
    conn: pg8000.native.Connection, file_id: str, chunks_total: int, compression: str | None, chunk_bytes: int
) -> None:
    """Record how the object was planned. Chunks may have finished meanwhile (each is queued
    as soon as it is found): if all have, the file is done now, unless it failed."""
    rows = conn.run(
        "UPDATE files SET chunks_total = :n, compression = :c, chunk_bytes = :cb, "
        "status = CASE WHEN chunks_done >= :n AND status <> 'failed' THEN 'done' ELSE status END, "
        "finished_at = CASE WHEN chunks_done >= :n THEN coalesce(finished_at, now()) ELSE finished_at END "
        f"WHERE id = CAST(:id AS uuid) RETURNING {FILE_COLUMNS}",
        n=chunks_total,
        c=compression,
        cb=chunk_bytes,
        id=file_id,
    )
    _announce(conn, rows)


def add_progress(
    conn: pg8000.native.Connection,
    file_id: str,
    *,
    lines: int,
    events: int,
    errors: int,
    truncated: int,
    chunk_done: bool,
    content_error: str | None,
) -> dict[str, Any]:
    """Add a committed batch to the file's counters and status, in the caller's transaction;
    returns the file as the API shows it now.

    ``chunk_done``: the batch finished its chunk. ``content_error``: the chunk's input is
    damaged (after the batch, which holds what could be read): the file fails with it.
    A file failed only because a message was dead-lettered comes back to ``done`` when that
    message is replayed and the file's last chunk is done; until then it stays failed,
    even while its other chunks go on. Any other failure stands.
    """
    rows = conn.run(
        "UPDATE files SET lines = lines + :lines, events = events + :events, errors = errors + :errors, "
        " truncated_lines = truncated_lines + :trunc, chunks_done = chunks_done + :d, "
        " status = CASE"
        "   WHEN :failed THEN 'failed'"
        "   WHEN status = 'failed' AND failure IS DISTINCT FROM 'dead_lettered' THEN 'failed'"
        "   WHEN chunks_total IS NOT NULL AND chunks_done + :d >= chunks_total THEN 'done'"
        "   WHEN status = 'failed' THEN 'failed'"
        "   ELSE 'processing' END,"
        " error = CASE WHEN :failed THEN :error"
        "   WHEN failure = 'dead_lettered' AND chunks_total IS NOT NULL AND chunks_done + :d >= chunks_total"
        "   THEN NULL ELSE error END,"
        " failure = CASE WHEN :failed THEN 'content'"
        "   WHEN failure = 'dead_lettered' AND chunks_total IS NOT NULL AND chunks_done + :d >= chunks_total"
        "   THEN NULL ELSE failure END,"
        " finished_at = CASE WHEN :failed OR (chunks_total IS NOT NULL AND chunks_done + :d >= chunks_total)"
        "   THEN now() ELSE finished_at END "
        f"WHERE id = CAST(:f AS uuid) RETURNING {FILE_COLUMNS}",
        lines=lines,
        events=events,
        errors=errors,
        trunc=truncated,
        d=1 if chunk_done else 0,
        failed=content_error is not None,
        error=content_error,
        f=file_id,
    )
    return public_view(_row(FILE_COLUMNS, rows[0]))


def unplanned_keys(conn: pg8000.native.Connection, older_than_s: int) -> list[str]:
    """Object keys of files older than that, not yet planned, that may still be: their
    notification may have been lost. Each is marked as looked at now, and not found again
    for that long (a notification sent again is sent once, not at every sweep)."""
    rows = conn.run(
        "UPDATE files SET swept_at = now() WHERE chunks_total IS NULL "
        "AND status IN ('awaiting_upload', 'queued', 'processing') "
        "AND coalesce(swept_at, created_at) < now() - make_interval(secs => :age) RETURNING object_key",
        age=older_than_s,
    )
    return [key for (key,) in rows]


def known_keys(conn: pg8000.native.Connection, keys: list[str]) -> set[str]:
    """Those of ``keys`` that a file row has."""
    rows = conn.run("SELECT object_key FROM files WHERE object_key = ANY(CAST(:k AS text[]))", k=keys)
    return {key for (key,) in rows}


def awaiting_upload(conn: pg8000.native.Connection, older_than_s: int) -> list[tuple[str, str]]:
    """(id, object key) of the files created longer ago than that whose upload never came."""
    rows = conn.run(
        "SELECT id, object_key FROM files WHERE status = 'awaiting_upload' "
        "AND created_at < now() - make_interval(secs => :age)",
        age=older_than_s,
    )
    return [(str(file_id), key) for file_id, key in rows]


def expire_upload(conn: pg8000.native.Connection, file_id: str, error: str) -> None:
    """Fail a file whose upload never came, unless it came meanwhile."""
    fail(conn, file_id, error, "upload", only_if="status = 'awaiting_upload'")


def finish_whole(conn: pg8000.native.Connection, done: list[dict[str, Any]], chunk_bytes: int) -> list[dict[str, Any]]:
    """Record small files planned as one chunk and parsed whole, in one statement, in the
    transaction that writes their events: each is ``done`` with its object (``size``,
    ``etag``), its counts (``lines``, ``events``, ``errors``, ``truncated``) and, where
    ``inferred``, the ``layout`` inferred from it. Returns each file as the API shows it."""
    rows = conn.run(
        "UPDATE files f SET size = d.size, etag = d.etag, queued_at = coalesce(f.queued_at, now()), "
        " chunks_total = 1, chunks_done = 1, compression = NULL, chunk_bytes = :cb, "
        " lines = d.lines, events = d.events, errors = d.errors, truncated_lines = d.truncated, "
        " layout = CASE WHEN d.inferred THEN d.layout ELSE f.layout END, "
        " layout_source = CASE WHEN NOT d.inferred THEN f.layout_source WHEN d.layout IS NULL THEN NULL "
        "   ELSE 'inferred' END, "
        " status = 'done', finished_at = now() "
        "FROM json_to_recordset(CAST(:done AS json)) AS d(id uuid, size bigint, etag text, lines bigint, "
        " events bigint, errors bigint, truncated bigint, layout jsonb, inferred boolean) "
        f"WHERE f.id = d.id RETURNING {', '.join('f.' + c.strip() for c in FILE_COLUMNS.split(','))}",
        done=json.dumps(done),
        cb=chunk_bytes,
    )
    return [public_view(_row(FILE_COLUMNS, r)) for r in rows]
