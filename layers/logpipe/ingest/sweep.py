"""Re-queueing work whose messages were lost (a queue emptied, a restart, an expired
message), and closing uploads that will never arrive.

Safe at any time: every message it sends is idempotent, so a duplicate costs a lookup.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote_plus

from ..errors import PermanentError
from ..queue import ingest_queue
from .worker import Context, chunk_message


def s3_event(bucket: str, key: str) -> str:
    """An ``ObjectCreated`` notification for ``key``, shaped as S3 sends it (URL-encoded key)."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "eventTime": datetime.now(UTC).isoformat(),
                    "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key, safe="/")}},
                }
            ]
        }
    )


def requeue_stalled(ctx: Context, older_than_s: int = 0) -> int:
    """Send again the messages that unfinished files need; returns how many were sent."""
    conn = ctx.conn
    rows = conn.run(
        "SELECT c.file_id, c.seq FROM chunks c JOIN files f ON f.id = c.file_id "
        "WHERE NOT c.done AND f.status IN ('queued', 'processing') AND f.chunks_total IS NOT NULL "
        "AND c.updated_at < now() - make_interval(secs => :age)",
        age=older_than_s,
    )
    chunks = [chunk_message(str(file_id), seq) for file_id, seq in rows]
    unplanned = conn.run(
        "SELECT object_key FROM files WHERE chunks_total IS NULL "
        "AND status IN ('awaiting_upload', 'queued', 'processing') "
        "AND created_at < now() - make_interval(secs => :age)",
        age=older_than_s,
    )
    objects = []
    for (key,) in unplanned:
        try:
            ctx.bucket.head(key)
        except PermanentError:
            continue  # not uploaded (yet): nothing to do
        objects.append(s3_event(ctx.settings.bucket, key))
    if chunks:
        ctx.queue.send(chunks)
    if objects:
        ingest_queue(ctx.settings).send(objects)  # where the bucket's own notifications go
    return len(chunks) + len(objects)


# How long past its link's expiry an upload may still land: a POST or part PUT that
# started just before the expiry may take this long to finish.
UPLOAD_GRACE_S = 3600


def expire_uploads(ctx: Context, grace_s: int = UPLOAD_GRACE_S) -> int:
    """Mark failed the files still awaiting their upload long after its links expired and
    with no object in the bucket; returns how many. A file whose object is there is left
    for ``requeue_stalled``: it was uploaded, and only its notification went missing."""
    conn = ctx.conn
    expiry_s = ctx.settings.presign_expiry_s
    rows = conn.run(
        "SELECT id, object_key FROM files WHERE status = 'awaiting_upload' "
        "AND created_at < now() - make_interval(secs => :age)",
        age=expiry_s + grace_s,
    )
    gone = []
    for file_id, key in rows:
        try:
            ctx.bucket.head(key)
        except PermanentError:
            gone.append(str(file_id))
    for file_id in gone:
        conn.run(
            "UPDATE files SET status = 'failed', finished_at = now(), error = :error "
            "WHERE id = CAST(:f AS uuid) AND status = 'awaiting_upload'",
            f=file_id,
            error=(
                f"the upload never completed: its links expired {expiry_s} s after they were issued; "
                "upload the file again"
            ),
        )
    return len(gone)
