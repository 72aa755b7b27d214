"""POST /api/uploads: record a file and hand back a presigned upload straight to the bucket."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, request

from ..db import files as files_db
from ..db import stream as stream_db
from ..errors import BadRequestError, ConflictError, NotFoundError, PermanentError
from ..parsing.formats import FORMATS
from ..parsing.layouts import Layout
from ..parsing.timeparse import zone
from ..storage import Bucket
from ..storage.bucket import PartsRejectedError, UploadGoneError
from .deps import connection, settings
from .inputs import json_body
from .spec import FILE, Op, Param, declare

bp = Blueprint("uploads", __name__)

MAX_NAME = 1024
MAX_ZONE = 64  # the longest IANA name has 32 characters
MAX_PART = 10_000  # S3's highest part number
# An S3 part's ETag: the MD5 of its bytes in hex, in quotes (which a client may drop).
_ETAG = re.compile(r'^"?[0-9a-fA-F]{32}"?$')


_HINT = '{"filename": ..., "size": ..., "content_type": ...}'


def _body() -> dict[str, Any]:
    body = json_body(_HINT)
    if not isinstance(body, dict):
        raise BadRequestError(f"send a JSON object: {_HINT}")
    return body


def _layout(body: dict[str, Any]) -> dict[str, Any] | None:
    """The ``layout`` an upload forces (as ``GET /api/files/{id}`` shows one), checked now."""
    layout = body.get("layout")
    if layout is None:
        return None
    if body.get("format") is not None:
        raise BadRequestError("send a 'format' or a 'layout', not both: a layout is read instead of the formats")
    try:
        return Layout.from_dict(layout).to_dict()
    except ValueError as exc:
        raise BadRequestError(f"bad 'layout': {exc}") from None


def _parsing_options(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The per-source overrides: ``format`` (else detected from content) and ``timezone``
    of naive timestamps (else UTC), checked now so that a typo is a 400, not a failed file."""
    fmt, tz = body.get("format"), body.get("timezone")
    if fmt is not None:
        if not isinstance(fmt, str) or fmt not in FORMATS:
            raise BadRequestError(f"'format' must be one of: {', '.join(FORMATS)} (or left out to detect it)")
    if tz is not None:
        if not isinstance(tz, str):
            raise BadRequestError("'timezone' must be an IANA name such as 'Europe/Paris', or an offset like '+02:00'")
        try:
            if len(tz) > MAX_ZONE:
                raise ValueError(tz)
            zone(tz)
        except (ValueError, LookupError, IndexError, OSError):  # OSError: a folder of the zone database
            raise BadRequestError(f"unknown 'timezone' {tz!r}: use an IANA name such as 'Europe/Paris'") from None
    return fmt, tz


UPLOAD_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["filename", "size"],
    "properties": {
        "filename": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S"},
        "size": {"type": "integer", "minimum": 0},
        "content_type": {"type": "string", "maxLength": 255, "nullable": True},
        "format": {"type": "string", "enum": list(FORMATS), "nullable": True},
        "timezone": {"type": "string", "maxLength": MAX_ZONE, "nullable": True},
        "layout": {"type": "object", "nullable": True, "description": "a layout, as GET /api/files/{id} shows one"},
    },
}
UPLOAD: dict[str, Any] = {
    "type": "object",
    "required": ["file_id", "upload"],
    "properties": {
        "file_id": {"type": "string", "format": "uuid"},
        "upload": {
            "type": "object",
            "required": ["method"],
            "properties": {"method": {"type": "string", "enum": ["POST", "PUT"]}, "url": {"type": "string"}},
        },
    },
}
PARTS_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "parts": {
            "type": "array",
            "maxItems": MAX_PART,
            "items": {
                "type": "object",
                "required": ["part_number", "etag"],
                "properties": {
                    "part_number": {"type": "integer", "minimum": 1, "maximum": MAX_PART},
                    "etag": {"type": "string", "pattern": _ETAG.pattern},
                },
            },
        }
    },
}


