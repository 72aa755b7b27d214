"""GET /api/patterns: the most frequent message templates, with counts, first/last seen and a sample."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, request

from ..errors import BadRequestError
from ..parsing.formats import LEVELS
from .deps import connection

bp = Blueprint("patterns", __name__)


def _time(name: str) -> str | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestError(f"'{name}' must be an ISO 8601 time, got {value!r}") from None
    return value


@bp.get("/api/patterns")
def top_patterns() -> Any:
    """Top N patterns by count. Without filters from the patterns table; with
    ``file_id``, ``from``, ``to`` or ``level``, counted over the matching events. An id
    whose template has generalised since counts for the template it became."""
    try:
        limit = min(max(int(request.args.get("limit", "50")), 1), 500)
    except ValueError:
        raise BadRequestError("'limit' must be a whole number") from None
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
            rows = conn.run(
                "WITH top AS ("
                " SELECT COALESCE(a.target, p.id) AS id, CAST(sum(p.count) AS bigint) AS n, min(p.first_seen) AS first,"
                "  max(p.last_seen) AS last, max(a.template) AS alias_template"
                " FROM patterns p LEFT JOIN pattern_aliases a ON a.id = p.id"
                " GROUP BY 1 ORDER BY n DESC, id LIMIT :limit)"
                " SELECT top.id, COALESCE(t.template, top.alias_template), top.n, top.first, top.last,"
                "  COALESCE(t.sample, (SELECT p.sample FROM patterns p JOIN pattern_aliases a ON a.id = p.id"
                "   WHERE a.target = top.id LIMIT 1))"
                " FROM top LEFT JOIN patterns t ON t.id = top.id ORDER BY top.n DESC, top.id",
                limit=limit,
            )
        else:
            where: list[str] = ["e.pattern_id IS NOT NULL"]
            params: dict[str, object] = {"limit": limit}
            if file_id:
                where.append("e.file_id = CAST(:file_id AS uuid)")
                params["file_id"] = file_id
            if level:
                where.append("e.level = :level")
                params["level"] = level
            if start:
                where.append("e.ts >= CAST(:start AS timestamptz)")
                params["start"] = start
            if end:
                where.append("e.ts < CAST(:end AS timestamptz)")
                params["end"] = end
            rows = conn.run(
                "WITH top AS ("
                " SELECT COALESCE(a.target, e.pattern_id) AS id, count(*) AS n, min(e.ts) AS first,"
                "  max(e.ts) AS last, max(a.template) AS alias_template"
                " FROM events e LEFT JOIN pattern_aliases a ON a.id = e.pattern_id"
                f" WHERE {' AND '.join(where)} GROUP BY 1 ORDER BY n DESC, id LIMIT :limit)"
                " SELECT top.id, COALESCE(t.template, top.alias_template), top.n, top.first, top.last,"
                "  (SELECT e.message FROM events e LEFT JOIN pattern_aliases a ON a.id = e.pattern_id"
                "   WHERE COALESCE(a.target, e.pattern_id) = top.id"
                + (" AND e.file_id = CAST(:file_id AS uuid)" if file_id else "")
                + "   LIMIT 1)"
                " FROM top LEFT JOIN patterns t ON t.id = top.id ORDER BY top.n DESC, top.id",
                **params,
            )
    return {
        "patterns": [
            {
                "id": r[0],
                "template": r[1],
                "count": r[2],
                "first_seen": r[3].isoformat(),
                "last_seen": r[4].isoformat(),
                "sample": r[5],
            }
            for r in rows
        ]
    }
