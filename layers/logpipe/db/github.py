"""GitHub's tables: webhook deliveries (and the event each becomes), the Actions log
fetches, and the poller's ETags."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pg8000.native

from . import stream as stream_db

# The file that holds the deliveries' events, a delivery's event at the line of its row's
# id (ids have gaps: lines need not be consecutive). It has no object in the bucket, and
# is created with the first delivery, so that a database without any has no such file.
DELIVERIES_FILE = "067ec9b1-8e0b-59f4-a194-5153aa5f6d94"
DELIVERIES_FILE_KEY = "github/webhook-deliveries"

DELIVERY = "delivery"  # the stream log's kind for a stored delivery (SSE ``event: delivery``)

_SUMMARY = "id, delivery_id, hook_id, event, action, repository, sender, received_at"


@dataclass(frozen=True)
class NewDelivery:
    delivery_id: str
    hook_id: str
    event: str
    action: str | None
    repository: str | None
    sender: str | None
    payload_json: str  # the payload as JSON text, as it came (jsonb normalises it)


@dataclass(frozen=True)
class DeliveryEvent:
    """What the delivery looks like as an event of the pipeline."""

    level: str
    message: str
    fields: dict[str, Any]


def _summary(row: list[Any]) -> dict[str, Any]:
    id_, delivery_id, hook_id, event, action, repository, sender, received_at = row
    return {
        "id": delivery_id,
        "seq": id_,
        "hook_id": hook_id or None,
        "event": event,
        "action": action,
        "repository": repository,
        "sender": sender,
        "received_at": received_at.isoformat(),
    }


def record_delivery(conn: pg8000.native.Connection, d: NewDelivery, as_event: DeliveryEvent) -> dict[str, Any] | None:
    """Store the delivery, its event and their stream entries (see ``stream``: written
    without a position, in the same transaction); None, with nothing written, when this
    delivery id is stored already.

    One statement, so one round trip and, outside a transaction, one commit: a webhook
    answers many deliveries at once, and each waits for its commit.
    """
    return record_deliveries(conn, [(d, as_event)])[0]


def record_deliveries(
    conn: pg8000.native.Connection, deliveries: list[tuple[NewDelivery, DeliveryEvent]]
) -> list[dict[str, Any] | None]:
    """``record_delivery`` for several deliveries at once: one statement, so one round trip
    and one commit for all of them, all or none. Each one's stored summary, in order, or
    None for a delivery id stored before (or earlier in this list)."""
    rows: list[dict[str, Any]] = []
    first: dict[str, int] = {}
    for n, (d, as_event) in enumerate(deliveries):
        if d.delivery_id in first:
            continue  # a redelivery within the group: stored once, by the first
        first[d.delivery_id] = n
        fields = json.dumps({**as_event.fields, "delivery_id": d.delivery_id}, separators=(",", ":"))
        rows.append(
            {"n": n, "d": d.delivery_id, "h": d.hook_id, "e": d.event, "a": d.action, "r": d.repository,
             "s": d.sender, "p": d.payload_json, "lv": as_event.level, "m": as_event.message, "fl": fields}
        )  # fmt: skip
    got = conn.run(
        "WITH i AS (SELECT * FROM jsonb_to_recordset(CAST(:rows AS jsonb))"
        " AS t(n int, d text, h text, e text, a text, r text, s text, p text, lv text, m text, fl text)),"
        " f AS ("
        " INSERT INTO files (id, name, object_key, upload_kind, status, source, finished_at)"
        " SELECT CAST(:file AS uuid), 'GitHub webhook deliveries', :file_key, 'external', 'done', 'github', now()"
        " WHERE NOT EXISTS (SELECT 1 FROM files WHERE id = CAST(:file AS uuid)) ON CONFLICT DO NOTHING),"
        " d AS ("
        " INSERT INTO github_deliveries (delivery_id, hook_id, event, action, repository, sender, payload)"
        " SELECT d, h, e, a, r, s, CAST(p AS jsonb) FROM i ORDER BY n ON CONFLICT (delivery_id) DO NOTHING"
        f" RETURNING {_SUMMARY}),"
        " ev AS ("
        " INSERT INTO events (file_id, line, ts, ts_inferred, ingested_at, level, format, message, fields, source)"
        " SELECT CAST(:file AS uuid), d.id, d.received_at, false, d.received_at, i.lv, 'github_delivery', i.m,"
        " CAST(i.fl AS jsonb), 'github' FROM d JOIN i ON i.d = d.delivery_id),"
        " st AS ("
        " INSERT INTO stream_log (kind, file_id, first_line, end_line, data)"
        " SELECT :events_kind, CAST(:file AS uuid), d.id, d.id + 1, NULL FROM d"
        " UNION ALL"
        " SELECT :kind, NULL, NULL, NULL, jsonb_build_object('id', d.delivery_id, 'seq', d.id,"
        " 'hook_id', nullif(d.hook_id, ''), 'event', d.event, 'action', d.action, 'repository', d.repository,"
        " 'sender', d.sender, 'received_at', d.received_at, 'level', i.lv, 'message', i.m)"
        " FROM d JOIN i ON i.d = d.delivery_id)"
        f" SELECT {_SUMMARY} FROM d",
        rows=json.dumps(rows, separators=(",", ":")),
        file=DELIVERIES_FILE,
        file_key=DELIVERIES_FILE_KEY,
        events_kind=stream_db.EVENTS,
        kind=DELIVERY,
    )
    stored = {row[1]: _summary(row) for row in got}
    return [stored.get(d.delivery_id) if first[d.delivery_id] == n else None for n, (d, _) in enumerate(deliveries)]


def delivery_exists(conn: pg8000.native.Connection, delivery_id: str) -> bool:
    return bool(conn.run("SELECT 1 FROM github_deliveries WHERE delivery_id = :d", d=delivery_id))


def list_deliveries(
    conn: pg8000.native.Connection, *, event: str | None, repository: str | None, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """The newest deliveries first (below row ``before`` when given), without payloads."""
    rows = conn.run(
        f"SELECT {_SUMMARY} FROM github_deliveries WHERE (CAST(:e AS text) IS NULL OR event = :e) "
        "AND (CAST(:r AS text) IS NULL OR repository = :r) AND (CAST(:b AS bigint) IS NULL OR id < :b) "
        "ORDER BY id DESC LIMIT :n",
        e=event,
        r=repository,
        b=before,
        n=limit,
    )
    return [_summary(r) for r in rows]


def get_delivery(conn: pg8000.native.Connection, delivery_id: str) -> dict[str, Any] | None:
    """One delivery with its payload."""
    rows = conn.run(
        f"SELECT {_SUMMARY}, CAST(payload AS text) FROM github_deliveries WHERE delivery_id = :d", d=delivery_id
    )
    if not rows:
        return None
    out = _summary(rows[0][:-1])
    out["payload"] = json.loads(rows[0][-1])
    return out


def count_deliveries(conn: pg8000.native.Connection) -> int:
    return int(conn.run("SELECT count(*) FROM github_deliveries")[0][0])


# -- Actions log fetches ------------------------------------------------------------------


@dataclass(frozen=True)
class LogFetch:
    repository: str
    run_id: int
    run_attempt: int
    job_id: int  # 0: the whole run's archive
    status: str
    error: str | None
    files: int


# Where a statement finds one fetch, by the parameters ``_key`` gives.
_KEY = "repository = :r AND run_id = :i AND run_attempt = :a AND job_id = :j"


def _key(repository: str, run_id: int, run_attempt: int, job_id: int) -> dict[str, Any]:
    return {"r": repository, "i": run_id, "a": run_attempt, "j": job_id}


def start_fetch(
    conn: pg8000.native.Connection,
    repository: str,
    run_id: int,
    run_attempt: int,
    job_id: int,
    workflow: str | None,
    delivery_id: str | None,
) -> LogFetch:
    """The fetch of these logs, created as queued if new; its row locked until the
    caller's transaction ends (two deliveries of one run fetch one after the other)."""
    key = _key(repository, run_id, run_attempt, job_id)
    conn.run(
        "INSERT INTO github_log_fetches (repository, run_id, run_attempt, job_id, workflow, delivery_id) "
        "VALUES (:r, :i, :a, :j, :w, :d) ON CONFLICT DO NOTHING",
        **key,
        w=workflow,
        d=delivery_id,
    )
    rows = conn.run(
        "SELECT repository, run_id, run_attempt, job_id, status, error, files FROM github_log_fetches "
        f"WHERE {_KEY} FOR UPDATE",
        **key,
    )
    return LogFetch(*rows[0])


