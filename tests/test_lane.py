"""The compiled lane writes exactly what the Python path writes, for every kind of line it takes.

Every comparison runs the same bytes through the parse-worker's per-chunk loop twice,
with the lane and without, and asks for the same COPY bytes, batch by batch, the same
counts, pattern rows and aliases, and the same templates in the miner afterwards. Each
also checks that the lane took lines at all, so that a lane that never runs cannot pass.
"""

from __future__ import annotations

import gzip
import io
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from logpipe.config import Settings
from logpipe.db.events import CopyRows
from logpipe.ingest import (
    Context,
    _lane,  # type: ignore[attr-defined]
    event_batches,
)
from logpipe.ingest import lane as lane_module
from logpipe.ingest._lane import json_fields  # type: ignore[import-not-found]
from logpipe.ingest.lane import CompiledLane, lane_spec
from logpipe.parsing import LineReader, Run
from logpipe.parsing.formats import Parser
from logpipe.parsing.multiline import Joiner
from logpipe.patterns import PatternMiner
from logpipe.patterns.masking import shape_keys as python_keys

from conftest import LOGHUB, Api, needs_loghub, pump, query
from lane_oracle import FILE_ID, INGESTED, assert_same
from patterns_accuracy import load_truth, systems


def test_the_lane_is_built() -> None:
    # `make setup` compiles it; without it every other test here compares the Python
    # path with itself, so say so loudly rather than pass.
    assert lane_module.available(), "logpipe.ingest._lane is not built: run `make setup` (needs gcc)"


# -- a generator of access logs with every kind of line the lane must leave alone ---------------

_AGENTS = ("Mozilla/5.0 (X11; Linux x86_64)", "curl/8.4.0", 'odd "quoted" agent', "", "-")
_USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace")


def _clf(rnd: random.Random) -> str:
    zone = rnd.choice(("+0000", "-0700", "+0530", "+1400", "-1200", "+0000"))
    day, month, year = rnd.choice(((31, "Dec", 2025), (1, "Jan", 2026), (29, "Feb", 2024), (30, "Nov", 2026)))
    return f"{day:02d}/{month}/{year}:{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d} {zone}"


def access_line(rnd: random.Random) -> str:
    host = rnd.choice(("10.0.0.1", "192.168.1.20", "::1", "2001:db8::7", "8.8.8.8"))
    user = rnd.choice(("-", "-", "-", rnd.choice(_USERS), 'q"uote'))
    method = rnd.choice(("GET", "GET", "POST", "DELETE"))
    target = rnd.choice((
        f"/api/orders/{rnd.randint(1, 99999)}", "/", "/index.html", f"/u/{rnd.choice(_USERS)}",
        f"/search?q={rnd.choice(_USERS)}&page={rnd.randint(1, 9)}", f"/static/app.{rnd.getrandbits(32):08x}.js",
    ))  # fmt: skip
    request = rnd.choice((
        f"{method} {target} HTTP/1.1", f"{method} {target} HTTP/1.1", f"{method} {rnd.choice(_USERS)} HTTP/2.0",
        "", "-", f"{method} {target}", f"{method}  {target} HTTP/1.0", "\x16\x03\x01",
    ))  # fmt: skip
    status = rnd.choice((200, 200, 200, 304, 404, 500, 503, 301))
    size = rnd.choice(("-", str(rnd.randint(0, 90000)), "0", "000123", "1" * 25))
    tail = rnd.choice((
        f' "https://shop.example.com/" "{rnd.choice(_AGENTS)}"', ' "-" "-"', "", ' "only referer"',
        f' "r" "a" {rnd.randint(1, 999)}', "   ", ' "r" "a" "extra quoted"',
    ))  # fmt: skip
    return f'{host} - {user} [{_clf(rnd)}] "{request}" {status:03d} {size}{tail}'


def plain_line(rnd: random.Random) -> str:
    """A line the lane takes."""
    host, target = f"10.0.0.{rnd.randint(1, 254)}", f"/a/{rnd.randint(1, 99)}"
    return f'{host} - - [{_clf(rnd)}] "GET {target} HTTP/1.1" 200 {rnd.randint(1, 999)}'


