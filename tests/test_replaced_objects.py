"""An object replaced under a file's key (a presigned POST used twice) is refused and said
in the file's status, never read into the first object's events: every read of a file is
pinned to the ETag it was planned from."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from logpipe.ingest import Context, handle_deliveries
from logpipe.queue import ingest_queue
from logpipe.storage import Bucket, ObjectReplacedError

from conftest import Api, pump, query

services = pytest.mark.services


def _lines(tag: str, count: int) -> bytes:
    return "".join(f"2026-11-27 03:13:14,123 INFO object {tag} line {n:05d}\n" for n in range(1, count + 1)).encode()


def _presign(api: Api, size: int) -> dict[str, Any]:
    r = api.post("/api/uploads", json={"filename": "reused.log", "size": size})
    assert r.status_code == 201, r.get_json()
    body: dict[str, Any] = r.get_json()
    assert body["upload"]["method"] == "POST"
    return body


def _post(up: dict[str, Any], data: bytes) -> None:
    sent = requests.post(up["url"], data=up["fields"], files={"file": ("blob", data)}, timeout=60)
    assert sent.status_code in (200, 204), sent.text


def _plan_first(api: Api, file_id: str, then: int = 0) -> None:
    """Handle messages until the file is planned from the object its key holds now (a
    notification of the bucket's own, such as its test event, may come first), then
    ``then`` messages more (chunks of it)."""
    q = ingest_queue(api.settings)
    ctx = Context(api.settings)
    try:
        deadline = time.monotonic() + 30
        while not query(api.settings, "SELECT etag FROM files WHERE id = CAST(:f AS uuid)", f=file_id)[0][0]:
            assert time.monotonic() < deadline, "the upload was not planned within 30 s"
            deliveries = q.receive(1, wait_s=1)
            for d, outcome in zip(deliveries, handle_deliveries(ctx, deliveries, time.monotonic() + 600), strict=True):
                q.settle(d, outcome)
        while then > 0:
            assert time.monotonic() < deadline, "the chunks were not handled within 30 s"
            deliveries = q.receive(1, wait_s=1)
            for d, outcome in zip(deliveries, handle_deliveries(ctx, deliveries, time.monotonic() + 600), strict=True):
                q.settle(d, outcome)
            then -= len(deliveries)
    finally:
        ctx.close()
        q.close()


def _messages(api: Api, file_id: str) -> list[tuple[int, str]]:
    rows = query(
        api.settings,
        "SELECT line, message FROM events WHERE file_id = CAST(:f AS uuid) ORDER BY line",
        f=file_id,
    )
    return [(r[0], r[1]) for r in rows]


def _status(api: Api, file_id: str) -> tuple[str, str | None, str | None]:
    f = api.file(file_id)
    failure = query(api.settings, "SELECT failure FROM files WHERE id = CAST(:f AS uuid)", f=file_id)[0][0]
    return f["status"], failure, f["error"]


@services
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_object_replaced_while_its_chunks_wait_is_refused_never_mixed(
    make_api: Callable[..., Api], compress: bool
) -> None:
    api = make_api(chunk_bytes=4096)
    a, b = _lines("A", 800), _lines("B", 1500)
    if compress:
        a, b = gzip.compress(a), gzip.compress(b)
    body = _presign(api, max(len(a), len(b)))
    _post(body["upload"], a)
    # A is planned, and three of its chunks parsed (a gzip object is one chunk, parsed
    # where it is planned: it is done before B comes).
    _plan_first(api, body["file_id"], then=0 if compress else 3)
    _post(body["upload"], b)  # the same presigned POST, other bytes
    pump(api.settings)
    status, failure, error = _status(api, body["file_id"])
    assert (status, failure) == ("failed", "replaced"), error
    assert error is not None and "replaced" in error and "new file" in error
    rows = _messages(api, body["file_id"])
    assert 0 < len(rows) <= 800
    assert all(m.startswith("object A line ") for _, m in rows), [m for _, m in rows if "object A" not in m][:3]
    assert len({line for line, _ in rows}) == len(rows)
    assert [int(m[-5:]) for _, m in rows] == [line for line, _ in rows]  # each A line at its own number


@services
def test_reupload_after_done_is_refused_and_said_not_ignored(api: Api) -> None:
    a, b = _lines("A", 300), _lines("B", 200)
    body = _presign(api, max(len(a), len(b)))
    _post(body["upload"], a)
    pump(api.settings)
    assert _status(api, body["file_id"]) == ("done", None, None)
    _post(body["upload"], b)
    pump(api.settings)
    status, failure, error = _status(api, body["file_id"])
    assert (status, failure) == ("failed", "replaced")
    assert error is not None and "replaced" in error
    rows = _messages(api, body["file_id"])
    assert len(rows) == 300 and all(m.startswith("object A line ") for _, m in rows)


@services
def test_same_bytes_uploaded_again_change_nothing(api: Api) -> None:
    a = _lines("A", 300)
    body = _presign(api, len(a))
    _post(body["upload"], a)
    pump(api.settings)
    _post(body["upload"], a)  # a client that retried an upload that had worked
    pump(api.settings)
    assert _status(api, body["file_id"]) == ("done", None, None)
    assert len(_messages(api, body["file_id"])) == 300


@services
def test_ranged_read_pinned_to_an_etag_refuses_another_object(api: Api) -> None:
    bucket = Bucket(api.settings)
    bucket.s3.put_object(Bucket=api.settings.bucket, Key="uploads/pinned", Body=b"first\n")
    etag = bucket.head("uploads/pinned").etag
    assert bucket.open("uploads/pinned", 0, 3, etag=etag)(10) == b"fir"
    bucket.s3.put_object(Bucket=api.settings.bucket, Key="uploads/pinned", Body=b"second\n")
    with pytest.raises(ObjectReplacedError):
        bucket.open("uploads/pinned", 0, 3, etag=etag)
