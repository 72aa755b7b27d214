"""The patterns and pattern_aliases tables: template counts moved with the events, and the top patterns.

Counts move in the transaction that writes the events they count. Rows are written in id
order, so that two workers counting the same patterns wait for each other instead of
deadlocking, and last in their transaction, so that they stay locked as briefly as can be.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import pg8000.native

# A batch's count of one pattern is a list (cheap to make and to move on every event):
# these are its items, in their order. ``add_counts`` reads them; the compiled lane is
# handed the names and writes its counts in the same order. The sample is the first
# SAMPLE_CHARS characters of the first message.
COUNT_ITEMS = ("template", "count", "first_seen", "last_seen", "sample")
SAMPLE_CHARS = 1000


class Aliased(Protocol):
    """What a template that generalised became (a ``logpipe.patterns.Pattern``)."""

    @property
    def id(self) -> str: ...

    @property
    def template(self) -> str: ...


@dataclass(frozen=True)
class PatternCount:
    id: str
    template: str
    count: int
    first_seen: datetime
    last_seen: datetime
    sample: str


def _json_rows(rows: list[dict[str, Any]]) -> str:
    # The rows travel as one JSON parameter: pg8000 escapes each element of an array
    # parameter in Python, which took a third of a commit's CPU time.
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def most_frequent_templates(conn: pg8000.native.Connection, limit: int) -> list[str]:
    """The ``limit`` templates counted most often so far, most frequent first."""
    return [t for (t,) in conn.run("SELECT template FROM patterns ORDER BY count DESC LIMIT :n", n=limit)]


def add_counts(conn: pg8000.native.Connection, seen: Mapping[str, list[Any]]) -> None:
    """Add a batch's counts, in one statement: ``seen`` maps a pattern id to its count
    (the items ``COUNT_ITEMS`` names)."""
    if not seen:
        return
    rows = [
        {"id": i, "template": template, "count": count, "first_seen": first.isoformat(),
         "last_seen": last.isoformat(), "sample": sample}
        for i, (template, count, first, last, sample) in sorted(seen.items())
    ]  # fmt: skip
    conn.run(
        "INSERT INTO patterns (id, template, count, first_seen, last_seen, sample) "
        "SELECT r.* FROM json_to_recordset(CAST(:rows AS json)) AS r(id text, template text, count bigint,"
        " first_seen timestamptz, last_seen timestamptz, sample text) "
        "ON CONFLICT (id) DO UPDATE SET count = patterns.count + EXCLUDED.count, "
        " first_seen = LEAST(patterns.first_seen, EXCLUDED.first_seen), "
        " last_seen = GREATEST(patterns.last_seen, EXCLUDED.last_seen)",
        rows=_json_rows(rows),
    )


def add_aliases(conn: pg8000.native.Connection, aliases: Mapping[str, Aliased]) -> None:
    """Point the ids of templates that generalised at what they became. The latest word on an id wins."""
    if not aliases:
        return
    rows = [{"id": i, "target": p.id, "template": p.template} for i, p in sorted(aliases.items())]
    conn.run(
        "INSERT INTO pattern_aliases (id, target, template) "
        "SELECT r.* FROM json_to_recordset(CAST(:rows AS json)) AS r(id text, target text, template text) "
        "ON CONFLICT (id) DO UPDATE SET target = EXCLUDED.target, template = EXCLUDED.template",
        rows=_json_rows(rows),
    )


def top(conn: pg8000.native.Connection, limit: int) -> list[PatternCount]:
    """The ``limit`` patterns counted most often, from the counts. An id whose template has
    generalised since counts for the template it became."""
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
    return [PatternCount(*r) for r in rows]


# Each filter of ``top_in_events``, on a parameter of its name.
_EVENT_FILTERS = {
    "file_id": "e.file_id = CAST(:file_id AS uuid)",
    "level": "e.level = :level",
    "start": "e.ts >= CAST(:start AS timestamptz)",
    "end": "e.ts < CAST(:end AS timestamptz)",
}


def top_in_events(
    conn: pg8000.native.Connection,
    limit: int,
    *,
    file_id: str | None = None,
    level: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> list[PatternCount]:
    """The ``limit`` most frequent patterns of the events that match, counted over the events
    (``start`` and ``end`` are ISO 8601 times, ``end`` excluded), aliases read as ``top`` reads them."""
    asked = {"file_id": file_id, "level": level, "start": start, "end": end}
    given = {name: value for name, value in asked.items() if value}
    where = ["e.pattern_id IS NOT NULL", *(_EVENT_FILTERS[name] for name in given)]
    params: dict[str, object] = {"limit": limit, **given}
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
    return [PatternCount(*r) for r in rows]


def new_in_file(conn: pg8000.native.Connection, file_id: str, base_id: str, limit: int) -> list[PatternCount]:
    """The patterns of ``file_id``'s events that none of ``base_id``'s events has (what
    appeared in this run that the last good one did not), most frequent first; aliases
    read as ``top`` reads them, so a template that generalised since is not new."""
    rows = conn.run(
        "WITH mine AS ("
        " SELECT COALESCE(a.target, e.pattern_id) AS id, count(*) AS n, min(e.ts) AS first,"
        "  max(e.ts) AS last, max(a.template) AS alias_template, min(e.line) AS line"
        " FROM events e LEFT JOIN pattern_aliases a ON a.id = e.pattern_id"
        " WHERE e.file_id = CAST(:file AS uuid) AND e.pattern_id IS NOT NULL GROUP BY 1),"
        " theirs AS ("
        " SELECT DISTINCT COALESCE(a.target, e.pattern_id) AS id"
        " FROM events e LEFT JOIN pattern_aliases a ON a.id = e.pattern_id"
        " WHERE e.file_id = CAST(:base AS uuid) AND e.pattern_id IS NOT NULL)"
        " SELECT mine.id, COALESCE(t.template, mine.alias_template), mine.n, mine.first, mine.last,"
        "  (SELECT e.message FROM events e WHERE e.file_id = CAST(:file AS uuid) AND e.line = mine.line)"
        " FROM mine LEFT JOIN patterns t ON t.id = mine.id"
        " WHERE mine.id NOT IN (SELECT id FROM theirs)"
        " ORDER BY mine.n DESC, mine.id LIMIT :limit",
        file=file_id,
        base=base_id,
        limit=limit,
    )
    return [PatternCount(*r) for r in rows]
