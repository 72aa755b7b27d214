"""The files table: what was uploaded, how far its parsing has got, and how it ended."""

from __future__ import annotations

import uuid
from typing import Any

import pg8000.native

FILE_COLUMNS = (
    "id, name, size, status, lines, events, errors, created_at, finished_at, error, "
    "size_declared, content_type, upload_kind, object_key, multipart_id, compression, "
    "chunks_total, chunks_done, truncated_lines, etag, source_format, source_tz"
)
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
    return out


def create_upload(
    conn: pg8000.native.Connection,
    *,
    name: str,
    size: int,
    content_type: str | None,
    kind: str,
    source_format: str | None = None,
    source_tz: str | None = None,
) -> dict[str, Any]:
    file_id = uuid.uuid4()
    rows = conn.run(
        "INSERT INTO files (id, name, object_key, size_declared, content_type, upload_kind, source_format, source_tz) "
        f"VALUES (:id, :name, :key, :size, :ct, :kind, :fmt, :tz) RETURNING {FILE_COLUMNS}",
        fmt=source_format,
        tz=source_tz,
        id=file_id,
        name=name,
        key=f"uploads/{file_id}",
        size=size,
        ct=content_type,
        kind=kind,
    )
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


def create_external(conn: pg8000.native.Connection, key: str, size: int) -> None:
    """Record an object that reached the bucket without a presign (idempotent)."""
    conn.run(
        "INSERT INTO files (id, name, object_key, size, upload_kind) VALUES (:id, :name, :key, :size, 'external') "
        "ON CONFLICT (object_key) DO NOTHING",
        id=uuid.uuid4(),
        name=key,
        key=key,
        size=size,
    )


def list_recent(conn: pg8000.native.Connection, limit: int = 100, before: str | None = None) -> list[dict[str, Any]]:
    rows = conn.run(
        f"SELECT {FILE_COLUMNS} FROM files "
        + ("WHERE created_at < CAST(:before AS timestamptz) " if before else "")
        + "ORDER BY created_at DESC, id LIMIT :limit",
        limit=limit,
        **({"before": before} if before else {}),
    )
    return [_row(FILE_COLUMNS, r) for r in rows]


def fail(conn: pg8000.native.Connection, file_id: str, error: str) -> None:
    conn.run(
        "UPDATE files SET status = 'failed', error = :e, finished_at = now() WHERE id = :id",
        e=error[:2000],
        id=file_id,
    )
