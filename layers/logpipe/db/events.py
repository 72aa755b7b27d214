"""Writing parsed events with COPY, and the monthly partitions they land in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pg8000.native

COLUMNS = (
    "file_id, line, ts, ts_inferred, ingested_at, level, format, message, fields, raw, truncated, "
    "line_count, pattern_id"
)
COPY_SQL = f"COPY events ({COLUMNS}) FROM STDIN"

_NULL = "\\N"


def _text(value: str) -> str:
    """Escape a value for COPY's text format (and drop NUL, which Postgres text cannot hold)."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value:
        value = value.replace("\t", "\\t")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if "\r" in value:
        value = value.replace("\r", "\\r")
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value


# json.dumps builds a new encoder on every call when given options; one shared encoder
# writes the same text (it is stateless between calls) at a fraction of the cost.
_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def _json(fields: dict[str, Any]) -> str:
    text = _encode_json(fields)
    if "\\u0000" in text:  # jsonb refuses the NUL escape
        text = text.replace("\\u0000", "\\ufffd")
    # JSON text holds no raw control character (the encoder escapes them all), so of
    # COPY's special characters only the backslash can occur.
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    return text


class CopyBuffer:
    """Accumulates rows in COPY text format; ``flush`` sends them in one COPY."""

    def __init__(self, file_id: str, ingested_at: datetime) -> None:
        self._prefix = f"{file_id}\t"
        self._ingested = ingested_at.isoformat()
        self._parts: list[str] = []
        self.rows = 0
        self.months: set[tuple[int, int]] = set()

    def add(
        self,
        line: int,
        ts: datetime | None,
        level: str | None,
        fmt: str,
        message: str,
        fields: dict[str, Any] | None,
        raw: str | None,
        truncated: bool,
        line_count: int = 1,
        pattern_id: str | None = None,
    ) -> None:
        if ts is None:
            ts_text, inferred = self._ingested, "t"
        else:
            ts_text, inferred = ts.isoformat(), "f"
            self.months.add((ts.year, ts.month))
        self._parts.append(
            f"{self._prefix}{line}\t{ts_text}\t{inferred}\t{self._ingested}\t{level or _NULL}\t{fmt}\t"
            f"{_text(message)}\t{_NULL if fields is None else _json(fields)}\t"
            f"{_NULL if raw is None else _text(raw)}\t{'t' if truncated else 'f'}\t{line_count}\t"
            f"{pattern_id or _NULL}\n"
        )
        self.rows += 1

    def payload(self) -> bytes:
        text = "".join(self._parts)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (JSON can escape one: "\ud800") has no UTF-8 form; like
            # any other invalid text it becomes U+FFFD rather than failing the batch.
            return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")

    def copy_into(self, conn: pg8000.native.Connection) -> None:
        if self.rows:
            conn.run(COPY_SQL, stream=BytesIO(self.payload()))


_known_months: set[tuple[int, int]] = set()
_PARTITION_WINDOW_MONTHS = 36


def ensure_partitions(conn: pg8000.native.Connection, months: set[tuple[int, int]]) -> None:
    """Create the monthly partitions these rows need, in a transaction of its own.

    Months far from now, and months the default partition already holds rows of, stay in
    the default partition: it is correct, only slower to query.
    """
    now = datetime.now(UTC)
    current = now.year * 12 + now.month - 1
    for year, month in sorted(months - _known_months):
        _known_months.add((year, month))
        if abs(year * 12 + month - 1 - current) > _PARTITION_WINDOW_MONTHS:
            continue
        nxt_year, nxt_month = (year + 1, 1) if month == 12 else (year, month + 1)
        name = f"events_{year:04d}_{month:02d}"
        conn.run("BEGIN")
        try:
            conn.run("SELECT pg_advisory_xact_lock(hashtext('logpipe.partitions'))")
            conn.run(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events "
                f"FOR VALUES FROM ('{year:04d}-{month:02d}-01') TO ('{nxt_year:04d}-{nxt_month:02d}-01')"
            )
            conn.run("COMMIT")
        except pg8000.native.DatabaseError:
            # The default partition already holds rows of that month: leave them there.
            conn.run("ROLLBACK")
