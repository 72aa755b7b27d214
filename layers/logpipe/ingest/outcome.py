"""What became of each message: it is run, its error classified (here, and only here), the
retry policy decides its outcome, and the file of a dead-lettered message is marked failed.

- a chunk another delivery got to first: done, nothing written;
- ``PermanentError`` (the message is bad, or its object cannot be read): rejected;
- GitHub's rate limit, which says when to come back: throttled, retried then;
- a dependency that did not answer (Postgres, the queue, the bucket): unavailable;
- anything else: failed, which the policy retries up to ``LOGPIPE_MAX_ATTEMPTS`` tries.
"""

from __future__ import annotations

import logging
import time

import pg8000.native

from .. import metrics
from ..db import chunks as chunks_db
from ..db import files as files_db
from ..errors import LogpipeError, PermanentError, RetryableError, ServiceUnavailableError
from ..github.client import RateLimitedError
from ..github.logs import LogsTask, fetch_logs
from ..queue import Delivery, Outcome
from ..queue.policy import OK, Result, RetryPolicy
from ..storage import ObjectReplacedError
from .chunk import parse_whole, process_chunk
from .commit import ChunkTakenError, WholeFile, commit_whole
from .context import Context
from .messages import ChunkTask, ObjectsCreated, decode
from .plan import WholeObject, plan_object, plan_small

log = logging.getLogger("logpipe.ingest")


def handle_message(ctx: Context, body: str, deadline: float) -> None:
    """Do what one message asks. Idempotent: any message may be delivered again."""
    task = decode(body, ctx.settings.bucket)
    if isinstance(task, ChunkTask):
        start = time.perf_counter()
        try:
            process_chunk(ctx, task.file_id, task.seq, deadline)
        finally:
            metrics.CHUNK_SECONDS.observe(time.perf_counter() - start)
        return
    if isinstance(task, LogsTask):
        fetch_logs(ctx, task)
        return
    for key in task.keys:
        plan_object(ctx, key, deadline)


def _unavailable(exc: BaseException) -> bool:
    return isinstance(exc, (RetryableError, ServiceUnavailableError, pg8000.native.InterfaceError, OSError))


def _run(ctx: Context, d: Delivery, deadline: float) -> Result:
    """Run the delivery's message; how it ended, with the connection left fit for the next one."""
    try:
        handle_message(ctx, d.body, deadline)
    except ChunkTakenError:
        return OK
    except ObjectReplacedError as exc:
        ctx.rollback()
        try:
            _refuse_replaced(ctx, exc)
        except Exception as again:  # noqa: BLE001 - the file could not be marked: the message is tried again
            ctx.rollback()
            log.warning("could not mark a replaced file: %s", again)
            return Result("unavailable" if _unavailable(again) else "failed", f"{type(again).__name__}: {again}")
        return OK
    except PermanentError as exc:
        log.warning("dead-lettering a message: %s", exc)
        return Result("rejected", str(exc))
    except RateLimitedError as exc:
        log.warning("will retry when GitHub said: %s", exc)
        ctx.rollback()
        return Result("throttled", str(exc), exc.wait_s)
    except Exception as exc:
        if _unavailable(exc):
            ctx.drop_connection()
            log.warning("will retry (dependency unavailable): %s", exc)
            return Result("unavailable", str(exc))
        log.exception("message failed on attempt %d", d.attempt)
        ctx.rollback()
        return Result("failed", f"{type(exc).__name__}: {exc}")
    return OK


def _refuse_replaced(ctx: Context, exc: ObjectReplacedError) -> None:
    """Say on the file that its object was replaced under it: nothing of the new one was read."""
    try:
        found: str | None = ctx.bucket.head(exc.key).etag
    except LogpipeError:  # gone altogether, or the bucket did not answer: the error says less
        found = None
    with ctx.transaction() as conn:
        f = files_db.by_key(conn, exc.key, lock=True)
        if f is not None:
            files_db.refuse_replaced(conn, str(f["id"]), exc.planned, found)
    log.warning("%s", exc)


def _files_of(ctx: Context, body: str) -> list[str]:
    """The files a message is about: the file of a chunk (one that was planned: a message
    naming another is wrong, not the file), or the files of an S3 event's objects."""
    try:
        task = decode(body, ctx.settings.bucket)
    except PermanentError:
        return []
    if isinstance(task, LogsTask):
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


def _together(ctx: Context, deliveries: list[Delivery]) -> set[int]:
    """Handle the small files that the batch's S3 notifications name together: planned,
    parsed, then committed in one transaction (``plan.plan_small``, ``chunk.parse_whole``,
    ``commit.commit_whole``). Returns the positions of the deliveries that are done.

    Failures stay each message's own: a file that does not parse, or that is not a small
    plain one, leaves its message to the usual path (``_run``), which retries or
    dead-letters it alone; when the batch's commit fails, every message goes that way, and
    each succeeds or fails on its own.
    """
    keys_of: dict[int, list[str]] = {}
    for n, d in enumerate(deliveries):
        try:
            task = decode(d.body, ctx.settings.bucket)
        except PermanentError:
            continue
        if isinstance(task, ObjectsCreated) and task.keys:
            keys_of[n] = task.keys
    keys = list(dict.fromkeys(k for ks in keys_of.values() for k in ks))
    if len(keys) < 2:  # one file: the usual path costs the same
        return set()
    settled: set[str] = set()
    planned: list[WholeObject] = []
    try:
        whole = []
        for obj in plan_small(ctx, keys, settled):  # each parsed while the next are read
            planned.append(obj)
            try:
                batches = parse_whole(ctx, obj.chunk, obj.content)
            except Exception as exc:  # noqa: BLE001 - its message takes the usual path, and its error there
                log.warning("a small file goes the usual way: %s: %s", type(exc).__name__, exc)
                continue
            c = obj.chunk
            whole.append(WholeFile(c.file_id, c.etag or "", c.end_offset, c.layout, obj.inferred, batches))
        committed = commit_whole(ctx, whole)
    except Exception as exc:  # noqa: BLE001 - every message takes the usual path, which classifies its error
        log.warning("the small files of a batch go the usual way: %s: %s", type(exc).__name__, exc)
        ctx.miner.report_again()  # the aliases of files parsed before the failure were not written
        ctx.rollback()
        return set()
    done = settled | {obj.key for obj in planned if obj.chunk.file_id in committed}
    return {n for n, ks in keys_of.items() if all(k in done for k in ks)}


def handle_deliveries(ctx: Context, deliveries: list[Delivery], deadline: float) -> list[Outcome]:
    """Handle each delivery and say what should become of it (``RetryPolicy.decide``); the
    file of a message that is to be dead-lettered is marked failed with the reason.

    The small files the batch's notifications name are handled together first (``_together``)."""
    policy = RetryPolicy.of(ctx.settings)
    outcomes = []
    together = _together(ctx, deliveries)
    for n, d in enumerate(deliveries):
        result = OK if n in together else _run(ctx, d, deadline)
        outcome = policy.decide(d, result)
        if outcome.action == "retry":
            metrics.RETRIES.labels(result.kind).inc()
        elif outcome.action == "dead_letter":
            metrics.DEAD_LETTERED.labels("rejected" if result.kind == "rejected" else "failed").inc()
            _mark_dead_lettered(ctx, d.body, outcome.error or "")
        outcomes.append(outcome)
    return outcomes
