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
# A row kept raw (``kept_raw`` says why: what could not be represented) has that column
# too; the lane never writes one, so its rows keep the columns above.
KEPT_COLUMNS = (*COLUMNS, "kept_raw")
KEPT_COPY_SQL = f"COPY events ({', '.join(KEPT_COLUMNS)}) FROM STDIN"
# The columns a refused row can do without (set to NULL), and the one that becomes the ingest time.
_NULLABLE = {"fields", "raw", "level", "pattern_id"}
_COLUMN_AT = {name: i for i, name in enumerate(COLUMNS)}

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
        self._kept: list[bytes] = []  # rows kept raw, with their ``kept_raw`` column (KEPT_COLUMNS)
        self.rows = 0
        self.nbytes = 0  # of the rows as COPY text (characters of those added here, a close bound)
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
        kept_raw: str | None = None,
    ) -> None:
        """Add a row. Never raises for what a line holds: fields that cannot be written as
        JSON are dropped, and the row says why in ``kept_raw`` (its ``raw`` or ``message``
        keeps the line's text)."""
        if fields is None:
            fields_text = _NULL
        else:
            try:
                fields_text = _json(fields)
            except Exception as exc:  # noqa: BLE001 - RecursionError, or whatever else: the row is kept raw
                fields_text = _NULL
                kept_raw = kept_raw or f"fields: {type(exc).__name__}: {str(exc)[:200]}"
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
        row = (
            f"{self.prefix}{line}\t{ts_text}\t{inferred}\t{self.ingested}\t{level or _NULL}\t{fmt}\t"
            f"{_text(message)}\t{fields_text}\t"
            f"{_NULL if raw is None else _text(raw)}\t{'t' if truncated else 'f'}\t{line_count}\t"
            f"{pattern_id or _NULL}"
        )
        if kept_raw is None:
            self._parts.append(row + "\n")
        else:
            self._kept.append(self._encode(f"{row}\t{_text(kept_raw)}\n"))
        self.rows += 1
        self.nbytes += len(row) + 1

    def add_rows(self, rows: CopyRows) -> None:
        """Rows encoded elsewhere in this buffer's format, after those added so far."""
        if self._parts:
            self._encoded.append(self._encode("".join(self._parts)))
            self._parts.clear()
        self._encoded.append(rows.data)
        self.rows += rows.count
        self.nbytes += len(rows.data)
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

    @property
    def kept_raw(self) -> int:
        """How many of the rows are kept raw."""
        return len(self._kept)

    def copy_into(self, conn: pg8000.native.Connection) -> None:
        if self.rows > len(self._kept):
            # A CopyData message a chunk: pg8000 sends a file-like stream 8 KiB at a
            # time, a write and a flush each, where each bytes object of a list goes in
            # one write.
            conn.run(COPY_SQL, stream=self.chunks())
        if self._kept:
            conn.run(KEPT_COPY_SQL, stream=self._kept)

    def keep_refused_raw(self, conn: pg8000.native.Connection) -> int:
        """Find the rows Postgres refuses, each alone, and keep them raw: without the value
        it refused, saying why. Returns how many it found (0: no row is refused on its own).

        Runs in a transaction of its own, which it rolls back: nothing is written. Costs a
        COPY per halving, so only a batch that was refused pays it.
        """
        rows = self.payload().split(b"\n")[:-1]
        refused: dict[int, tuple[str, str]] = {}

        def probe(lo: int, hi: int) -> None:
            conn.run("SAVEPOINT probe")
            try:
                conn.run(COPY_SQL, stream=[b"".join(r + b"\n" for r in rows[lo:hi])])
            except pg8000.native.DatabaseError as exc:
                conn.run("ROLLBACK TO SAVEPOINT probe")
                if not refused_value(exc):
                    raise
                if hi - lo == 1:
                    refused[lo] = _refusal(exc)
                else:
                    mid = (lo + hi) // 2
                    probe(lo, mid)
                    probe(mid, hi)
            conn.run("RELEASE SAVEPOINT probe")

        conn.run("BEGIN")
        try:
            if rows:
                probe(0, len(rows))
        finally:
            conn.run("ROLLBACK")
        if refused:
            self._encoded = [b"".join(r + b"\n" for i, r in enumerate(rows) if i not in refused)]
            self._parts.clear()
            for i, (column, reason) in refused.items():
                self._kept.append(_kept_form(rows[i], column, reason, self.ingested))
        return len(refused)


def copy_together(conn: pg8000.native.Connection, bufs: list[CopyBuffer]) -> None:
    """The rows of several buffers (of several files) in one COPY, and those kept raw in a
    second: one round trip for many small files, where ``copy_into`` would take one each."""
    rows = [part for buf in bufs if buf.rows > buf.kept_raw for part in buf.chunks()]
    if rows:
        conn.run(COPY_SQL, stream=rows)
    kept = [row for buf in bufs for row in buf._kept]
    if kept:
        conn.run(KEPT_COPY_SQL, stream=kept)


