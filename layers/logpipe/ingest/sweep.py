"""Re-queueing work whose messages were lost (a queue emptied, a restart, an expired
message), and closing uploads that will never arrive.

Safe at any time: every message it sends is idempotent, so a duplicate costs a lookup.
"""

from __future__ import annotations

from ..db import chunks as chunks_db
from ..db import files as files_db
from ..errors import PermanentError
from ..queue import ingest_queue
from .context import Context
from .messages import chunk_message, s3_event


def _in_bucket(ctx: Context, key: str) -> bool:
    try:
        ctx.bucket.head(key)
    except PermanentError:
        return False
    return True


def requeue_stalled(ctx: Context, older_than_s: int = 0) -> int:
    """Send again the messages that unfinished files need; returns how many were sent."""
    conn = ctx.conn
    chunks = [chunk_message(file_id, seq) for file_id, seq in chunks_db.stalled(conn, older_than_s)]
    # Not uploaded (yet): nothing to do. Uploaded: only the notification went missing.
    landed = [key for key in files_db.unplanned_keys(conn, older_than_s) if _in_bucket(ctx, key)]
    objects = [s3_event(ctx.settings.bucket, key) for key in landed]
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
    gone = [file_id for file_id, key in files_db.awaiting_upload(conn, expiry_s + grace_s) if not _in_bucket(ctx, key)]
    for file_id in gone:
        with ctx.transaction() as conn:
            files_db.expire_upload(
                conn,
                file_id,
                f"the upload never completed: its links expired {expiry_s} s after they were issued; "
                "upload the file again",
            )
    return len(gone)
