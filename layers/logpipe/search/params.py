"""What a search request may say, checked: every parameter of /api/events,
/api/events/{id} and /api/histogram becomes a plain value here, or a BadRequestError
that says what is wrong. Cursors are made and read here too."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .. import signing
from ..config import whole_number
from ..errors import BadRequestError
from ..parsing.formats import LEVELS
from . import query
from .query import Query

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_CONTEXT = 10
MAX_CONTEXT = 1000  # lines either side of /api/events/{id}
MAX_NAME = 64  # source, pattern_id
ORDERS = ("desc", "asc")
BUCKETS = {"10s": 10, "1m": 60, "5m": 300, "1h": 3600, "1d": 86400}

FILTER_PARAMS = ("file_id", "source", "level", "q", "pattern_id", "from", "to")
EVENTS_PARAMS = (*FILTER_PARAMS, "order", "limit", "cursor")
HISTOGRAM_PARAMS = (*FILTER_PARAMS, "bucket")
CONTEXT_PARAMS = ("before", "after")

_RELATIVE = re.compile(r"^-(\d{1,9})([smhdw])$")
# RFC 3339's date and date-time (a space for the T, and an offset without its colon, as
# people type them); Python's fromisoformat alone would also take ISO week dates (2026-W01).
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR_LABEL = "logpipe search cursor v1"

Key = tuple[datetime, str, int]  # ts, file_id, line: the order of search results


@dataclass(frozen=True)
class Filters:
    """Which events a request asks for."""

    file_id: str | None = None
    source: str | None = None
    min_level: str | None = None  # the least severe level wanted
    query: Query = field(default_factory=Query)
    pattern_id: str | None = None
    start: datetime | None = None  # from, inclusive
    end: datetime | None = None  # to, exclusive


@dataclass(frozen=True)
class EventsRequest:
    filters: Filters
    order: str
    limit: int
    after: Key | None  # from the cursor: results come after this key
    as_of: int | None  # from the cursor: the stream position the first page saw
    now: datetime  # what relative times were resolved against (the first page's now)


def wanted_levels(min_level: str | None) -> list[str] | None:
    """The levels a "least severe level wanted" lets through (None: any, and none)."""
    return None if min_level is None else list(LEVELS[LEVELS.index(min_level) :])


def check_known(args: Mapping[str, str], known: tuple[str, ...]) -> None:
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise BadRequestError(f"unknown parameter {unknown[0]!r}; this route takes {', '.join(known)}")


def _at_most_micros(value: str) -> str:
    """``value`` with at most six digits of fraction (fromisoformat takes no more)."""
    return re.sub(r"(\.\d{6})\d+", r"\1", value)


def parse_time(name: str, text: str, now: datetime) -> datetime:
    """An RFC 3339 time (naive ones are UTC), or one relative to ``now``: ``now``,
    ``-30s``, ``-15m``, ``-2h``, ``-7d``, ``-1w``."""
    value = text.strip()
    if value == "now":
        return now
    m = _RELATIVE.match(value)
    try:
        if m is not None:
            return now - timedelta(seconds=int(m.group(1)) * _UNIT_S[m.group(2)])
        if _RFC3339.match(value) is None:
            raise ValueError(value)
        ts = datetime.fromisoformat(_at_most_micros(value))
    except (ValueError, OverflowError):
        raise BadRequestError(
            f"{name!r} must be an RFC 3339 time (2026-11-30T14:05:00Z) or a time relative to now "
            f"(now, -30s, -15m, -2h, -7d, -1w), got {text[:64]!r}"
        ) from None
    return (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).astimezone(UTC)


def _uuid(name: str, text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise BadRequestError(f"{name!r} must be a file's id (a UUID), got {text[:64]!r}") from None


def _name(name: str, text: str) -> str:
    if len(text) > MAX_NAME:
        raise BadRequestError(f"{name!r} is at most {MAX_NAME} characters")
    return text


def _int(name: str, text: str | None, default: int, low: int, high: int) -> int:
    """A whole number of at least ``low``; above ``high`` it is capped to ``high``."""
    return min(whole_number(repr(name), text, default, low, BadRequestError, shown=32), high)


def filters(args: Mapping[str, str], now: datetime) -> Filters:
    """The filters of a request (``file_id``, ``source``, ``level``, ``q``, ``pattern_id``,
    ``from``, ``to``), checked."""
    get = {k: v for k, v in args.items() if v != ""}
    level = get.get("level")
    if level is not None and level not in LEVELS:
        raise BadRequestError(f"'level' must be one of {', '.join(LEVELS)} (the least severe level wanted)")
    start = parse_time("from", get["from"], now) if "from" in get else None
    end = parse_time("to", get["to"], now) if "to" in get else None
    if start is not None and end is not None and start >= end:
        raise BadRequestError(
            f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()}): the range is reversed or empty"
        )
    return Filters(
        file_id=_uuid("file_id", get["file_id"]) if "file_id" in get else None,
        source=_name("source", get["source"]) if "source" in get else None,
        min_level=level,
        query=query.parse(get.get("q")),
        pattern_id=_name("pattern_id", get["pattern_id"]) if "pattern_id" in get else None,
        start=start,
        end=end,
    )


def _fingerprint(args: Mapping[str, str]) -> str:
    """What a cursor must be used with: the filters and order of the search that made it."""
    same = {k: args.get(k, "") for k in (*FILTER_PARAMS, "order")}
    return hashlib.sha256(json.dumps(same, sort_keys=True).encode("utf-8")).hexdigest()[:24]


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


def _from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def make_cursor(secret: str, args: Mapping[str, str], last: Key, as_of: int, now: datetime) -> str:
    """The cursor of the page after the one that ended at ``last``."""
    payload = {
        "k": [_micros(last[0]), last[1], last[2]],
        "p": as_of,
        "n": _micros(now),
        "h": _fingerprint(args),
    }
    return signing.sign(secret, _CURSOR_LABEL, payload)


_BAD_CURSOR = (
    "'cursor' is not one this server gave out (or it was cut or changed): pass next_cursor as it came, "
    "or leave it out to start from the first page"
)


def _read_cursor(secret: str, args: Mapping[str, str], text: str) -> tuple[Key, int, datetime]:
    payload = signing.unsign(secret, _CURSOR_LABEL, text) if len(text) <= 1024 else None
    if payload is None:
        raise BadRequestError(_BAD_CURSOR)
    try:
        (ts_us, file_id, line), as_of, now_us, fingerprint = payload["k"], payload["p"], payload["n"], payload["h"]
        key = (_from_micros(int(ts_us)), str(uuid.UUID(file_id)), int(line))
        as_of, now = int(as_of), _from_micros(int(now_us))
    except (KeyError, TypeError, ValueError, OverflowError):
        raise BadRequestError(_BAD_CURSOR) from None
    if fingerprint != _fingerprint(args):
        raise BadRequestError(
            "'cursor' belongs to a search with other filters: pass the same file_id, source, level, q, pattern_id, "
            "from, to and order as the request that returned it, or leave it out to start again"
        )
    return key, as_of, now


def events_request(args: Mapping[str, str], secret: str, now: datetime | None = None) -> EventsRequest:
    """GET /api/events's parameters, checked. A cursor brings back the first page's moment:
    its stream position and the ``now`` its relative times were taken from."""
    check_known(args, EVENTS_PARAMS)
    order = args.get("order") or "desc"
    if order not in ORDERS:
        raise BadRequestError("'order' must be asc (oldest first) or desc (newest first, the default)")
    limit = _int("limit", args.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT)
    after: Key | None = None
    as_of: int | None = None
    now = now or datetime.now(UTC)
    if args.get("cursor"):
        after, as_of, now = _read_cursor(secret, args, args["cursor"])
    return EventsRequest(filters(args, now), order, limit, after, as_of, now)


def histogram_request(args: Mapping[str, str], now: datetime | None = None) -> tuple[Filters, str | None]:
    """GET /api/histogram's parameters, checked: the filters, and the bucket asked for (None:
    choose it from the range)."""
    check_known(args, HISTOGRAM_PARAMS)
    bucket = args.get("bucket") or None
    if bucket is not None and bucket not in BUCKETS:
        raise BadRequestError(f"'bucket' must be one of {', '.join(BUCKETS)}, or left out to choose it from the range")
    return filters(args, now or datetime.now(UTC)), bucket


def event_id(text: str) -> tuple[str, int]:
    """``<file_id>:<line>``, as each event's ``id`` says."""
    file_id, colon, line = text.rpartition(":")
    if not colon or not line.isdigit() or len(line) > 18:
        raise BadRequestError(f"an event id is <file_id>:<line>, got {text[:80]!r}")
    return _uuid("the event id's file_id", file_id), int(line)


