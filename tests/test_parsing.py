"""Formats detected from content, time and level normalised, multi-line events joined.

Every fixture here is written for these tests; each format has a malformed variant that
must still come out as an event.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from logpipe.parsing.formats import Parser, normalise_level
from logpipe.parsing.lines import LineReader
from logpipe.parsing.multiline import Joiner, can_continue

UTC = UTC
REF = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def parse(line: str, **kw: object) -> tuple[str, str | None, str | None, str]:
    p = Parser(reference=REF, **kw)  # type: ignore[arg-type]
    r = p.parse(line)
    return r.format, r.ts.isoformat() if r.ts else None, r.level, r.message


CASES = [
    # JSON lines, with the common keys for time, level and message
    ('{"time":"2026-01-01T10:00:00Z","level":"warn","msg":"disk low","disk":{"free":3}}',
     ("json", "2026-01-01T10:00:00+00:00", "warn", "disk low")),
    ('{"@timestamp":"2026-01-01T10:00:00.5+02:00","log.level":"ERROR","message":"ecs"}',
     ("json", "2026-01-01T08:00:00.500000+00:00", "error", "ecs")),
    ('{"ts":1767261600.25,"severity":"Debug","event":"epoch seconds"}',
     ("json", "2026-01-01T10:00:00.250000+00:00", "debug", "epoch seconds")),
    # pino / bunyan: numeric levels, epoch milliseconds
    ('{"level":50,"time":1767261600000,"pid":7,"hostname":"h","msg":"pino error"}',
     ("json", "2026-01-01T10:00:00+00:00", "error", "pino error")),
    ('{"name":"app","hostname":"h","pid":1,"level":30,"msg":"bunyan","time":"2026-01-01T10:00:00.000Z","v":0}',
     ("json", "2026-01-01T10:00:00+00:00", "info", "bunyan")),
    # Docker json-file and CRI container logs, with the inner line parsed
    ('{"log":"2026-01-01T10:00:00Z WARN inner\\n","stream":"stderr","time":"2026-01-01T10:00:00.1Z"}',
     ("docker", "2026-01-01T10:00:00.100000+00:00", "warn", "inner")),
    ("2026-01-01T10:00:00.123456789Z stdout F level=error msg=\"cri logfmt\"",
     ("cri", "2026-01-01T10:00:00.123456+00:00", "error", "cri logfmt")),
    # logfmt and Go's slog text handler
    ('time=2026-01-01T10:00:00Z level=INFO msg="slog text" n=1',
     ("logfmt", "2026-01-01T10:00:00+00:00", "info", "slog text")),
    # syslog RFC 5424 and RFC 3164 (year inferred: a December line read in January is last year's)
    ("<11>1 2026-01-01T10:00:00.003Z host app 42 ID7 [x@1 a=\"b\"] \ufeffrfc5424 message",
     ("syslog5424", "2026-01-01T10:00:00.003000+00:00", "error", "rfc5424 message")),
    ("<13>Dec 31 23:59:59 host cron[99]: last year's line",
     ("syslog3164", "2025-12-31T23:59:59+00:00", "info", "last year's line")),
    ("Jan  4 08:00:00 host kernel: this year's line",
     ("syslog3164", "2026-01-04T08:00:00+00:00", None, "this year's line")),
    # Apache/nginx access logs: HTTP status classes give the level
    ('10.0.0.1 - alice [01/Jan/2026:10:00:00 +0100] "GET /a?b=1 HTTP/1.1" 200 512 "-" "curl/8"',
     ("apache_access", "2026-01-01T09:00:00+00:00", "info", "GET /a?b=1 HTTP/1.1 200")),
    ('10.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "POST /api HTTP/1.1" 404 0',
     ("apache_access", "2026-01-01T10:00:00+00:00", "warn", "POST /api HTTP/1.1 404")),
    ('10.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET / HTTP/2.0" 502 157 "-" "nginx-test"',
     ("apache_access", "2026-01-01T10:00:00+00:00", "error", "GET / HTTP/2.0 502")),
    # Apache and nginx error logs
    ("[Thu Jan 01 10:00:00.123456 2026] [proxy:error] [pid 12:tid 34] [client 10.0.0.2:5000] upstream gone",
     ("apache_error", "2026-01-01T10:00:00.123456+00:00", "error", "upstream gone")),
    ("[Thu Jan 01 10:00:00 2026] [notice] Apache configured",
     ("apache_error", "2026-01-01T10:00:00+00:00", "info", "Apache configured")),
    ("2026/01/01 10:00:00 [crit] 100#0: *5 connect() failed",
     ("nginx_error", "2026-01-01T10:00:00+00:00", "fatal", "connect() failed")),
    # GitHub Actions: 7-digit fractions, commands
    ("2026-01-01T10:00:00.1234567Z ##[error]Process completed with exit code 1.",
     ("github_actions", "2026-01-01T10:00:00.123456+00:00", "error", "Process completed with exit code 1.")),
    ("2026-01-01T10:00:00.1234567Z ##[warning]Node 16 is deprecated",
     ("github_actions", "2026-01-01T10:00:00.123456+00:00", "warn", "Node 16 is deprecated")),
    ("\ufeff2026-01-01T10:00:00.1234567Z \x1b[36;1mecho hi\x1b[0m",
     ("github_actions", "2026-01-01T10:00:00.123456+00:00", None, "echo hi")),
    # Application layouts: Python logging, Log4j/Logback, Go's log, Rails
    ("2026-01-01 10:00:00,250 - billing.worker - WARNING - retrying charge",
     ("python", "2026-01-01T10:00:00.250000+00:00", "warn", "retrying charge")),
    ("CRITICAL:root:out of memory", ("python", None, "fatal", "out of memory")),
    ("2026-01-01 10:00:00,250 ERROR [pool-1-thread-3] com.acme.Billing: charge failed",
     ("app", "2026-01-01T10:00:00.250000+00:00", "error", "charge failed")),
    ("2026-01-01 10:00:00.250 [main] WARN  c.a.Billing - slow charge",
     ("app", "2026-01-01T10:00:00.250000+00:00", "warn", "slow charge")),
    ("2026/01/01 10:00:00.5 listening on :8080",
     ("go", "2026-01-01T10:00:00.500000+00:00", None, "listening on :8080")),
    ("E, [2026-01-01T10:00:00.123456 #42] ERROR -- : Completed 500",
     ("rails", "2026-01-01T10:00:00.123456+00:00", "error", "Completed 500")),
    # Unknown text: still an event, with the best timestamp and level found in it
    ("something FATAL happened near 2026-01-01T10:00:00Z",
     ("text", "2026-01-01T10:00:00+00:00", "fatal", "something FATAL happened near 2026-01-01T10:00:00Z")),
    ("no time, no level", ("text", None, None, "no time, no level")),
]  # fmt: skip

MALFORMED = [
    # a truncated JSON line
    ('{"time":"2026-01-01T10:00:00Z","level":"info","msg":"cut', ("text", "2026-01-01T10:00:00+00:00", None)),
    # a syslog line with a bad date (month 13 does not exist; Feb 30 neither)
    ("<13>Foo 31 23:59:59 host app: bad month", ("text", None, None)),
    ("Feb 30 10:00:00 host app: no such day", ("text", None, None)),
    # an access log with a bad status
    ('10.0.0.1 - - [01/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 2x0 12', ("text", "2026-01-01T10:00:00+00:00", None)),
    # an Apache error line with a broken date
    ("[Thu Jan 41 10:00:00 2026] [error] nope", ("apache_error", None, "error")),
    # a CRI line with an unknown stream
    ("2026-01-01T10:00:00Z stdlog F hello", ("text", "2026-01-01T10:00:00+00:00", None)),
]


@pytest.mark.parametrize(("line", "expected"), CASES, ids=[c[1][0] + str(i) for i, c in enumerate(CASES)])
def test_format_detected_from_content(line: str, expected: tuple[str, str | None, str | None, str]) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize(("line", "expected"), MALFORMED)
def test_malformed_lines_are_still_events(line: str, expected: tuple[str, str | None, str | None]) -> None:
    fmt, ts, level, message = parse(line)
    assert (fmt, ts, level) == expected
    assert message  # nothing is dropped


def test_json_keeps_nested_fields() -> None:
    r = Parser().parse('{"msg":"x","http":{"status":503,"headers":{"a":"b"}},"tags":["a","b"]}')
    assert r.fields == {"msg": "x", "http": {"status": 503, "headers": {"a": "b"}}, "tags": ["a", "b"]}


def test_access_log_fields() -> None:
    r = Parser().parse('1.2.3.4 - - [01/Jan/2026:10:00:00 +0000] "GET /x HTTP/1.1" 200 12 "http://r/" "UA 1.0"')
    assert r.fields == {
        "remote_addr": "1.2.3.4", "status": 200, "method": "GET", "path": "/x", "protocol": "HTTP/1.1",
        "bytes": 12, "referer": "http://r/", "user_agent": "UA 1.0",
    }  # fmt: skip


def test_naive_timestamps_take_the_source_timezone() -> None:
    assert parse("2026-07-01 12:00:00 INFO x", tz="Europe/Paris")[1] == "2026-07-01T10:00:00+00:00"
    assert parse("2026-07-01 12:00:00+00:00 INFO x", tz="Europe/Paris")[1] == "2026-07-01T12:00:00+00:00"
    assert parse("<13>Jul  1 12:00:00 h a: x", tz="America/New_York")[1] == "2025-07-01T16:00:00+00:00"


def test_epoch_seconds_millis_and_nanos() -> None:
    for value in ("1767261600", "1767261600000", "1767261600000000000"):
        assert parse(f'{{"ts":{value},"msg":"e"}}')[1] == "2026-01-01T10:00:00+00:00"


def test_forced_format_falls_back_to_text() -> None:
    p = Parser(format="apache_access")
    assert p.parse('{"msg":"json"}').format == "text"
    with pytest.raises(ValueError, match="unknown format"):
        Parser(format="nope")


@pytest.mark.parametrize(
    ("word", "level"),
    [("WARNING", "warn"), ("notice", "info"), ("CRIT", "fatal"), ("emerg", "fatal"), ("severe", "error"),
     ("E", "error"), (60, "fatal"), (10, "trace"), ("whatever", None)],
)  # fmt: skip
def test_levels_normalised(word: object, level: str | None) -> None:
    assert normalise_level(word) == level


MULTILINE = """\
2026-01-01 10:00:00,000 ERROR app: request failed
Traceback (most recent call last):
  File "app.py", line 10, in handle
    charge()
