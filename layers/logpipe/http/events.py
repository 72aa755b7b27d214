"""GET /api/events, /api/events/{id} and /api/histogram: searching stored events.

The handlers check the request (search/params.py), ask the engine (search/engine.py)
and write its answer. Events come from the database as the stream's JSON text and go
out as they came.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from ..errors import NotFoundError
from ..parsing.formats import LEVELS
from ..search import engine, params
from .deps import connection, settings
from .spec import ANY_OBJECT, TIME_DOC, Op, Param, declare, object_of, time_range

FILTERS = (
    Param("file_id", {"type": "string", "format": "uuid"}, "only this file's events"),
    Param("source", {"type": "string", "maxLength": params.MAX_NAME}, "only events of this source"),
    Param("level", {"type": "string", "enum": list(LEVELS)}, "the least severe level wanted"),
    Param("q", {"type": "string"}, "words and phrases the message holds (see the README's query language)"),
    Param("pattern_id", {"type": "string", "maxLength": params.MAX_NAME}, "only events of this pattern"),
    *time_range(f"events at or after: {TIME_DOC}", f"events before: {TIME_DOC}"),
)
EVENTS: dict[str, Any] = {
    "type": "object",
    "required": ["events", "next_cursor", "as_of"],
    "properties": {
        "events": {"type": "array", "items": ANY_OBJECT},
        "next_cursor": {"type": "string", "nullable": True},
        "as_of": {"type": "integer"},
    },
}

bp = Blueprint("events", __name__)


def _filtered(summary: str, *own: Param, responses: dict[int, tuple[str, dict[str, Any] | None]]) -> Op:
    """A route over the events that ``FILTERS`` select, with parameters of its own after them."""
    return Op(summary, params=(*FILTERS, *own), responses=responses)


def _json(head: dict[str, Any], **texts: str | list[str]) -> Response:
    """``head`` as a JSON object, then each of ``texts``: an event's JSON text, or a list of
    them, as they came from the database."""
    body = json.dumps(head, separators=(",", ":"), default=str)[:-1]
    for key, text in texts.items():
        body += f',"{key}":' + (text if isinstance(text, str) else "[" + ",".join(text) + "]")
    return Response(body + "}", mimetype="application/json")


@bp.get("/api/events")
@declare(
    _filtered(
        "Search stored events, a page at a time",
        Param("order", {"type": "string", "enum": list(params.ORDERS)}, "desc (newest first, the default) or asc"),
        Param("limit", {"type": "integer", "minimum": 1}, f"events per page (at most {params.MAX_LIMIT})"),
        Param("cursor", {"type": "string"}, "next_cursor of the page before, as it came"),
        responses={200: ("a page of events", EVENTS)},
    )
)
def search_events() -> Any:
    args = request.args.to_dict()
    req = params.events_request(args, settings().api_token)
    with connection() as conn:
        page = engine.find_events(conn, req)
    cursor = None
    if page.last is not None:
        cursor = params.make_cursor(settings().api_token, args, page.last, page.as_of, req.now)
    head: dict[str, Any] = {"next_cursor": cursor, "as_of": page.as_of, "limit": req.limit, "order": req.order}
    if page.unknown_fields:
        head["unknown_fields"] = page.unknown_fields
    return _json(head, events=page.events)


@bp.get("/api/events/<event_id>")
@declare(
    Op(
        "One event, with lines of context either side",
        params=(
            Param("event_id", {"type": "string"}, "<file_id>:<line>, as an event's id says", where="path"),
            Param("before", {"type": "integer", "minimum": 0}, f"lines before (at most {params.MAX_CONTEXT})"),
            Param("after", {"type": "integer", "minimum": 0}, f"lines after (at most {params.MAX_CONTEXT})"),
        ),
        responses={
            200: (
                "the event and its context",
                object_of(["event", "before", "after"], {"event": ANY_OBJECT}),
            ),
            404: ("no event holds that line", None),
        },
    )
)
def event_with_context(event_id: str) -> Any:
    file_id, line = params.event_id(event_id)
    before, after = params.context(request.args.to_dict())
    with connection() as conn:
        found = engine.event_context(conn, file_id, line, before, after)
    if found is None:
        raise NotFoundError(f"no event holds line {line} of file {file_id}")
    head = {"before_lines": before, "after_lines": after}
    return _json(head, event=found.event, before=found.before, after=found.after)


@bp.get("/api/histogram")
@declare(
    _filtered(
        "Counts of the matching events per time bucket",
        Param("bucket", {"type": "string", "enum": list(params.BUCKETS)}, "left out: chosen from the range"),
        responses={
            200: (
                "the buckets",
                object_of(["bucket", "total", "buckets"], {"total": {"type": "integer"}, "buckets": {"type": "array"}}),
            )
        },
    )
)
def histogram() -> Any:
    flt, bucket = params.histogram_request(request.args.to_dict())
    with connection() as conn:
        h = engine.histogram(conn, flt, bucket)
    return {
        "bucket": h.bucket,
        "bucket_seconds": params.BUCKETS[h.bucket],
        "bucket_rule": engine.BUCKET_RULE if h.chosen else "as asked",
        "from": h.start.isoformat() if h.start else None,
        "to": h.end.isoformat() if h.end else None,
        "total": h.total,
        "as_of": h.as_of,
        "buckets": h.buckets,
    }