def context(args: Mapping[str, str]) -> tuple[int, int]:
    """(before, after): lines of context either side, as ``grep -C`` counts them."""
    check_known(args, CONTEXT_PARAMS)
    return (
        _int("before", args.get("before"), DEFAULT_CONTEXT, 0, MAX_CONTEXT),
        _int("after", args.get("after"), DEFAULT_CONTEXT, 0, MAX_CONTEXT),
    )


ROLLUP_BUCKETS = {"1m": 60, "1h": 3600}
ROLLUP_BY = ("level", "source", "file", "pattern")
ROLLUP_PARAMS = ("bucket", "by", "from", "to")
ROLLUP_SPAN = {"1m": timedelta(hours=1), "1h": timedelta(days=1)}  # the range when no 'from' is given


@dataclass(frozen=True)
class RollupsRequest:
    bucket: str
    by: str
    start: datetime
    end: datetime


def rollups_request(args: Mapping[str, str], now: datetime | None = None) -> RollupsRequest:
    """GET /api/rollups's parameters, checked: ``bucket`` (1m, the default, or 1h), ``by``
    (level, the default, source, file or pattern), ``from`` and ``to`` (to is now by
    default, from one hour before it for 1m, one day for 1h)."""
    check_known(args, ROLLUP_PARAMS)
    bucket = args.get("bucket") or "1m"
    if bucket not in ROLLUP_BUCKETS:
        raise BadRequestError(f"'bucket' must be one of {', '.join(ROLLUP_BUCKETS)}")
    by = args.get("by") or "level"
    if by not in ROLLUP_BY:
        raise BadRequestError(f"'by' must be one of {', '.join(ROLLUP_BY)}")
    now = now or datetime.now(UTC)
    end = parse_time("to", args["to"], now) if args.get("to") else now
    start = parse_time("from", args["from"], now) if args.get("from") else end - ROLLUP_SPAN[bucket]
    if start >= end:
        raise BadRequestError(
            f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()}): the range is reversed or empty"
        )
    return RollupsRequest(bucket, by, start, end)