ValueError: card declined

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "app.py", line 12, in handle
KeyError: 'card'
2026-01-01 10:00:01,000 INFO [main] com.acme.Api: next request
2026-01-01 10:00:02,000 ERROR [main] com.acme.Api: charge failed
com.acme.ChargeException: declined
\tat com.acme.Api.charge(Api.java:10)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.io.IOException: socket closed
\tat com.acme.Net.read(Net.java:5)
\t... 2 more
panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.main()
\t/src/main.go:8 +0x1d
exit status 2
Traceback (most recent call last):
  File "script.py", line 1, in <module>
SystemExit: 3
plain line
    indented continuation
last plain line
"""


def _events(text: str, **kw: int) -> list[tuple[int, int, str | None, str]]:
    reader = LineReader(io.BytesIO(text.encode()).read, max_line_bytes=65536)
    joiner = Joiner(Parser(reference=REF).parse, **kw)
    return [
        (e.line, e.line_count, e.parsed.level, e.message()) for e in joiner.events(reader, first_line=1, start_offset=0)
    ]


def test_multiline_events_keep_first_line_and_count() -> None:
    events = _events(MULTILINE)
    assert [(line, count, level) for line, count, level, _ in events] == [
        (1, 11, "error"),  # Python traceback with a chained exception
        (12, 1, "info"),
        (13, 7, "error"),  # Java exception with Caused by and "... 2 more"
        (20, 6, "error"),  # Go panic and goroutine dump
        (26, 3, "error"),  # a bare traceback
        (29, 2, None),  # indented continuation
        (31, 1, None),
    ]
    assert events[0][3].startswith("app: request failed\nTraceback (most recent call last):")
    assert events[0][3].endswith("KeyError: 'card'")
    assert events[2][3].splitlines()[-1] == "\t... 2 more"


def test_multiline_limits() -> None:
    text = "2026-01-01 10:00:00 ERROR x\n" + "  more\n" * 10
    assert [(line, count) for line, count, _, _ in _events(text, max_lines=4)] == [(1, 4), (5, 4), (9, 3)]
    assert [count for _, count, _, _ in _events(text, max_bytes=30)] == [1, 4, 4, 2]


def test_a_new_timestamp_always_starts_an_event() -> None:
    text = "2026-01-01 10:00:00 ERROR a\nTraceback (most recent call last):\n2026-01-01 10:00:01 INFO b\n"
    assert [count for _, count, _, _ in _events(text)] == [2, 1]


def test_safe_boundaries() -> None:
    assert not can_continue("2026-01-01 10:00:00 INFO x")
    assert not can_continue("plain")
    for text in (
        "  indented",
        "",
        "Caused by: x",
        "\t... 3 more",
        "ValueError: x",
        "main.main()",
        "goroutine 7 [chan receive]:",
    ):
        assert can_continue(text), text


@pytest.mark.parametrize(
    "line",
    [
        '{"time":"2026-01-01T10:00:00.1²Z","level":"info","msg":"superscript in the fraction"}',
        'time=2026-01-01T10:00:00.5²Z level=info msg="superscript in logfmt"',
        '{"ts":"12345678²","msg":"superscript in epoch digits"}',
        '{"time":"2026-01-01T10:00:00.١٢٣Z","msg":"Arabic-Indic digits in the fraction"}',
    ],
)
def test_non_ascii_digits_in_a_timestamp_give_no_timestamp(line: str) -> None:
    p = Parser(reference=REF).parse(line)  # parsing never raises
    assert (p.format, p.ts) == ("json" if line[0] == "{" else "logfmt", None)
    assert p.message.startswith(("superscript", "Arabic"))


def test_json_nested_too_deep_to_decode_is_text() -> None:
    line = '{"a":' + "[" * 20_000 + "]" * 20_000 + "}"
    assert parse(line)[0] == "text"


def test_events_count_their_truncated_lines() -> None:
    text = (
        b"2026-01-01 10:00:00 ERROR " + b"x" * 100 + b"\n  " + b"y" * 100 + b"\n  short\n2026-01-01 10:00:01 INFO b\n"
    )
    reader = LineReader(io.BytesIO(text).read, max_line_bytes=64)
    events = list(Joiner(Parser(reference=REF).parse).events(reader, first_line=1, start_offset=0))
    assert [(e.line_count, e.truncated, e.truncated_lines) for e in events] == [(3, True, 2), (1, False, 0)]


@pytest.mark.parametrize(
    "line",
    [
        "Jan  1 00:00:00 host app[{n}]: a pid too long for int()",
        '1.2.3.4 - - [01/Jan/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 {n}',
        '{{"ts":"{n}","msg":"epoch digits too long for int()"}}',
    ],
)
def test_numbers_longer_than_int_takes_are_no_error(line: str) -> None:
    text = line.format(n="9" * 5000)
    p = Parser(reference=REF).parse(text)  # int() refuses over 4300 digits; parsing never raises
    assert p.message in (text, "epoch digits too long for int()")
