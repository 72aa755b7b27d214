"""GET /api/rollups: events per minute or hour, by level, source, file or pattern.

Served from the rollups the indexer keeps (``db/rollups.py``): what it has counted so
far, which lags the newest commits by at most a run of the schedule.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, request

from ..db import followers
from ..db import rollups as rollups_db
from ..errors import BadRequestError
from ..search import params
from ..search.indexer import FOLLOWER
from .deps import connection
from .spec import Op, Param, declare, object_of, time_range

bp = Blueprint("rollups", __name__)

MAX_BUCKETS = 10_000
NONE = "none"  # the key of events without a level or a pattern
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _floor(ts: datetime, seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=(ts - _EPOCH).total_seconds() // seconds * seconds)


@bp.get("/api/rollups")
@declare(
    Op(
        "Events per minute or hour, by level, source, file or pattern, from the rollups",
        params=(
            Param("bucket", {"type": "string", "enum": list(params.ROLLUP_BUCKETS)}, "1m (the default) or 1h"),
            Param("by", {"type": "string", "enum": list(params.ROLLUP_BY)}, "what to count by (level by default)"),
            *time_range(),
        ),
        responses={
            200: (
                "the counts",
                object_of(
                    ["bucket", "by", "totals", "buckets"], {"totals": {"type": "object"}, "buckets": {"type": "array"}}
                ),
            )
        },
    )
)
def rollups() -> Any:
    req = params.rollups_request(request.args.to_dict())
    seconds = params.ROLLUP_BUCKETS[req.bucket]
    first = _floor(req.start, seconds)
    last = _floor(req.end - timedelta(microseconds=1), seconds) + timedelta(seconds=seconds)
    n = (last - first) // timedelta(seconds=seconds)
    if n > MAX_BUCKETS:
        raise BadRequestError(f"{n} buckets of {req.bucket}: at most {MAX_BUCKETS}; narrow the range or take 1h")
    with connection() as conn:
        rows = rollups_db.counts(conn, bucket=req.bucket, by=req.by, start=first, end=last)
        counted_to = followers.watermark(conn, FOLLOWER)
        keys = sorted({k for _, k, _ in rows if k is not None})
        templates = rollups_db.templates(conn, keys) if req.by == "pattern" else {}
    per: dict[datetime, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for at, key, events in rows:
        per[at][key or NONE] = int(events)
        totals[key or NONE] += int(events)
    out: dict[str, Any] = {
        "bucket": req.bucket,
        "by": req.by,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "counted_to": counted_to,  # the stream position the rollups include
        "totals": dict(sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))),
        "buckets": [
            {"start": at.isoformat(), "counts": per.get(at, {})}
            for at in (first + timedelta(seconds=seconds * i) for i in range(n))
        ],
    }
    if req.by == "pattern":
        out["templates"] = templates
    return out
