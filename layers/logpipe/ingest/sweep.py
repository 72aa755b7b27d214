"""Re-queueing work whose messages were lost (a queue emptied, a restart, an expired
message), picking up objects that reached the bucket with no notification at all, and
closing uploads that will never arrive. rollup-cron runs them every minute.

Safe at any time: every message it sends is idempotent, so a duplicate costs a lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..db import chunks as chunks_db
from ..db import cron as cron_db
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
    """Send again the messages that unfinished files need, when nothing has moved them for
    ``older_than_s`` seconds (files stuck in ``processing`` or ``queued``, and uploads whose
    notification never came); returns how many were sent. Each is sent once per
    ``older_than_s`` at most, however often this runs."""
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


BUCKET_WALK = "bucket_walk"  # sweep_state: the last key the walk of the bucket looked at
WALK_PAGES = 5  # pages of 1,000 keys a run looks at


def pick_up_unrecorded(ctx: Context, older_than_s: int, pages: int = WALK_PAGES) -> int:
    """Notify the ingest queue of objects in the bucket that no file row knows and that were
    written more than ``older_than_s`` ago (their own notification never came); returns
    how many. The bucket is walked a few pages a run, from where the last run stopped,
    and again from the start once its end is reached."""
    start = cron_db.get(ctx.conn, BUCKET_WALK) or ""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    found: list[str] = []
    for _ in range(pages):
        objects, more = ctx.bucket.list_after(start)
        if objects:
            known = files_db.known_keys(ctx.conn, [key for key, _ in objects])
            found += [key for key, written in objects if key not in known and written < cutoff]
            start = objects[-1][0]
        if not more:
            start = ""
            break
    if found:
        ingest_queue(ctx.settings).send([s3_event(ctx.settings.bucket, key) for key in found])
    cron_db.put(ctx.conn, BUCKET_WALK, start)
    return len(found)


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
