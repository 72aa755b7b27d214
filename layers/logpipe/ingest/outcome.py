"""What became of each message: it is run, its error classified (here, and only here), and
the file of a dead-lettered message is marked failed."""

from __future__ import annotations

import logging

import pg8000.native

from ..db import chunks as chunks_db
from ..db import files as files_db
from ..errors import PermanentError, RetryableError, ServiceUnavailableError
from ..queue import Delivery, Outcome
from .chunk import process_chunk
from .commit import ChunkTakenError
from .context import Context
from .messages import ChunkTask, decode
from .plan import plan_object

log = logging.getLogger("logpipe.ingest")


def handle_message(ctx: Context, body: str, deadline: float) -> None:
    """Do what one message asks. Idempotent: any message may be delivered again."""
    task = decode(body, ctx.settings.bucket)
    if isinstance(task, ChunkTask):
        process_chunk(ctx, task.file_id, task.seq, deadline)
        return
    for key in task.keys:
        plan_object(ctx, key, deadline)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (RetryableError, ServiceUnavailableError, pg8000.native.InterfaceError, OSError))


def _files_of(ctx: Context, body: str) -> list[str]:
    """The files a message is about: the file of a chunk (one that was planned: a message
    naming another is wrong, not the file), or the files of an S3 event's objects."""
    try:
        task = decode(body, ctx.settings.bucket)
    except PermanentError:
        return []
    if isinstance(task, ChunkTask):
        return [task.file_id] if chunks_db.load(ctx.conn, task.file_id, task.seq) is not None else []
    found = (files_db.by_key(ctx.conn, key) for key in task.keys)
    return [str(f["id"]) for f in found if f is not None]


def _mark_dead_lettered(ctx: Context, body: str, error: str) -> None:
    """Say on the message's file(s) that it was dead-lettered, and why."""
    try:
        for file_id in _files_of(ctx, body):
            with ctx.transaction() as conn:
                files_db.fail_dead_lettered(conn, file_id, error)
    except Exception:
        # The dead-letter queue still carries the error; the file shows it next time.
        log.exception("could not mark the file of a dead-lettered message failed")
        ctx.rollback()  # lets go of the connection if that is what failed


def handle_deliveries(ctx: Context, deliveries: list[Delivery], deadline: float) -> list[Outcome]:
    """Handle each delivery and say what should become of it.

    - ok: done (or a duplicate that needed nothing);
    - retry: a dependency is down (does not count toward the dead-letter limit) or an
      unexpected error on a try before the last;
    - dead: a permanent error, or the last allowed try failed. The file, if any, is
      marked failed with the reason.
    """
    outcomes = []
    for d in deliveries:
        try:
            handle_message(ctx, d.body, deadline)
            outcomes.append(Outcome(d.id, "ok"))
        except ChunkTakenError:
            outcomes.append(Outcome(d.id, "ok"))
        except PermanentError as exc:
            log.warning("dead-lettering a message: %s", exc)
            _mark_dead_lettered(ctx, d.body, str(exc))
            outcomes.append(Outcome(d.id, "dead", str(exc)))
        except Exception as exc:
            if _transient(exc):
                ctx.drop_connection()
                log.warning("will retry (dependency unavailable): %s", exc)
                outcomes.append(Outcome(d.id, "retry", str(exc), counts_as_attempt=False))
                continue
            error = f"{type(exc).__name__}: {exc}"
            log.exception("message failed on attempt %d", d.attempt)
            ctx.rollback()
            if d.attempt >= ctx.settings.max_attempts:
                _mark_dead_lettered(ctx, d.body, error)
                outcomes.append(Outcome(d.id, "dead", error))
            else:
                outcomes.append(Outcome(d.id, "retry", error))
    return outcomes
