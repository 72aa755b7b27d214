"""No single line fails a chunk: a line that the parser or the database cannot represent
becomes an event that keeps its raw text, with ``events.kept_raw`` saying why, and every
line around it is stored exactly once."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from logpipe.db.events import CopyBuffer, CopyRows
from logpipe.ingest import Context
from logpipe.ingest.batches import Batch
from logpipe.ingest.commit import commit_batch

from conftest import EVERY_READ, Api, pump, query

services = pytest.mark.services

BIG = "9" * 400  # an integer no float holds, nor a 64-bit integer


def _deep(depth: int, inner: str = "1") -> str:
    return '{"a":' * depth + inner + "}" * depth


# Each line, one a case: what once failed its chunk, or could have (decoders, encoders,
# time conversions and the database's own limits).
BAD_LINES: dict[str, str] = {
    "object nested 500 deep": _deep(500),
    "array nested 500 deep in an object": '{"msg":"arr","x":' + "[" * 500 + "]" * 500 + "}",
    "NaN nested 600 deep": _deep(600, "NaN"),
    "object nested 2000 deep": _deep(2000),
    "epoch time beyond any float": f'{{"msg":"t","time":{BIG}}}',
    "epoch time beyond a datetime": '{"msg":"t","time":1e300}',
    "ISO time past year 9999 in UTC": '{"msg":"t","time":"9999-12-31T23:59:59-14:00"}',
    "ISO time before year 1 in UTC": '{"msg":"t","time":"0001-01-01T00:00:00+14:00"}',
    "integer beyond 64 bits": f'{{"msg":"n","n":{BIG},"m":-{BIG}}}',
    "float beyond double": '{"msg":"f","f":1e400,"g":-1e400,"h":1e-400}',
    "NUL escape in key and value": '{"msg":"nul \\u0000","k\\u0000":"\\u0000"}',
    "NUL raw": "raw \x00 nul",
    "lone surrogate escapes": '{"msg":"\\ud800","\\udfff":["\\udbff"]}',
    "surrogate pair split by an escape": '{"msg":"\\ud83d\\u0041"}',
    "level beyond 64 bits": f'{{"msg":"lvl","level":{BIG}}}',
    "numeric level NaN": '{"msg":"lvl","level":NaN}',
    "keys that collide after NUL": '{"a\\u0000":1,"a\\ufffd":2,"msg":"keys"}',
    "docker line with deep inner JSON": '{"log":' + '"' + _deep(500).replace('"', '\\"') + '","stream":"stdout"}',
    "huge exponent as time": '{"msg":"t","ts":"1e999999"}',
    "escaped backslash before u0000": '{"msg":"\\\\u0000 stays"}',
}


def _file(bad: list[str]) -> tuple[bytes, dict[int, str]]:
    """Good lines with each bad line between two of them; the line number of each bad line."""
    lines, where = [], {}
    for n, line in enumerate(bad):
        lines.append(f"2026-11-27 03:13:{n % 60:02d},123 INFO good line before case {n}")
        lines.append(line)
        where[len(lines)] = line
    lines.append("2026-11-27 03:14:00,000 INFO the last good line")
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"), where


def _check_every_line_once(api: Api, file_id: str, total: int, where: dict[int, str]) -> None:
    f = api.file(file_id)
    assert (f["status"], f["error"], f["lines"], f["events"]) == ("done", None, total, total)
    rows = query(
        api.settings,
        "SELECT line, count(*), min(message), min(raw), min(kept_raw) FROM events "
        "WHERE file_id = CAST(:f AS uuid) GROUP BY line ORDER BY line",
        f=file_id,
    )
    assert [r[0] for r in rows] == list(range(1, total + 1))
    assert all(r[1] == 1 for r in rows), [r[:2] for r in rows if r[1] != 1]
    for line, _, message, raw, kept_raw in rows:
        if kept_raw is not None:  # kept raw: the line as read, as Postgres text can hold it
            assert line in where, (line, kept_raw)
            expected = where[line].replace("\x00", "\ufffd")
            assert (raw if raw is not None else message) == expected, (line, kept_raw)
    deep = [line for line, text in where.items() if text == BAD_LINES["object nested 500 deep"]]
    assert rows[deep[0] - 1][4] is not None, "the line nested 500 deep is kept raw, saying why"


@services
@EVERY_READ
def test_each_known_bad_line_between_good_ones_is_stored_once(
    make_api: Callable[..., Api], lane: bool, compress: bool
) -> None:
    api = make_api(compiled_lane=lane, batch_rows=7)
    data, where = _file(list(BAD_LINES.values()))
    file_id = api.upload("bad-lines.log", gzip.compress(data) if compress else data)
    pump(api.settings)
    _check_every_line_once(api, file_id, data.count(b"\n"), where)


@services
def test_20000_good_lines_around_a_deep_one_all_stored(api: Api) -> None:
    """The case as reported: 20,000 good lines, one nested 500 deep, 20,000 more."""
    good = [f'{{"time":"2026-11-27T03:13:15Z","level":"info","msg":"good {n}"}}' for n in range(40_000)]
    lines = [*good[:20_000], _deep(500), *good[20_000:]]
    data = ("\n".join(lines) + "\n").encode()
    file_id = api.upload("deep.log", data)
    pump(api.settings)
    _check_every_line_once(api, file_id, 40_001, {20_001: _deep(500)})


@services
@pytest.mark.parametrize("bad_at", [0, 3, 6])
def test_a_row_the_database_refuses_is_kept_raw_and_the_batch_stored(api: Api, bad_at: int) -> None:
    """Whatever the encoder let through and Postgres refuses costs that row its fields,
    never its batch: jsonb refuses a lone surrogate escape, which no encoder here writes."""
    ctx = Context(api.settings)
    file_id = api.upload("refused.log", b"x\n" * 7)
    # A planned chunk of 7 lines whose batch carries one row with jsonb that Postgres refuses.
    with ctx.transaction() as conn:
        conn.run(
            "INSERT INTO chunks (file_id, seq, start_offset, end_offset, first_line, next_offset, next_line) "
            "VALUES (CAST(:f AS uuid), 0, 0, 14, 1, 0, 1)",
            f=file_id,
        )
        conn.run("UPDATE files SET chunks_total = 1, status = 'processing' WHERE id = CAST(:f AS uuid)", f=file_id)
    buf = CopyBuffer(file_id, datetime.now(UTC))
    for n in range(7):
        buf.add(n + 1, None, None, "text", f"line {n + 1}", {"n": n}, None, False)
    good = buf.payload().split(b"\n")
    good[bad_at] = good[bad_at].replace(b'{"n":' + str(bad_at).encode() + b"}", b'{"n":"\\\\ud800"}')
    refused = CopyBuffer(file_id, buf.ingested_at)
    refused.add_rows(CopyRows(b"\n".join(good), 7, [], 0))  # as the lane hands its rows over
    commit_batch(ctx, file_id, 0, 1, Batch(refused, 14, 8, last=True))
    ctx.close()
    rows = query(
        api.settings,
        "SELECT line, message, fields IS NULL, kept_raw FROM events WHERE file_id = CAST(:f AS uuid) ORDER BY line",
        f=file_id,
    )
    assert [r[0] for r in rows] == list(range(1, 8))
    assert [r[1] for r in rows] == [f"line {n}" for n in range(1, 8)]
    assert [r[3] is not None for r in rows] == [n == bad_at for n in range(7)]
    assert rows[bad_at][2] is True and "surrogate" in rows[bad_at][3].lower()
    assert api.file(file_id)["events"] == 7