ODD_LINES = (
    # Hosts the lane does not take (names, or a start some multi-line rule looks at).
    'www.example.com - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326',
    'Caused - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326',
    'fe80::1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326',
    # Times the lane does not take: the Python path decides about each.
    '10.0.0.9 - - [32/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326',
    '10.0.0.9 - - [29/Feb/2023:13:55:36 -0700] "GET / HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/Oct/2000:13:55:60 -0700] "GET / HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/Oct/2000:13:55:36 +2400] "GET / HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/Oct/2000:13:55:36 +0075] "GET / HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/Oct/2000:13:55:36] "GET / HTTP/1.0" 200 2326',
    '10.0.0.9 - - [1/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/Oct/0999:13:55:36 -0700] "GET / HTTP/1.0" 200 2326',
    # Bytes the lane does not write itself.
    '10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] "GET /a\\"b HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] "GET /caf\u00e9 HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] "GET /\tx HTTP/1.0" 200 2326',
    '10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326\r',
    '10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "\x1b[31mred\x1b[0m" "a"',
    '10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "r" "a\x00"',
    # Not the layout at all.
    '10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 2000 2326',
    '10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200',
    '10.0.0.9  - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1',
    '10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 x',
    # Lines that multi-line rules join to the line before, and others.
    "    at com.example.Api.call(Api.java:42)",
    "\tat com.example.Api.call(Api.java:42)",
    "Caused by: java.net.SocketTimeoutException: Read timed out",
    "Traceback (most recent call last):",
    "goroutine 7 [running]:",
    "com.example.GatewayException: timeout",
    "",
    '{"time":"2026-11-27T03:13:15Z","level":"info","msg":"json between"}',
    "2026-11-27 03:13:14,123 ERROR an application line",
    "7 lines of something",
    "x" * 300,
)


def mixed_access_log(lines: int, seed: int, odd: float = 0.05) -> bytes:
    rnd = random.Random(seed)
    out = []
    for _ in range(lines):
        out.append(rnd.choice(ODD_LINES) if rnd.random() < odd else access_line(rnd))
    return ("\n".join(out) + "\n").encode()


# -- the comparisons ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_rows_as_the_python_path(seed: int) -> None:
    data = mixed_access_log(4000, seed)
    compiled = assert_same(data)
    assert compiled.lane_rows > 2000


def test_every_odd_line_between_plain_ones() -> None:
    rnd = random.Random(9)
    for odd in ODD_LINES:
        lines = [plain_line(rnd) for _ in range(6)]
        lines.insert(3, odd)
        data = ("\n".join(lines) + "\n").encode()
        compiled = assert_same(data)
        assert compiled.lane_rows >= 1, odd


# Reads cut small at every level of the lane's loops: blocks, batches, single rows.
SPLITS: tuple[dict[str, Any], ...] = ({"block": 4096}, {"block": 333, "batch_rows": 7}, {"batch_rows": 1})


def test_runs_across_blocks_batches_and_the_line_limit() -> None:
    data = mixed_access_log(3000, 4)
    for options in (*SPLITS, {"batch_rows": 2}, {"max_line_bytes": 150}):
        compiled = assert_same(data, **options)
        assert compiled.lane_rows > 500, options
        if "batch_rows" in options:
            assert all(b[1] <= options["batch_rows"] for b in compiled.batches)


def test_templates_that_generalise_while_the_lane_runs() -> None:
    # Request targets that are words, not paths: the miner sees one template a user
    # first, then generalises them, and hands out aliases for the ids it retired.
    rnd = random.Random(5)
    lines = []
    for i in range(2000):
        user = f"user{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}"
        lines.append(f'10.1.2.3 - - [{_clf(rnd)}] "GET {user} HTTP/1.1" 200 {i}')
    compiled = assert_same(("\n".join(lines) + "\n").encode(), batch_rows=100)
    assert compiled.lane_rows > 1500
    assert any(b[8] for b in compiled.batches), "some batch carries aliases"
    assert compiled.templates == {"GET <*> HTTP/<*> <*>": 2000}


def test_no_run_starts_before_the_lines_a_resumed_gzip_chunk_reads_again() -> None:
    data = mixed_access_log(500, 6, odd=0)
    whole = assert_same(data, first_line=10, min_line=200)
    assert whole.first_lane_line is not None and whole.first_lane_line >= 200


