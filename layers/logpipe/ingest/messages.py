"""The messages a parse-worker receives and sends: their shapes, and which stage each goes to.

- An S3 ``ObjectCreated`` notification (from the bucket, or sent again by ``sweep``): each
  object is planned into chunks (``plan``).
- ``{"kind": "chunk", "file_id": ..., "seq": ...}``: the chunk is parsed and committed
  (``chunk``).
- ``{"kind": "github_logs", "repository": ..., "run_id": ...}``: the logs of a finished
  Actions run or job are fetched and their files put in the bucket (``github.logs``).
- S3's ``s3:TestEvent``, and records of other S3 events: nothing to do.

Anything else is a bad message: ``decode`` says why with a ``PermanentError``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from ..errors import PermanentError
from ..github.logs import MESSAGE_KIND as GITHUB_LOGS
from ..github.logs import LogsTask


@dataclass(frozen=True)
class ChunkTask:
    file_id: str
    seq: int


@dataclass(frozen=True)
class ObjectsCreated:
    keys: list[str]  # decoded, in the bucket the worker reads


def chunk_message(file_id: str, seq: int) -> str:
    return json.dumps({"kind": "chunk", "file_id": str(file_id), "seq": seq})


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


def decode(body: str, bucket: str) -> ChunkTask | ObjectsCreated | LogsTask:
    """What a message asks of a worker that reads ``bucket``. Raises PermanentError, saying
    what is wrong, for a message no worker can act on."""
    try:
        msg: Any = json.loads(body)
    except ValueError as exc:
        raise PermanentError(f"message is not JSON: {exc}") from None
    if not isinstance(msg, dict):
        raise PermanentError("message is not a JSON object")
    if msg.get("Event") == "s3:TestEvent":
        return ObjectsCreated([])
    if "Records" in msg:
        return ObjectsCreated(_created_keys(msg["Records"], bucket))
    if msg.get("kind") == "chunk":
        try:
            return ChunkTask(str(uuid.UUID(str(msg["file_id"]))), int(msg["seq"]))
        except (KeyError, TypeError, ValueError):
            raise PermanentError("chunk message needs a UUID 'file_id' and a whole-number 'seq'") from None
    if msg.get("kind") == GITHUB_LOGS:
        return LogsTask.decode(msg)
    raise PermanentError(f"unknown message: {body[:200]}")


def _created_keys(records: Any, bucket: str) -> list[str]:
    if not isinstance(records, list):
        raise PermanentError("'Records' is not a list")
    keys = []
    for record in records:
        if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
            raise PermanentError(f"not an S3 event record: {str(record)[:200]}")
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        try:
            key = unquote_plus(record["s3"]["object"]["key"])  # S3 sends keys URL-encoded ("+" for a space)
            record_bucket = record["s3"]["bucket"]["name"]
        except (KeyError, TypeError):
            raise PermanentError("S3 event record without s3.bucket.name and s3.object.key") from None
        if record_bucket != bucket:
            raise PermanentError(f"event for bucket {record_bucket!r}, but this worker reads {bucket!r}")
        keys.append(key)
    return keys
