"""Planning: an object that reached the bucket becomes a file row, chunk rows and chunk messages.

The object is checked first: larger than declared, empty, binary, gzip (by its magic
bytes). A plain object over ``chunk_bytes`` is cut into newline-aligned chunks in one
streaming pass, each recorded and queued as soon as it is found, so that workers start
on it while planning goes on; a gzip object, or a small one, is one chunk, parsed at once
by the worker that planned it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from ..db import chunks as chunks_db
from ..db import files as files_db
from ..errors import LogpipeError
from ..parsing import looks_binary
from ..parsing.inference import choose
from ..storage import Bucket, ObjectInfo
from ..storage.gunzip import DamagedInputError, compression_of, decompressed
from .boundaries import split_points
from .chunk import process_chunk
from .context import Context
from .messages import chunk_message

SNIFF_BYTES = 8192
LAYOUT_SAMPLE_BYTES = 64 * 1024  # at most this much of a file's start is its layout's sample
# The planner's first request asks for this many bytes, and learns the object's size and
# ETag with them: a plain object no larger is sniffed, sampled for its layout and parsed
# from those bytes, never asked for again (a small file's cost is in its requests).
READ_WHOLE_BYTES = 1024 * 1024


def _refusal(f: dict[str, Any], info: ObjectInfo) -> str | None:
    """Why the object must not be parsed, if it must not."""
    declared = f["size_declared"]
    if declared is not None and info.size > declared:
        return f"the uploaded object is {info.size} bytes but {declared} were declared: not parsed"
    return None


def _inferred_layout(
    ctx: Context, key: str, info: ObjectInfo, compression: str | None, tz: str, start: bytes | None = None
) -> dict[str, Any] | None:
    """The layout inferred from the object's first lines, when it reads them better than the
    known formats do (``parsing.inference.choose``); None otherwise. ``start``: the plain
    object's first bytes, when the planner has them already (not asked for again)."""
    if compression is not None:
        read = decompressed(ctx.bucket.open(key, etag=info.etag), compression)
    elif start is not None and len(start) >= min(info.size, LAYOUT_SAMPLE_BYTES):
        read = BytesIO(start[:LAYOUT_SAMPLE_BYTES]).read
    else:
        read = ctx.bucket.open(key, 0, min(info.size, LAYOUT_SAMPLE_BYTES), etag=info.etag)
    parts: list[bytes] = []
    got = 0
    try:
        while got < LAYOUT_SAMPLE_BYTES:
            part = read(LAYOUT_SAMPLE_BYTES - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
    except DamagedInputError:
        pass  # the lines before the damage are a sample all the same
    sample = b"".join(parts)
    lines = sample.decode("utf-8", "replace").split("\n")
    if got >= LAYOUT_SAMPLE_BYTES:
        lines.pop()  # cut off by the sample's end
    choice = choose([line.rstrip("\r") for line in lines], tz=tz)
    return choice.layout.to_dict() if choice.layout is not None else None


def plan_object(ctx: Context, key: str, deadline: float) -> None:
    """Record the object's chunks and queue them. Deterministic, so a repeat changes nothing
    (a file planned already has its unfinished chunks queued again)."""
    # The object's size and ETag come with its first bytes: one request, not a HEAD and a GET.
    info, first = ctx.bucket.read_start(key, READ_WHOLE_BYTES)
    with ctx.transaction() as conn:
        files_db.create_external(conn, key, info.size)
        f = files_db.by_key(conn, key, lock=True)
        assert f is not None
        file_id = str(f["id"])
        if f["etag"] is not None and f["etag"] != info.etag:
            # Another object under a key already planned (a presigned POST used twice):
            # refused, and said, never read into the events of the first.
            files_db.refuse_replaced(conn, file_id, f["etag"], info.etag)
            return
        if f["status"] in ("done", "failed") and f["etag"] == info.etag and not files_db.awaits_replay(f):
            return
        refusal = _refusal(f, info)
        pending = chunks_db.pending(conn, file_id) if f["chunks_total"] is not None else None
        if pending is None:  # not planned yet
            files_db.set_object(conn, file_id, info.size, info.etag)
            if refusal is not None:
                files_db.fail(conn, file_id, refusal, "upload")
            elif info.size == 0:
                files_db.finish_empty(conn, file_id)
    if pending is not None:
        ctx.queue.send([chunk_message(file_id, s) for s in pending])
        return
    if refusal is not None or info.size == 0:
        return

    whole_object = first if len(first) == info.size else None
    head = first[:SNIFF_BYTES]
    compression = compression_of(head)
    if compression is not None:
        try:
            head = decompressed(ctx.bucket.open(key, etag=info.etag), compression)(SNIFF_BYTES)
        except DamagedInputError:
            head = b""  # the chunk itself will report the damage, after keeping what it can
    if looks_binary(head):
        with ctx.transaction() as conn:
            reason = "this is a binary file (NUL or control bytes in its first 8 KiB), not a text log"
            files_db.fail(conn, file_id, reason, "content")
        return
    if f["source_format"] is None and f["layout_source"] != "forced":
        # Before any chunk is queued: every chunk reads with the layout the file's start has.
        plain_start = first if compression is None else None
        layout = _inferred_layout(ctx, key, info, compression, f["source_tz"] or "UTC", plain_start)
        with ctx.transaction() as conn:
            files_db.set_inferred_layout(conn, file_id, layout)

    chunk_bytes = ctx.settings.chunk_bytes
    whole = compression is not None or info.size <= chunk_bytes  # one chunk, parsed here and now
    plan: Iterable[tuple[int, int, int]] = (
        [(0, info.size, 1)] if whole else split_points(ctx.bucket.open(key, etag=info.etag), info.size, chunk_bytes)
    )
    count = 0
    for seq, (start, end, first_line) in enumerate(plan):
        chunks_db.add(ctx.conn, file_id, seq, start, end, first_line)
        count += 1
        if not whole:
            ctx.queue.send([chunk_message(file_id, seq)])  # workers start while planning goes on
    with ctx.transaction() as conn:
        files_db.set_plan(conn, file_id, count, compression, chunk_bytes)
    if whole:  # one chunk: no need for another queue hop
        process_chunk(ctx, file_id, 0, deadline, content=whole_object if compression is None else None)


# Objects a worker reads at once when it plans the small files of a batch: their requests
# wait on the bucket, not on this process's CPU.
READ_AT_ONCE = 8


@dataclass
class WholeObject:
    key: str
    chunk: chunks_db.Chunk  # its only chunk, as ``chunks.load`` would give it once planned
    content: bytes
    inferred: bool  # ``chunk.layout`` was inferred here, to be recorded with the events


def plan_small(ctx: Context, keys: list[str], settled: set[str]) -> Iterator[WholeObject]:
    """Plan the small plain objects among ``keys`` as one chunk each, to be parsed whole and
    committed together (``commit.commit_whole``), which records the plan with the events.
    Writes nothing but the rows of objects that came without a presign. Adds to
    ``settled`` the keys with nothing left to do (done at the ETag read).

    Each object is yielded as soon as it is read and its layout chosen, in the order of
    ``keys``, while the next ones are still being read: the caller parses one while the
    bucket answers for the others (a worker spent about a third of its time waiting on
    those reads when it made all of them first).

    The keys left out of the plan go the usual way (``plan_object``), which says what is
    wrong with each: an object that is gone, gzip, binary, larger than declared or than
    one request reads, empty, planned already, another object under a planned key...
    """
    bucket = ctx.bucket  # made here, before the threads share it (its client is thread-safe)
    with ThreadPoolExecutor(min(READ_AT_ONCE, len(keys)), thread_name_prefix="logpipe-read") as pool:
        reads = [pool.submit(_read_start, bucket, k) for k in keys]
        files = files_db.by_keys(ctx.conn, keys)  # while the objects are read
        unknown: dict[str, tuple[ObjectInfo, bytes]] = {}
        for key, read in zip(keys, reads, strict=True):
            found = read.result()
            if found is None:
                continue
            if key not in files:
                unknown[key] = found  # recorded together once every object is read
                continue
            obj = _whole_object(ctx, key, files[key], *found, settled)
            if obj is not None:
                yield obj
    if unknown:
        files_db.create_externals(ctx.conn, {k: info.size for k, (info, _) in unknown.items()})
        files = files_db.by_keys(ctx.conn, list(unknown))
        for key, found in unknown.items():
            if key in files:
                obj = _whole_object(ctx, key, files[key], *found, settled)
                if obj is not None:
                    yield obj


def _whole_object(
    ctx: Context, key: str, f: dict[str, Any], info: ObjectInfo, content: bytes, settled: set[str]
) -> WholeObject | None:
    """The object as one chunk to parse whole, if it is a small plain one not planned yet."""
    if f["etag"] == info.etag and f["status"] in ("done", "failed") and not files_db.awaits_replay(f):
        settled.add(key)
        return None
    if (
        f["chunks_total"] is not None
        or f["status"] in ("done", "failed")
        or (f["etag"] is not None and f["etag"] != info.etag)
        or _refusal(f, info) is not None
        or not 0 < info.size <= min(READ_WHOLE_BYTES, ctx.settings.chunk_bytes)
        or len(content) != info.size
        or compression_of(content[:SNIFF_BYTES]) is not None
        or looks_binary(content[:SNIFF_BYTES])
    ):
        return None
    inferred = f["source_format"] is None and f["layout_source"] != "forced"
    layout = _inferred_layout(ctx, key, info, None, f["source_tz"] or "UTC", content) if inferred else f["layout"]
    chunk = chunks_db.Chunk(
        str(f["id"]), key, None, 0, info.size, 1, 0, 1, False, f["status"], f["source_format"], f["source_tz"],
        info.etag, layout,
    )  # fmt: skip
    return WholeObject(key, chunk, content, inferred)


def _read_start(bucket: Bucket, key: str) -> tuple[ObjectInfo, bytes] | None:
    """The object's size, ETag and first bytes; None when it cannot be read now (the usual
    path then tries it, and says why)."""
    try:
        return bucket.read_start(key, READ_WHOLE_BYTES)
    except LogpipeError:
        return None