def test_a_row_matches_what_the_python_path_writes_for_it() -> None:
    # One line, read field by field, against the row: a check of the comparison itself.
    line = '203.0.113.9 - frank [31/Dec/2025:23:30:00 -0700] "GET /x/7 HTTP/1.1" 503 0042 "r" "a b"'
    data = (line + "\n") * 3
    compiled = assert_same(data.encode())
    assert compiled.lane_rows == 2  # the last has no line after it
    first = compiled.batches[0][0].split(b"\n")[1].decode().split("\t")
    assert first[1:4] == ["2", "2026-01-01T06:30:00+00:00", "f"]
    assert first[5:8] == ["error", "apache_access", "GET /x/7 HTTP/1.1 503"]
    assert first[8] == (
        '{"remote_addr":"203.0.113.9","status":503,"user":"frank","method":"GET","path":"/x/7",'
        '"protocol":"HTTP/1.1","bytes":42,"referer":"r","user_agent":"a b"}'
    )
    assert first[9] == line


# -- JSON lines --------------------------------------------------------------------------------


def _iso(rnd: random.Random) -> str:
    day = rnd.choice(("2026-11-27", "2025-12-31", "2024-02-29", "2026-01-01"))
    clock = f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}"
    fraction = rnd.choice(("", ".5", ".123", ".000001", ".123456789", ",250", ".", ".000000"))
    zone = rnd.choice(("Z", "Z", "+00:00", "-07:00", "+05:30", "", "z", " UTC", "+0200", "+24:00"))
    return f"{day}{rnd.choice('TT ')}{clock}{fraction}{zone}"


def json_line(rnd: random.Random) -> str:
    """A JSON log line, mostly of the kind the lane takes, often not."""
    parts: list[str] = []
    if rnd.random() < 0.9:
        key = rnd.choice(("time", "time", "ts", "@timestamp", "timestamp", "t", "created"))
        value = rnd.choice((
            f'"{_iso(rnd)}"', f'"{_iso(rnd)}"', f'"{_iso(rnd)}"', "1764201600", "1764201600.5", "null", "true",
            '"2026-13-01T00:00:00Z"', '"27/Nov/2026:10:00:00 +0000"', '"1764201600123"', '{"x": 1}',
        ))  # fmt: skip
        parts.append(f'"{key}":{value}')
    if rnd.random() < 0.9:
        key = rnd.choice(("level", "level", "severity", "lvl", "levelname", "severity_text"))
        value = rnd.choice((
            '"info"', '"INFO"', '"warn"', '"Warning"', '" error "', '"fatal"', '"trace"', '"d"', '"verbose"',
            '"bogus"', "30", "50", "60", "-1", "40.5", "true", "null", '["info"]',
        ))  # fmt: skip
        parts.append(f'"{key}":{value}')
    if rnd.random() < 0.95:
        key = rnd.choice(("msg", "msg", "message", "text", "event", "body"))
        user = rnd.choice(_USERS)
        value = rnd.choice((
            f'"user {user} logged in"', f'"request {rnd.randint(1, 999)} took {rnd.randint(1, 900)}ms"',
            f'"GET /api/orders/{rnd.randint(1, 99)} failed"', '"cache miss for key c2ce6f447ed4d57b"', '""',
            '"say \\"hi\\""', '"caf\\u00e9"', '"two\\nlines"', "42", '{"nested": "message"}', "null",
        ))  # fmt: skip
        parts.append(f'"{key}":{value}')
    for _ in range(rnd.randint(0, 4)):
        key = rnd.choice(("service", "status", "duration_ms", "path", "ok", "tags", "ctx", "n", "ratio", "id"))
        value = rnd.choice((
            '"checkout"', str(rnd.randint(-5, 99999)), f"{rnd.randint(0, 900)}.{rnd.randint(0, 9)}", "true",
            "false", "null", '["a", 1, 2.5, null]', '{"a": {"b": [true, {}]}, "c": []}', "[]", "{}",
            "1.50", "1e5", "-0", "0.00001", "12345678901234567890", "0.1", "-0.0", "1234567890123456.5",
            "0.0001", "-12.25", '"with space"', f'"{rnd.getrandbits(64):016x}"',
        ))  # fmt: skip
        parts.append(f'"{key}":{value}')
    rnd.shuffle(parts)
    sep = rnd.choice((",", ",", ", ", " , "))
    line = "{" + sep.join(parts) + "}"
    return rnd.choice((line, line, line, line, line + "  ", " " + line, line.replace(":", ": ", 2)))


