"""GET /api/files and /api/files/{id}: what was uploaded and how its parsing is going."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request

from ..db import files as files_db
from ..errors import BadRequestError, NotFoundError
from ..search import params
from .deps import connection

bp = Blueprint("files", __name__)


@bp.get("/api/files")
def list_files() -> Any:
    try:
        limit = min(max(int(request.args.get("limit", "100")), 1), 1000)
    except ValueError:
        raise BadRequestError("'limit' must be a whole number") from None
    before = request.args.get("before") or None
    if before is not None:
        before = params.parse_time("before", before, datetime.now(UTC)).isoformat()
    with connection() as conn:
        rows = files_db.list_recent(conn, limit, before)
    return {"files": [files_db.public_view(f) for f in rows]}


@bp.get("/api/files/<file_id>")
def get_file(file_id: str) -> Any:
    with connection() as conn:
        f = files_db.get(conn, file_id)
    if f is None:
        raise NotFoundError(f"no file {file_id}")
    return files_db.public_view(f)
