"""GET /api/files and /api/files/{id}: what was uploaded and how its parsing is going."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request

from ..db import files as files_db
from ..errors import NotFoundError
from ..search import params
from . import inputs
from .deps import connection
from .spec import FILE, TIME_DOC, Op, Param, clamped_limit, declare, list_of

bp = Blueprint("files", __name__)


@bp.get("/api/files")
@declare(
    Op(
        "The files uploaded, newest first",
        params=(
            clamped_limit(100, 1000),
            Param("before", {"type": "string", "maxLength": 64}, f"only files created before this: {TIME_DOC}"),
        ),
        responses={200: ("the files", list_of("files", FILE))},
    )
)
def list_files() -> Any:
    limit = inputs.clamped_limit(100, 1000)
    before = request.args.get("before") or None
    if before is not None:
        before = params.parse_time("before", before, datetime.now(UTC)).isoformat()
    with connection() as conn:
        rows = files_db.list_recent(conn, limit, before)
    return {"files": [files_db.public_view(f) for f in rows]}


@bp.get("/api/files/<file_id>")
@declare(
    Op(
        "One file: its status and how its parsing is going",
        params=(Param("file_id", {"type": "string"}, "the file's id", where="path"),),
        responses={200: ("the file", FILE), 404: ("no such file", None)},
    )
)
def get_file(file_id: str) -> Any:
    with connection() as conn:
        f = files_db.get(conn, file_id)
    if f is None:
        raise NotFoundError(f"no file {file_id}")
    return files_db.public_view(f)
