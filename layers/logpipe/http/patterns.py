"""GET /api/patterns: the most frequent message templates, with counts, first/last seen and a
sample; GET /api/patterns/new: the templates of one file that another file does not have."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request

from ..db import files as files_db
from ..db import patterns as patterns_db
from ..errors import BadRequestError, NotFoundError
from ..parsing.formats import LEVELS
from ..search import params
from . import inputs
from .deps import connection
from .spec import ERROR, Op, Param, clamped_limit, declare, list_of, object_of, time_range

bp = Blueprint("patterns", __name__)


def _time(name: str) -> str | None:
    value = request.args.get(name)
    if not value:
        return None
    return params.parse_time(name, value, datetime.now(UTC)).isoformat()


PATTERN = object_of(
    ["id", "template", "count"],
    {"id": {"type": "string"}, "template": {"type": "string"}, "count": {"type": "integer"}},
)


@bp.get("/api/patterns")
@declare(
    Op(
        "The most frequent message templates",
        params=(
            clamped_limit(50, 500),
            Param("file_id", {"type": "string", "format": "uuid"}, "only this file's events"),
            Param("level", {"type": "string", "enum": list(LEVELS)}, "only events of this level"),
            *time_range(),
        ),
        responses={
            200: ("the patterns, most frequent first", list_of("patterns", PATTERN)),
            400: ("a parameter is malformed", ERROR),
        },
    )
)
def top_patterns() -> Any:
    """Top N patterns by count. Without filters from the patterns table; with
    ``file_id``, ``from``, ``to`` or ``level``, counted over the matching events. An id
    whose template has generalised since counts for the template it became."""
    limit = inputs.clamped_limit(50, 500)
    file_id = request.args.get("file_id")
    if file_id:
        try:
            file_id = str(uuid.UUID(file_id))
        except ValueError:
            raise BadRequestError("'file_id' must be a file's id (a UUID)") from None
    level = request.args.get("level")
    if level and level not in LEVELS:
        raise BadRequestError(f"'level' must be one of {', '.join(LEVELS)}")
    start, end = _time("from"), _time("to")

    with connection() as conn:
        if not (file_id or level or start or end):
            rows = patterns_db.top(conn, limit)
        else:
            rows = patterns_db.top_in_events(conn, limit, file_id=file_id, level=level, start=start, end=end)
    return {"patterns": [_view(r) for r in rows]}


def _view(r: patterns_db.PatternCount) -> dict[str, Any]:
    return {
        "id": r.id,
        "template": r.template,
        "count": r.count,
        "first_seen": r.first_seen.isoformat() if r.first_seen else None,  # events without a time
        "last_seen": r.last_seen.isoformat() if r.last_seen else None,
        "sample": r.sample,
    }


def _file_id(name: str) -> str:
    value = request.args.get(name)
    if not value:
        raise BadRequestError(f"'{name}' is required: a file's id (a UUID)")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise BadRequestError(f"'{name}' must be a file's id (a UUID)") from None


@bp.get("/api/patterns/new")
@declare(
    Op(
        "The patterns of one file that another file does not have",
        params=(
            Param(
                "file_id", {"type": "string", "format": "uuid"}, "the file whose new patterns are wanted", required=True
            ),
            Param("base", {"type": "string", "format": "uuid"}, "the file to compare with", required=True),
            clamped_limit(100, 1000),
        ),
        responses={
            200: ("the patterns of file_id that base does not have", list_of("patterns", PATTERN)),
            404: ("no such file", ERROR),
        },
    )
)
def new_patterns() -> Any:
    """The patterns of ``file_id`` that ``base`` (say, the last good run's log) does not
    have, with their counts in ``file_id`` and a sample from it."""
    limit = inputs.clamped_limit(100, 1000)
    file_id, base = _file_id("file_id"), _file_id("base")
    with connection() as conn:
        for fid in (file_id, base):
            if files_db.get(conn, fid) is None:
                raise NotFoundError(f"no file {fid}")
        rows = patterns_db.new_in_file(conn, file_id, base, limit)
    return {"file_id": file_id, "base": base, "patterns": [_view(r) for r in rows]}