@bp.post("/api/uploads")
@declare(
    Op(
        "Record a file and get a presigned upload straight to the bucket (a POST, or PUTs of parts above the"
        " multipart threshold)",
        body=UPLOAD_BODY,
        body_hint=_HINT,
        responses={201: ("the file's id and how to upload its bytes", UPLOAD)},
    )
)
def create_upload() -> Any:
    body = _body()
    s = settings()
    name = body.get("filename")
    if not isinstance(name, str) or not name.strip():
        raise BadRequestError("'filename' must be a non-empty string")
    if len(name) > MAX_NAME or "\x00" in name:
        raise BadRequestError(f"'filename' must be at most {MAX_NAME} characters, without NUL")
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadRequestError("'size' must be the file's size in bytes, a whole number >= 0")
    if size > s.max_upload_bytes:
        raise BadRequestError(f"'size' is over the limit of {s.max_upload_bytes} bytes")
    content_type = body.get("content_type")
    if content_type is not None and (not isinstance(content_type, str) or len(content_type) > 255):
        raise BadRequestError("'content_type' must be a string of at most 255 characters")

    source_format, source_tz = _parsing_options(body)
    layout = _layout(body)

    multipart = size > s.multipart_threshold
    bucket = Bucket(s)
    with connection() as conn, stream_db.transaction(conn):
        f = files_db.create_upload(
            conn,
            name=name,
            size=size,
            content_type=content_type,
            kind="multipart" if multipart else "post",
            source_format=source_format,
            source_tz=source_tz,
            layout=layout,
        )
        file_id = str(f["id"])
        if multipart:
            upload_id, upload = bucket.start_multipart(f["object_key"], size, content_type)
            files_db.set_multipart(conn, file_id, upload_id)
            upload["complete_url"] = f"/api/uploads/{file_id}/complete"
        else:
            upload = bucket.presign_post(f["object_key"], size, content_type)
    return {"file_id": file_id, "upload": upload}, 201


_PARTS_HINT = '{"parts": [{"part_number": 1, "etag": "\\"<the part\'s ETag>\\""}, ...]}'


def _etags(body: Any) -> dict[int, str]:
    """The ETags a client names by part number, checked: a bogus one is the client's to fix."""
    if not isinstance(body, dict):
        raise BadRequestError(f"send a JSON object: {_PARTS_HINT}")
    parts = body.get("parts", [])
    if not isinstance(parts, list) or len(parts) > MAX_PART:
        raise BadRequestError(f"'parts' must be a list of at most {MAX_PART} parts: {_PARTS_HINT}")
    etags: dict[int, str] = {}
    for part in parts:
        number = part.get("part_number") if isinstance(part, dict) else None
        etag = part.get("etag") if isinstance(part, dict) else None
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_PART:
            raise BadRequestError(f"each of 'parts' needs a 'part_number' from 1 to {MAX_PART}: {_PARTS_HINT}")
        if not isinstance(etag, str) or _ETAG.match(etag) is None:
            raise BadRequestError(
                f"part {number}: 'etag' must be the ETag S3 answered for the part (32 hex digits), "
                f"got {str(etag)[:80]!r}"
            )
        etags[number] = f'"{etag.strip(chr(34))}"'
    return etags


@bp.post("/api/uploads/<file_id>/complete")
@declare(
    Op(
        "Finish a multipart upload (idempotent)",
        params=(Param("file_id", {"type": "string"}, "the id POST /api/uploads gave", where="path"),),
        body=PARTS_BODY,
        body_hint=_PARTS_HINT,
        responses={
            200: ("already complete: the file as it stands", FILE),
            202: ("completed: the file will be parsed", FILE),
            404: ("no such file", None),
            409: ("a single-POST upload, or one that expired or was aborted", None),
        },
    )
)
def complete_upload(file_id: str) -> Any:
    """Finish a multipart upload. Idempotent: once the object is whole, asking again
    answers 200 with the file as it stands, whatever the parts sent."""
    body = json_body(_PARTS_HINT) if request.get_data(cache=True) else {}
    etags = _etags(body)
    bucket = Bucket(settings())
    with connection() as conn:
        f = files_db.get(conn, file_id)
        if f is None:
            raise NotFoundError(f"no file {file_id}")
        if f["upload_kind"] != "multipart":
            raise ConflictError("this upload is a single POST: there is nothing to complete")
        if f["status"] != "awaiting_upload":
            return files_db.public_view(f), 200
        try:
            bucket.complete_multipart(f["object_key"], f["multipart_id"], etags)
        except PartsRejectedError as exc:
            raise BadRequestError(str(exc)) from exc
        except UploadGoneError as exc:
            if bucket.exists(f["object_key"]):  # completed before: by an earlier call of this
                return files_db.public_view(f), 200
            raise ConflictError(f"{exc}: it expired or was aborted; start a new upload") from exc
        except PermanentError as exc:
            raise ConflictError(str(exc)) from exc
        return files_db.public_view(f), 202