def finish_fetch(
    conn: pg8000.native.Connection,
    f: LogFetch,
    *,
    status: str,
    error: str | None = None,
    archive_key: str | None = None,
    files: int = 0,
) -> None:
    conn.run(
        "UPDATE github_log_fetches SET status = :s, error = :e, archive_key = coalesce(:k, archive_key), "
        "files = :n, updated_at = now() "
        f"WHERE {_KEY}",
        s=status,
        e=error,
        k=archive_key,
        n=files,
        **_key(f.repository, f.run_id, f.run_attempt, f.job_id),
    )


def create_log_file(
    conn: pg8000.native.Connection,
    key: str,
    name: str,
    size: int,
    source: str,
    fields: dict[str, Any] | None,
    *,
    etag: str | None = None,
) -> bool:
    """Create the file row of an object of fetched logs, awaiting its object (or done
    already, with the ``etag`` its object will have: an archive, which is not parsed).
    True when the caller should put the object: the row is new, or its object never came."""
    rows = conn.run(
        "INSERT INTO files (id, name, object_key, size_declared, upload_kind, source, fields, etag, status) "
        "VALUES (gen_random_uuid(), :n, :k, :s, 'external', :src, CAST(:f AS jsonb), :e, "
        "CASE WHEN CAST(:e AS text) IS NULL THEN 'awaiting_upload' ELSE 'done' END) "
        "ON CONFLICT (object_key) DO NOTHING RETURNING id",
        n=name,
        k=key,
        s=size,
        src=source,
        f=None if fields is None else json.dumps(fields, separators=(",", ":")),
        e=etag,
    )
    if rows:
        return True
    status = conn.run("SELECT status FROM files WHERE object_key = :k", k=key)
    return bool(status) and status[0][0] == "awaiting_upload" and etag is None