def refused_value(exc: pg8000.native.DatabaseError) -> bool:
    """Whether Postgres refused a value (SQLSTATE class 22, data exception, or 54, a
    limit such as nesting too deep): the row is at fault, not the database."""
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(info.get("C", ""))[:2] in ("22", "54")


_COPY_COLUMN = re.compile(r"column (\w+)")


def _refusal(exc: pg8000.native.DatabaseError) -> tuple[str, str]:
    """The column Postgres refused in a COPY (from its context), and why, as ``kept_raw`` says it."""
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    where = _COPY_COLUMN.search(str(info.get("W", "")))
    column = where.group(1) if where else "fields"
    detail = " ".join(str(info[k]) for k in ("M", "D") if info.get(k))
    return column, f"{column} refused by PostgreSQL: {detail[:300]}"


def _kept_form(row: bytes, column: str, reason: str, ingested: str) -> bytes:
    """A refused row (COPY text, in COLUMNS order) without the value refused, and why."""
    cols = row.split(b"\t")
    if column in _NULLABLE:
        cols[_COLUMN_AT[column]] = _NULL.encode()
    elif column in ("ts", "ts_inferred"):  # no time of its own, as a line without one
        cols[_COLUMN_AT["ts"]], cols[_COLUMN_AT["ts_inferred"]] = ingested.encode(), b"t"
    else:
        raise ValueError(f"a row refused for its {column}, which it cannot do without: {reason}")
    return b"\t".join([*cols, _text(reason).encode()]) + b"\n"


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


# The ##[group] and ##[endgroup] lines of GitHub Actions logs, as the parser marks them.
_GROUP_MARKS = "fields->>'actions' IN ('group', 'endgroup')"


def apply_file_fields(conn: pg8000.native.Connection, file_id: str, first_line: int, end_line: int) -> None:
    """Give the events of lines [first_line, end_line) of a file that is not a plain upload
    its source and its own fields (an Actions log's repository, run, job...), and to those
    of an Actions log the ``group`` each sits in (the title of the ``##[group]`` line that
    opened it, which may be in an earlier batch). In the caller's transaction, with the
    events: a batch is written with them or not at all. Costs an upload one statement."""
    apply_files_fields(conn, [file_id], first_line, end_line)


def apply_files_fields(conn: pg8000.native.Connection, file_ids: list[str], first_line: int, end_line: int) -> None:
    """``apply_file_fields`` for the same lines of several files, in one statement for
    them all (and a few more for each Actions log, for its groups)."""
    actions = conn.run(
        "WITH f AS (SELECT id, source, fields FROM files WHERE id = ANY(CAST(:f AS uuid[])) AND source <> 'upload'), "
        "u AS (UPDATE events e SET source = f.source, fields = CASE WHEN f.fields IS NULL THEN e.fields "
        " ELSE coalesce(e.fields, '{}'::jsonb) || f.fields END "
        " FROM f WHERE e.file_id = f.id AND e.line >= :a AND e.line < :b) "
        "SELECT CAST(id AS text) FROM f WHERE source = 'github-actions'",
        f=file_ids,
        a=first_line,
        b=end_line,
    )
    for (file_id,) in actions:
        _apply_groups(conn, file_id, first_line, end_line)


def _apply_groups(conn: pg8000.native.Connection, file_id: str, first_line: int, end_line: int) -> None:
    before = conn.run(
        f"SELECT fields->>'actions', message FROM events WHERE file_id = CAST(:f AS uuid) AND line < :a "
        f"AND {_GROUP_MARKS} ORDER BY line DESC LIMIT 1",
        f=file_id,
        a=first_line,
    )
    marks = conn.run(
        f"SELECT line, fields->>'actions', message FROM events WHERE file_id = CAST(:f AS uuid) "
        f"AND line >= :a AND line < :b AND {_GROUP_MARKS} ORDER BY line",
        f=file_id,
        a=first_line,
        b=end_line,
    )
    title = before[0][1] if before and before[0][0] == "group" else None
    start = first_line
    spans: list[tuple[int, int, str]] = []  # [from, to) lines in group ``title``
    for line, kind, message in marks:
        if title is not None:
            spans.append((start, line + 1 if kind == "endgroup" else line, title))  # the end line closes it
        title, start = (message, line) if kind == "group" else (None, line + 1)
    if title is not None:
        spans.append((start, end_line, title))
    for a, b, group in spans:
        if a < b:
            conn.run(
                "UPDATE events SET fields = coalesce(fields, '{}'::jsonb) "
                "|| jsonb_build_object('group', CAST(:g AS text)) "
                "WHERE file_id = CAST(:f AS uuid) AND line >= :a AND line < :b",
                g=group,
                f=file_id,
                a=a,
                b=b,
            )