ODD_JSON = (
    '{"time":"2026-11-27T10:00:00Z","msg":"a","msg":"b"}',
    '{"time":"2026-11-27T10:00:00Z","log":"inner line\\n","stream":"stdout"}',
    '{"time":"2026-11-27T10:00:00Z","log":{"level":"error"},"msg":"ecs"}',
    '{"time":"2026-11-27T10:00:00Z","log.level":"error","msg":"dotted"}',
    '{"time":"2026-11-27T10:00:00Z","msg":"truncated"',
    '{"time":"2026-11-27T10:00:00Z","msg":"extra"} {"another":1}',
    "[1, 2, 3]",
    '{"time":"2026-11-27T10:00:00Z","msg":"café"}',
    '{"time":"2026-11-27T10:00:00Z","msg":"tab\there"}',
    '{"time":"2026-11-27T10:00:00Z","big":123456789012345678901234567890,"msg":"big"}',
    '{"time":"2026-11-27T10:00:00Z","nan":NaN,"msg":"nan"}',
    '{"time":"2026-11-27T10:00:00Z","deep":' + "[" * 20 + "]" * 20 + ',"msg":"deep"}',
)


def json_log(lines: int, seed: int, odd: float = 0.05) -> bytes:
    rnd = random.Random(seed)
    out = []
    for _ in range(lines):
        r = rnd.random()
        out.append(rnd.choice(ODD_JSON) if r < odd else rnd.choice(ODD_LINES) if r < 2 * odd else json_line(rnd))
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_json_lines_give_the_same_rows_as_the_python_path(seed: int) -> None:
    data = json_log(4000, seed)
    compiled = assert_same(data)
    assert compiled.lane_rows > 300  # most generated lines hold something the lane leaves alone


# Lines the lane takes, each of which turns on one rule of the Python path's.
PLAIN_JSON = (
    '{"time":null,"ts":"2026-11-27T10:00:00.5Z","level":null,"severity":"ERROR","msg":null,"message":"nulls skipped"}',
    '{"level":"warn","time":"2026-11-27 10:00:00,123456789-07:00","msg":"comma fraction, offset"}',
    '{"level":10,"t":"2026-11-27T10:00:00","msg":"naive, pino trace"}',
    '{"level":51,"time":"2026-11-27T23:59:59+05:30","msg":"pino fatal"}',
    '{"level":true,"msg":"a boolean level is none"}',
    '{"time":true,"msg":"a boolean time is none"}',
    '{"msg":{"not":"a string"},"level":"info"}',
    '{"body":"last of the message keys", "n": [0.0001, 0.00012, 123456789012345.0, -1.5, 0.0, 7]}',
    '{"time":"2026-11-27T10:00:00Z","msg":"' + "x" * 300 + '"}',  # cut by a small line limit only
    "{}",
    '{"msg":"no time at all"}',
)


def test_every_odd_json_line_between_plain_ones() -> None:
    for odd in PLAIN_JSON + ODD_JSON + ODD_LINES:
        lines = [f'{{"time":"2026-11-27T10:00:0{i}Z","level":"info","msg":"plain {i}"}}' for i in range(6)]
        lines.insert(3, odd)
        compiled = assert_same(("\n".join(lines) + "\n").encode())
        if odd in PLAIN_JSON:
            assert compiled.lane_rows == 6, odd  # all but the last, which has no line after it
        elif odd in ODD_JSON:
            assert 1 <= compiled.lane_rows < 6, odd
        else:
            assert compiled.lane_rows >= 1, odd


def test_json_runs_across_blocks_batches_the_line_limit_and_zones() -> None:
    data = json_log(3000, 4)
    # Naive times are the source's zone's: in Europe/Paris those lines take the Python path.
    for options in (*SPLITS, {"max_line_bytes": 120}, {"tz": "Europe/Paris"}):
        compiled = assert_same(data, **options)
        assert compiled.lane_rows > 100, options