def _starts_with(key: str) -> str:
    """A LIKE pattern for the keys that start with ``key``, whatever characters it holds."""
    return key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def has_file(conn: pg8000.native.Connection, key: str) -> bool:
    """Whether a file row has the object key ``key``."""
    return bool(conn.run("SELECT 1 FROM files WHERE object_key = :k", k=key))


def lock_logs(conn: pg8000.native.Connection, prefix: str) -> None:
    """Until the caller's transaction ends, be the only one creating the file rows of the
    logs under ``prefix`` (a run attempt's): a job's own log and the run's archive check
    for each other and create their rows one after the other, never both."""
    conn.run("SELECT pg_advisory_xact_lock(hashtext(:k))", k="logpipe.github-logs:" + prefix)


def log_files(conn: pg8000.native.Connection, key_prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """The object key and fields of every file row whose key starts with ``key_prefix``."""
    rows = conn.run(
        "SELECT object_key, CAST(fields AS text) FROM files WHERE object_key LIKE :k", k=_starts_with(key_prefix)
    )
    return [(key, json.loads(fields) if fields else {}) for key, fields in rows]


def fetches(conn: pg8000.native.Connection, repository: str | None = None) -> list[dict[str, Any]]:
    rows = conn.run(
        "SELECT repository, run_id, run_attempt, job_id, workflow, status, error, archive_key, files, updated_at "
        "FROM github_log_fetches WHERE CAST(:r AS text) IS NULL OR repository = :r ORDER BY updated_at DESC",
        r=repository,
    )
    keys = ("repository", "run_id", "run_attempt", "job_id", "workflow", "status", "error", "archive_key", "files")
    return [dict(zip(keys, r[:-1], strict=True)) | {"updated_at": r[-1].isoformat()} for r in rows]


def fetched_runs(conn: pg8000.native.Connection, repository: str, run_ids: list[int]) -> set[tuple[int, int]]:
    """(run id, attempt) of those runs whose logs were asked for already."""
    rows = conn.run(
        "SELECT run_id, run_attempt FROM github_log_fetches WHERE repository = :r AND job_id = 0 "
        "AND run_id = ANY(CAST(:ids AS bigint[]))",
        r=repository,
        ids=run_ids,
    )
    return {(int(a), int(b)) for a, b in rows}


# -- the poller ---------------------------------------------------------------------------


def poll_etag(conn: pg8000.native.Connection, repository: str) -> str | None:
    rows = conn.run("SELECT etag FROM github_poll_state WHERE repository = :r", r=repository)
    return rows[0][0] if rows else None


def save_poll(conn: pg8000.native.Connection, repository: str, etag: str | None) -> None:
    conn.run(
        "INSERT INTO github_poll_state (repository, etag) VALUES (:r, :e) "
        "ON CONFLICT (repository) DO UPDATE SET etag = excluded.etag, polled_at = now()",
        r=repository,
        e=etag,
    )


def last_received(conn: pg8000.native.Connection) -> datetime | None:
    rows = conn.run("SELECT max(received_at) FROM github_deliveries")
    return rows[0][0] if rows else None
