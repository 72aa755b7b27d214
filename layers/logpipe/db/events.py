"""Writing parsed events with COPY, and the monthly partitions they land in."""

from __future__ import annotations

import json
import json.encoder
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pg8000.native

from ..text import storable, without_nul

# The columns of a row, in the order ``CopyBuffer.add`` writes them; the compiled lane
# (``logpipe.ingest.lane``) is handed this tuple and writes its rows in the same order.
COLUMNS = (
    "file_id", "line", "ts", "ts_inferred", "ingested_at", "level", "format", "message", "fields", "raw",
    "truncated", "line_count", "pattern_id",
)  # fmt: skip
COPY_SQL = f"COPY events ({', '.join(COLUMNS)}) FROM STDIN"

_NULL = "\\N"


def _text(value: str) -> str:
    """Escape a value for COPY's text format (and replace NUL, which Postgres text cannot hold)."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value:
        value = value.replace("\t", "\\t")
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if "\r" in value:
        value = value.replace("\r", "\\r")
    return without_nul(value)


def _json_encoder() -> Callable[[Any], str]:
    """What ``json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str,
    allow_nan=False)`` does, made once.

    json.dumps builds an encoder on every call when given options, and JSONEncoder.encode
    still sets one up per call; one made once writes the same text at a fraction of the
    cost. Values decoded from JSON cannot be circular, so no check for that is made.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # no C accelerator: the same text, slower
        return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False).encode
    parts = make(None, str, json.encoder.encode_basestring, None, ":", ",", False, False, False)

    def encode(value: Any) -> str:
        return "".join(parts(value, 0))

    return encode


_encode_json = _json_encoder()
_NUL_ESCAPE = re.compile(r"(\\\\)|\\u0000")


def _json(fields: dict[str, Any]) -> str:
    """``fields`` as JSON text escaped for COPY.

    orjson writes it at a fraction of the standard encoder's cost, the same text for what
    parsers produce. What orjson refuses (integers beyond 64 bits, lone surrogates, keys
    that are not strings, types JSON lacks) goes through the standard encoder. A
    non-finite float, which JSON cannot hold, is written as null: the JSON parser keeps
    the text (``NaN``) of one read from a line.
    """
    try:
        text = orjson.dumps(fields).decode()
    except TypeError:
        text = _encode_json(_finite(fields))
    if "\\u0000" in text:  # jsonb refuses the NUL escape (an escaped backslash before "u0000" is no escape)
        text = _NUL_ESCAPE.sub(lambda m: m.group(1) or "\\ufffd", text)
    # JSON text holds no raw control character (the encoder escapes them all), so of
    # COPY's special characters only the backslash can occur.
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    return text


def _finite(value: Any) -> Any:
    """``value`` with NaN and the infinities as null, as orjson writes them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@dataclass(slots=True)
class CopyRows:
    """Rows encoded elsewhere in a ``CopyBuffer``'s format (its file id and ingest time)."""

    data: bytes  # the rows, in COPY text format
    count: int
    months: list[tuple[int, int]]  # (year, month) of their times, for the partitions they need
    errors: int  # rows of level error or fatal


class CopyBuffer:
    """Accumulates rows in COPY text format; ``flush`` sends them in one COPY."""

    def __init__(self, file_id: str, ingested_at: datetime) -> None:
        self.file_id = file_id
        self.prefix = f"{file_id}\t"  # what each row starts with
        self.ingested_at = ingested_at  # the ingest time of each row
        self.ingested = ingested_at.isoformat()
        self._parts: list[str] = []
        self._encoded: list[bytes] = []  # rows before those in _parts, once a lane added some
        self.rows = 0
        self.months: set[tuple[int, int]] = set()
        # isoformat() of the UTC seconds seen so far, up to the seconds: rows of one batch
        # share a few hundred seconds, and formatting is much of what a row costs.
        self._seconds: dict[tuple[int, int, int, int, int, int], str] = {}

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
            ts_text, inferred = self.ingested, "t"
        elif ts.tzinfo is UTC:
            inferred = "f"
            second = (ts.year, ts.month, ts.day, ts.hour, ts.minute, ts.second)
            text = self._seconds.get(second)
            if text is None:
                text = self._seconds[second] = ts.replace(microsecond=0).isoformat()[:19]
                self.months.add((ts.year, ts.month))
            us = ts.microsecond
            ts_text = f"{text}.{us:06d}+00:00" if us else f"{text}+00:00"
        else:
            ts_text, inferred = ts.isoformat(), "f"
            self.months.add((ts.year, ts.month))
        self._parts.append(
            f"{self.prefix}{line}\t{ts_text}\t{inferred}\t{self.ingested}\t{level or _NULL}\t{fmt}\t"
            f"{_text(message)}\t{_NULL if fields is None else _json(fields)}\t"
            f"{_NULL if raw is None else _text(raw)}\t{'t' if truncated else 'f'}\t{line_count}\t"
            f"{pattern_id or _NULL}\n"
        )
        self.rows += 1

    def add_rows(self, rows: CopyRows) -> None:
        """Rows encoded elsewhere in this buffer's format, after those added so far."""
        if self._parts:
            self._encoded.append(self._encode("".join(self._parts)))
            self._parts.clear()
        self._encoded.append(rows.data)
        self.rows += rows.count
        self.months.update(rows.months)

    def chunks(self) -> list[bytes]:
        """The rows as COPY sends them, one CopyData message a chunk (whole rows each)."""
        tail = self._encode("".join(self._parts))
        return [*self._encoded, tail] if self._encoded else [tail]

    def payload(self) -> bytes:
        return b"".join(self.chunks())

    @staticmethod
    def _encode(text: str) -> bytes:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return storable(text).encode("utf-8")

    def copy_into(self, conn: pg8000.native.Connection) -> None:
        if self.rows:
            # A CopyData message a chunk: pg8000 sends a file-like stream 8 KiB at a
            # time, a write and a flush each, where each bytes object of a list goes in
            # one write.
            conn.run(COPY_SQL, stream=self.chunks())


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