def test_access_and_json_lines_mixed() -> None:
    rnd = random.Random(21)
    lines = []
    for _ in range(3000):
        lines.append(plain_line(rnd) if rnd.random() < 0.5 else json_line(rnd))
        if rnd.random() < 0.01:
            lines.append(rnd.choice(ODD_LINES))
    compiled = assert_same(("\n".join(lines) + "\n").encode())
    assert compiled.lane_rows > 100


def test_the_lane_writes_json_fields_as_orjson_writes_them_back() -> None:
    rnd = random.Random(31)
    taken = 0
    for _ in range(20_000):
        line = json_line(rnd)
        fields = json_fields(line)
        if fields is not None:
            assert fields == orjson.dumps(orjson.loads(line)).decode(), line
            taken += 1
    assert taken > 5000
    # Decimals: the lane takes one only where orjson writes back the same text.
    edges = ("0.0001", "0.00001", "0.000001", "0.0000012", "100000000000000.5", "1000000000000000.5", "0.10",
             "123456789012345.0", "1.0", "-1.5", "-0.0", "0.0", "0.30000000000000004", "5.0e3", "-0", "0")  # fmt: skip
    for text in edges:
        fields = json_fields(f'{{"n":{text}}}')
        if fields is not None:
            assert fields == orjson.dumps({"n": orjson.loads(text)}).decode(), text
    assert json_fields('{"n":0.0001}') is not None  # the lane does take decimals
    for _ in range(20_000):
        whole = str(rnd.choice((0, rnd.randint(0, 9), rnd.randint(0, 10 ** rnd.randint(1, 16)))))
        fraction = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 17)))
        text = rnd.choice(("", "-")) + f"{whole}.{fraction}"
        fields = json_fields(f'{{"n":{text}}}')
        if fields is not None:
            assert fields == orjson.dumps({"n": orjson.loads(text)}).decode(), text


# -- application layouts, logfmt, and all of them mixed ----------------------------------------


def app_line(rnd: random.Random) -> str:
    when = _iso(rnd).replace(" UTC", "Z")
    level = rnd.choice(("INFO", "INFO", "WARN", "WARNING", "ERROR", "ERR", "DEBUG", "FATAL", "info", "NOTICE",
                        "FINE", "FINER", "CONFIG", "INFOX", "[INFO]", "INFO:", "VERBOSE", "TRACE"))  # fmt: skip
    thread = rnd.choice(("", "", f" [worker-{rnd.randint(0, 9)}]", " [pool-1 [x]]", " [unclosed"))
    logger = rnd.choice(("", "", " com.acme.Api:", " com.acme.Api@12:", " Handler -", " - Handler -", " word:"))
    message = rnd.choice((
        f" request {rnd.randint(1, 999)} served in {rnd.randint(1, 900)}ms", " user alice logged in", "",
        ' "quoted" text', " - dash first", " trailing - dash - here", f" id={rnd.getrandbits(32):08x}", " -dash",
        "  --double",
    ))  # fmt: skip
    before = rnd.choice(("", "", "", " [main]"))
    return f"{when}{before} {level}{thread}{logger}{message}"


def logfmt_line(rnd: random.Random) -> str:
    pairs = []
    if rnd.random() < 0.9:
        pairs.append(f"{rnd.choice(('time', 'ts', 'time', 't'))}={rnd.choice((_iso(rnd), '1764201600', 'bad'))}")
    if rnd.random() < 0.9:
        pairs.append(f"{rnd.choice(('level', 'lvl', 'severity'))}={rnd.choice(('info', 'WARN', 'error', 'x'))}")
    if rnd.random() < 0.9:
        pairs.append("msg=" + rnd.choice(('"order placed"', "hello", '""', '"a ] \\"b"', "x=y")))
    for _ in range(rnd.randint(0, 4)):
        key = rnd.choice(("service", "host", "request_id", "duration", "attempt", "a.b", "k-1", "@x", "p/q"))
        value = rnd.choice(("billing", f"{rnd.getrandbits(64):016x}", f"{rnd.randint(1, 5000)}ms", "",
                            '"with space"', '"unterminated', 'a"b', "="))  # fmt: skip
        pairs.append(f"{key}={value}")
    rnd.shuffle(pairs)
    line = rnd.choice((" ", " ", "  ")).join(pairs)
    return rnd.choice((line, line, line, line + " ", line + " tail", "Time=x " + line, "go=1 " + line))


def mixed_log(lines: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    makers = (json_line, logfmt_line, app_line, app_line, plain_line, access_line)
    out = []
    for _ in range(lines):
        r = rnd.random()
        out.append(rnd.choice(ODD_LINES + ODD_JSON) if r < 0.08 else rnd.choice(makers)(rnd))
    return ("\n".join(out) + "\n").encode()


# Lines a format the lane knows might claim, which the parser gives another format first.
LOOKALIKES = (
    "2026-11-27T10:00:00.123Z stdout F container line",  # CRI
    "2026-11-27T10:00:00.1234567Z ##[group]Run tests",  # GitHub Actions
    "2026-11-27 10:00:00,123 - app.module - INFO - the Python logging layout",
    '2026-11-27T10:00:00Z INFO access-like ] "GET / HTTP/1.1" 200 1',
    # An application line and an access-log line at once: the parser's settled format decides.
    '2026-11-27T10:00:00Z INFO x [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326',
    'time=2026-11-27T10:00:00Z msg="x" ] "y"',
    "[2026-11-27T10:00:00Z] INFO bracketed time",
    "2026/11/27 10:00:00 go log line",
    "a.b.SomeError=1 level=info",
    "single=pair",
)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_mixed_formats_give_the_same_rows_as_the_python_path(seed: int) -> None:
    compiled = assert_same(mixed_log(4000, seed))
    assert compiled.lane_rows > 800


def test_lookalikes_between_lines_of_each_format() -> None:
    rnd = random.Random(41)
    for odd in LOOKALIKES:
        for maker in (app_line, logfmt_line, json_line, plain_line):
            lines = [maker(rnd) for _ in range(6)]
            lines.insert(3, odd)
            assert_same(("\n".join(lines) + "\n").encode())


def test_a_run_leaves_the_parser_settled_on_its_last_format() -> None:
    # The lookalike is an access-log line to a parser settled elsewhere, and an application
    # line to one settled on ``app``: the run before it must leave the parser as the
    # Python path would.
    both = LOOKALIKES[4]
    for before in (
        "2026-11-27T10:00:00Z INFO [main] ready",
        'time=2026-11-27T10:00:00Z level=info msg="ready" k=v',
        '{"time":"2026-11-27T10:00:00Z","msg":"ready"}',
    ):
        compiled = assert_same(("\n".join([before] * 4 + [both, before]) + "\n").encode())
        assert compiled.lane_rows >= 4, before  # the lookalike too, after application lines


def test_indented_lines_join_their_event_in_the_lane() -> None:
    head = "2026-11-27T10:00:0{}Z ERROR [main] request {} failed"
    frames = ("    at com.acme.Api.call(Api.java:42)", "    at com.acme.Main.main(Main.java:7)", "  File x.py")
    lines = []
    for i in range(6):
        lines.append(head.format(i, i))
        lines.extend(frames[: i % 4])
    lines.append("2026-11-27T10:00:09Z INFO [main] done")
    data = ("\n".join(lines) + "\n").encode()
    compiled = assert_same(data)
    assert compiled.lane_rows == len(lines) - 1  # every line but the last, frames included
    rows = compiled.batches[0][0].decode().split("\n")
    assert rows[1].split("\t")[7] == "request 1 failed\\n    at com.acme.Api.call(Api.java:42)"
    assert rows[1].split("\t")[11] == "2"  # line count
    for options in ({"max_event_lines": 2}, {"max_event_bytes": 80}, {"block": 64}):
        assert_same(data, **options)
    # A blank indented line, or one the lane does not take, leaves the event to the Python path.
    for odd in ("    ", "    caf\u00e9", "\tat tab"):
        assert_same(data.replace(frames[1].encode(), odd.encode()))


def test_a_run_does_not_start_inside_an_event_the_python_path_opened_in_a_mode() -> None:
    # Found by the generated-file fuzzing: after a Go panic (an event in Go mode, which
    # takes "exit status N" and "created by ..." lines), the lane took "exit status 8" as
    # an event of its own, where the Python path joins it to the panic.
    for data in (
        "panic: e\nexit status 8\nready to go\n",
        "panic: oops\n\ngoroutine 1 [running]:\nmain.main()\nexit status 2\nnext line\n",
        "goroutine 7 [chan receive]:\ncreated by main.worker in goroutine 1\nready to go\n",
    ):
        assert_same(data.encode())
    compiled = assert_same(b"panic: e\nexit status 8\nready to go\nready to go\nready to go\n")
    assert compiled.lane_rows == 2  # the lines after the event the panic took, but the last


def test_a_java_exception_line_with_letters_beyond_ascii_joins_its_event() -> None:
    # ``_JAVA_EXC``'s ``\w`` takes any letter: the lane cannot tell such a line from its
    # bytes, so the event before it is not the lane's.
    before = "2026-11-27T10:00:00Z INFO [main] ready"
    for odd in ("com.ex\u00e4mple.FooException: boom", "\u00e9t\u00e9.Foo.BarError"):
        lines = [before] * 3 + [odd, before, before]
        compiled = assert_same(("\n".join(lines) + "\n").encode())
        assert compiled.lane_rows >= 2, odd


def test_text_lines_in_the_lane() -> None:
    texts = (
        "GET /health 200 0.54ms", "starting worker pool size=4 queue=orders", "service ERROR happened",
        "WARNING lower", "WARNINGS are not a level", "xINFO is not one either", "panic - not a Go panic",
        "ready to accept connections on :8080", "a [bracket] here", "fatal error: Go's other head",
    )  # fmt: skip
    lines = []
    for t in texts:
        lines += ["2026-11-27T10:00:00Z INFO [main] before", t]
    lines.append("2026-11-27T10:00:00Z INFO [main] last")
    compiled = assert_same(("\n".join(lines) + "\n").encode())
    assert compiled.lane_rows >= len(lines) - 6  # those with a colon or bracket go the Python way


def test_a_forced_format_holds_for_the_lane_too() -> None:
    data = mixed_log(2000, 5)
    for name in ("logfmt", "app", "json", "apache_access", "syslog3164"):
        assert_same(data, format=name)  # the others' lines are text then, or the Python path's


def test_the_lane_takes_the_mixed_benchmark_lines() -> None:
    # The three structured kinds of the benchmark's mixed file, one after another: all
    # but the last line are the lane's.
    lines = [
        '{"time":"2026-11-01T00:00:00.465Z","level":"warn","service":"search","msg":"worker heartbeat",'
        '"method":"PUT","path":"/static/app.37983.js","status":404,"duration_ms":830.0,"request_id":"05805975ed2f89d9"}',
        'time=2026-11-01T00:00:00.034Z level=fatal service=billing host=ip-10-0-2-92 msg="order placed" '
        "request_id=c2ce6f447ed4d57b duration=3869ms attempt=3",
        "2026-11-01 00:00:00.131Z INFO [scheduler-6] request completed (host=ip-10-0-1-11 request=9b810e766ec9d286)",
        "2026-11-01T00:00:00.406Z WARN [checkout-3] slow query detected (host=ip-10-0-3-11 request=7eed8d14f06d3fef)",
        "GET /health 200 0.54320ms",
    ]
    compiled = assert_same(("\n".join(lines) + "\n").encode())
    assert compiled.lane_rows == 4


# -- the miner's keys ----------------------------------------------------------------------------


SPEC = _lane.compile(lane_spec(Parser(), PatternMiner(), Settings.from_env({})))


def lane_keys(message: str) -> tuple[str, str]:
    """The keys the lane looks a message up by."""
    first, full = _lane.shape_keys(message, SPEC)
    return first, full


def _plain(text: str) -> bool:
    return text.isascii() and text.isprintable() and "\\" not in text


@needs_loghub
def test_the_lane_keys_messages_as_the_miner_does_on_loghub() -> None:
    checked = 0
    for system in systems(LOGHUB):
        for message in load_truth(LOGHUB, system).contents:
            if _plain(message):
                assert lane_keys(message) == python_keys(message), message
                checked += 1
    assert checked > 10_000


def test_the_lane_keys_messages_as_the_miner_does_on_random_text() -> None:
    # Dense in what the keys turn on: digits, hex letters, other letters, slashes, spaces.
    rnd = random.Random(11)
    alphabet = "0123456789abcdefABCDEFxyzXYZ/ ._-:=,;()[]{}|<>\"'?&#%"
    for _ in range(20_000):
        message = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        assert lane_keys(message) == python_keys(message), message


def test_the_lane_finds_known_messages_without_calling_the_miner() -> None:
    # A key the lane gets wrong sends every line to ``add``: slow, and a sign it is wrong.
    rnd = random.Random(12)
    data = "".join(plain_line(rnd) + "\n" for _ in range(3000)).encode()
    parser, miner = Parser(reference=INGESTED), PatternMiner()
    calls = 0
    add = miner.add

    def counting_add(message: str) -> Any:
        nonlocal calls
        calls += 1
        return add(message)

    miner.add = counting_add  # type: ignore[method-assign]
    lane = CompiledLane.create(True, parser, miner, Settings.from_env({}))
    reader = LineReader(io.BytesIO(data).read, max_line_bytes=65536)
    events = Joiner(parser.parse).events_and_runs(reader.with_lane(lane, first_line=1), first_line=1, start_offset=0)
    for _ in event_batches(events, miner, FILE_ID, INGESTED, 5000, 0, 1, lane):
        pass
    assert 0 < calls < 10  # the first line and the new kinds of message


# -- through the whole pipeline ----------------------------------------------------------------


def _stored(api: Api, file_id: str) -> list[list[Any]]:
    """The file's events, but for their pattern ids, which depend on the order in which
    chunks reach the miner (the queue does not keep one), and ingest times."""
    return query(
        api.settings,
        "SELECT line, CASE WHEN ts_inferred THEN NULL ELSE ts END, level, format, message, fields::text, raw, "
        "truncated, line_count "
        "FROM events WHERE file_id = CAST(:f AS uuid) ORDER BY line",
        f=file_id,
    )


def _patterns_account_for_every_event(api: Api) -> None:
    counted = query(api.settings, "SELECT coalesce(sum(count), 0) FROM patterns")[0][0]
    unknown = query(
        api.settings,
        "SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM patterns p WHERE p.id = e.pattern_id)"
        " AND NOT EXISTS (SELECT 1 FROM pattern_aliases a WHERE a.id = e.pattern_id)",
    )[0][0]
    assert (counted, unknown) == (query(api.settings, "SELECT count(*) FROM events")[0][0], 0)


@pytest.mark.services
@pytest.mark.parametrize(("kind", "gzipped"), [("access", False), ("access", True), ("json", False), ("mixed", True)])
def test_the_worker_stores_the_same_events_with_and_without_the_lane(
    make_api: Callable[..., Api], kind: str, gzipped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    filled: list[int] = []
    fill = CompiledLane.fill

    def counting_fill(self: CompiledLane, run: Run) -> CopyRows:
        rows = fill(self, run)
        filled.append(run.lines)
        return rows

    monkeypatch.setattr(CompiledLane, "fill", counting_fill)
    data = {"access": mixed_access_log, "json": json_log, "mixed": mixed_log}[kind](6000, 8)
    body = gzip.compress(data) if gzipped else data
    name = "access.log.gz" if gzipped else "access.log"
    with_lane = make_api(chunk_bytes=64 * 1024, batch_rows=500)
    without = make_api(chunk_bytes=64 * 1024, batch_rows=500, compiled_lane=False)
    a, b = with_lane.upload(name, body), without.upload(name, body)
    # Every commit runs past the time budget, so each batch of a gzip chunk is a fresh
    # invocation that reads past what is committed before the lane may start again.
    ctx = Context(with_lane.settings, clock=lambda: time.monotonic() + 10_000)
    try:
        pump(with_lane.settings, ctx=ctx)
    finally:
        ctx.close()
    taken = sum(filled)
    pump(without.settings)
    assert sum(filled) == taken > 300  # the lane took many lines, and only where it was on
    assert with_lane.file(a)["status"] == without.file(b)["status"] == "done"
    assert with_lane.file(a)["lines"] == data.count(b"\n")
    stored = _stored(with_lane, a)
    assert stored == _stored(without, b)
    assert len(stored) > 5000
    _patterns_account_for_every_event(with_lane)
