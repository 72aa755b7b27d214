"""Layouts inferred per file: on logs in layouts the parser has no rule for.

The generated logs (``log_layouts``) follow other software's documented default layouts;
this machine's own logs are read where they exist and skipped where they do not.
"""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
from log_layouts import LAYOUTS, REFERENCE, Truth, generate

from logpipe.parsing import Line
from logpipe.parsing.formats import TEXT_FORMAT, Parser
from logpipe.parsing.inference import _times, choose, infer
from logpipe.parsing.layouts import LAYOUT_FORMAT, Column, Layout, LayoutReader
from logpipe.parsing.multiline import Joiner
from logpipe.parsing.timeparse import TimeParser
from logpipe.patterns import mine
from logpipe.patterns.files import line_patterns
from logpipe_local.cli import main as logpipe

from patterns_accuracy import grouping_accuracy

LINES = 600


def _parsed(truth: list[Truth], known: bool = False) -> tuple[Parser, list]:  # type: ignore[type-arg]
    """The lines parsed as ingest parses them: by the layout inferred from their sample, or
    (``known``, where a format of the parser reads them better) by the known formats."""
    choice = choose([t.line for t in truth[:200]], reference=REFERENCE)
    assert known or choice.layout is not None, choice.reason
    parser = Parser(reference=REFERENCE, layout=choice.layout, adapt=True)
    return parser, [parser.parse(t.line) for t in truth]


@pytest.mark.parametrize("layout", LAYOUTS, ids=[lay.name for lay in LAYOUTS])
def test_an_inferred_layout_finds_the_time_the_level_and_the_message_of_lines_in_a_layout_no_rule_names(
    layout: object,
) -> None:
    truth = generate(layout, LINES)  # type: ignore[arg-type]
    if layout.known:  # type: ignore[attr-defined]
        # A known format reads it: no layout is chosen, and it must read it as well.
        assert choose([t.line for t in truth[:200]], reference=REFERENCE).layout is None
    _, parsed = _parsed(truth, known=layout.known)  # type: ignore[attr-defined]
    n = len(truth)
    times = sum(1 for t, p in zip(truth, parsed, strict=True) if p.ts == t.ts)
    messages = sum(1 for t, p in zip(truth, parsed, strict=True) if p.message.strip() == t.message)
    levels = [(t.level, p.level) for t, p in zip(truth, parsed, strict=True) if t.level is not None]
    assert times >= 0.99 * n, f"time found and right on {times} of {n} lines"
    assert messages >= 0.95 * n, f"header out of the message on {messages} of {n} lines"
    assert all(want == got for want, got in levels), [pair for pair in levels if pair[0] != pair[1]][:5]


@pytest.mark.parametrize("layout", LAYOUTS, ids=[lay.name for lay in LAYOUTS])
def test_grouping_on_raw_lines_is_within_two_hundredths_of_grouping_on_the_true_messages(layout: object) -> None:
    truth = generate(layout, LINES)  # type: ignore[arg-type]
    templates = [t.template for t in truth]
    raw = [p.id for p in line_patterns(Line(t.line, False, 0) for t in truth)]
    true = [p.id for p in mine([t.message for t in truth])]
    assert grouping_accuracy(templates, raw) >= grouping_accuracy(templates, true) - 0.02


def test_no_time_is_taken_from_inside_a_message() -> None:
    words = ("Started", "Stopped", "Loaded", "Saved", "Opened", "Closed", "Sent", "Read")
    lines = [f"2026-11-30 10:00:{s:02d} INFO [main] {words[s % 8]} item {s}" for s in range(40)]
    layout = infer(lines).layout
    assert layout is not None
    parser = Parser(reference=REFERENCE, layout=layout)
    inside = parser.parse("Backup of 2024-06-01 10:00:00 verified")
    assert inside.format == TEXT_FORMAT and inside.ts is None
    # A line that does not fit, but opens with a time of its own, keeps it.
    opening = parser.parse("2026-11-30 10:02:00 a line of another shape")
    assert opening.format == TEXT_FORMAT and opening.ts == datetime(2026, 11, 30, 10, 2, tzinfo=UTC)
    # A date at the start of a message, after a header, is the message's too.
    line = parser.parse("2026-11-30 10:01:00 INFO [main] 2024-06-01 10:00:00 was the last backup")
    assert line.ts == datetime(2026, 11, 30, 10, 1, tzinfo=UTC)
    assert line.message == "2024-06-01 10:00:00 was the last backup"


def test_day_and_month_order_is_decided_across_the_sample_not_line_by_line() -> None:
    # The first lines could be either; one later line has a day over 12.
    days = [(d, m) for m in (1, 2) for d in range(1, 13)] + [(25, 2)]
    lines = [f"{d:02d}/{m:02d}/2026 08:00:00 WARN pool: job {i}" for i, (d, m) in enumerate(days)]
    inference = infer(lines)
    assert inference.layout is not None and inference.layout.order == "dm", inference.reasons
    parser = Parser(reference=REFERENCE, layout=inference.layout)
    assert parser.parse(lines[2]).ts == datetime(2026, 1, 3, 8, tzinfo=UTC)
    # Month first when the numbers say so.
    us = [f"{m:02d}/{d:02d}/2026 08:00:00 WARN pool: job {i}" for i, (d, m) in enumerate(days)]
    assert infer(us).layout.order == "md"  # type: ignore[union-attr]


def test_a_missing_year_is_the_one_that_puts_the_time_before_the_reading() -> None:
    january = datetime(2027, 1, 2, tzinfo=UTC)
    lines = [f"12/31 23:59:{s:02d} INFO edge-1 tick {s}" for s in range(20)]
    layout = infer(lines).layout
    assert layout is not None
    parser = Parser(reference=january, layout=layout)
    assert parser.parse(lines[0]).ts == datetime(2026, 12, 31, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("0000012345 [INFO] uptime counter, not a time", "decades"),
        ("2090-01-01 00:00:00 [INFO] a clock set far ahead", "decades"),
    ],
)
def test_times_decades_off_are_refused_with_a_reason_and_the_line_kept(line: str, why: str) -> None:
    lines = (
        [f"{1764496800 + s} [INFO] tick {s}" for s in range(20)]
        if line[0] == "0"
        else [f"2026-11-30 10:00:{s:02d} [INFO] tick {s}" for s in range(20)]
    )
    layout = infer(lines).layout
    assert layout is not None
    parsed = Parser(reference=REFERENCE, layout=layout).parse(line)
    assert parsed.format == LAYOUT_FORMAT and parsed.ts is None and parsed.level == "info"
    assert why in parsed.fields["time_refused"]  # type: ignore[index]
    assert parsed.message == line.split("] ", 1)[1]


def test_one_time_per_line_when_a_line_states_its_time_twice() -> None:
    lines = [f"{1796032800 + s} 2026-11-30 10:00:{s:02d} INFO tick {s}" for s in range(30)]
    layout = infer(lines).layout
    assert layout is not None
    assert [c.name for c in layout.columns].count("time") == 1
    parsed = Parser(reference=REFERENCE, layout=layout).parse(lines[3])
    assert parsed.ts == datetime(2026, 11, 30, 10, 0, 3, tzinfo=UTC)


def test_a_file_whose_layout_changes_halfway_is_followed_and_earlier_lines_keep_their_reading() -> None:
    first = [f"2026-11-30 10:00:{s % 60:02d} [INFO] <0.{s}.0> first half {s}" for s in range(150)]
    second = [f"30 Nov 2026 11:{s % 60:02d}:00 | WARN | second half {s}" for s in range(150)]
    parser = Parser(reference=REFERENCE, layout=infer(first).layout, adapt=True)
    early = [parser.parse(line) for line in first]
    late = [parser.parse(line) for line in second]
    assert all(p.format == LAYOUT_FORMAT and p.fields == {"pid": f"0.{i}.0"} for i, p in enumerate(early))
    assert len(parser.layout_changes) == 1
    at, _ = parser.layout_changes[0]
    assert 150 < at < 150 + 64
    tail = late[at - 150 + 1 :]
    assert all(p.level == "warn" and p.message.startswith("second half") for p in tail)
    assert tail[-1].ts == datetime(2026, 11, 30, 11, 29, tzinfo=UTC)


def test_known_formats_keep_their_files() -> None:
    syslog = [f"Nov 30 10:00:{s:02d} web-1 sshd[{100 + s}]: Accepted key for u{s}" for s in range(50)]
    access = [f'10.0.0.{s} - - [30/Nov/2026:10:00:{s:02d} +0000] "GET /x{s} HTTP/1.1" 200 12' for s in range(50)]
    json = [f'{{"time": "2026-11-30T10:00:{s:02d}Z", "level": "info", "msg": "m{s}"}}' for s in range(50)]
    for lines in (syslog, access, json):
        assert choose(lines, reference=REFERENCE).layout is None, lines[0]


def test_a_layout_is_data_that_round_trips_and_bad_data_is_refused_by_name() -> None:
    layout = Layout(
        (
            Column("time", "ymd", "space", "[]"),
            Column("level", "bracket"),
            Column("component", "program", optional=True),
        ),
        "dm",
    )
    assert Layout.from_dict(layout.to_dict()) == layout
    line = "[2026-11-30 10:00:00] [error] db: down"
    parsed = LayoutReader(Layout.from_dict(layout.to_dict()), TimeParser()).read(line)
    assert parsed is not None and (parsed.level, parsed.fields, parsed.message) == (
        "error",
        {"component": "db"},
        "down",
    )
    for bad, says in [
        ({"columns": [{"name": "time", "shape": "yyyy"}]}, "time family"),
        ({"columns": [{"name": "x", "shape": "blob"}]}, "shape"),
        ({"columns": [{"name": "Bad Name", "shape": "word"}]}, "name"),
        ({"columns": []}, "at least one"),
        ({"columns": [{"name": "time", "shape": "ymd"}, {"name": "time", "shape": "epoch"}]}, "one time"),
        ([1, 2], "object"),
        ({"columns": [{"name": "x", "shape": "word", "optional": True}, {"name": "y", "shape": "word"}]}, "last"),
    ]:
        with pytest.raises(ValueError, match=says):
            Layout.from_dict(bad)


# -- this machine's own logs -------------------------------------------------------------------


def _machine_log(pattern: str) -> list[str]:
    for path in sorted(Path("/").glob(pattern.lstrip("/"))):
        if path.is_file() and os.access(path, os.R_OK) and path.stat().st_size > 0:
            return path.read_text(errors="replace").splitlines()[:2000]
    pytest.skip(f"no readable {pattern} on this machine")


def test_postgresql_log_gets_its_level_and_pid_out_of_the_message() -> None:
    lines = _machine_log("/var/log/postgresql/*.log")
    choice = choose(lines[:200])
    assert choice.layout is not None, choice.reason
    parser = Parser(layout=choice.layout)
    for line in lines:
        if line[:1].isdigit() and "] LOG:" in line:
            parsed = parser.parse(line)
            assert parsed.level == "info" and parsed.ts is not None, line
            assert "LOG:" not in parsed.message[:5] and isinstance(parsed.fields["pid"], int)  # type: ignore[index]


def test_rabbitmq_log_gets_the_erlang_pid_out_of_the_message() -> None:
    lines = _machine_log("/var/log/rabbitmq/*.log")
    choice = choose(lines[:200])
    assert choice.layout is not None, choice.reason
    parser = Parser(layout=choice.layout)
    headed = [line for line in lines if line[:4].isdigit()]
    parsed = [parser.parse(line) for line in headed]
    fine = sum(1 for p in parsed if p.ts is not None and p.level and not p.message.startswith("<0."))
    assert fine >= 0.95 * len(headed)


def test_apt_history_records_get_their_time() -> None:
    lines = _machine_log("/var/log/apt/history.log")
    choice = choose(lines[:200])
    assert choice.layout is not None, choice.reason
    parser = Parser(layout=choice.layout)
    starts = [line for line in lines if line.startswith(("Start-Date:", "End-Date:"))]
    assert starts and all(parser.parse(line).ts is not None for line in starts)


def test_the_quick_look_before_each_time_family_finds_the_same_times() -> None:
    """``_times`` looks for a family only where the head holds what that family needs: on
    every generated layout's lines, lines with times of each family, and lines with none,
    it finds exactly what trying every family finds."""
    rng = random.Random(5)
    lines = [t.line for lay in LAYOUTS for t in generate(lay, 40)]
    lines += [
        "Mon Nov 30 10:00:00 2026 x", "30/Nov/2026:10:00:00 +0000 x", "I1130 10:00:00.123456 12 x.go:1] m",
        "20261130T100000Z x", "261130 100000 x", "11-30 10:00:00.123 x", "30.11.26 10:00 x", "1764496800.5 x",
        "November 30th 2026, 10:00 x", "[2026/11/30-10:00:00:123] x", "no time at all", "", "1234567 12:00",
        "2026.11.30 10:00:00,123 +0100 x", "20261130 10:00:00 x", "20261130-10:00:00:123 x", "1764496800123456 x",
        "11/30/2026 10:00:00 PM x", "Nov 30, 2026 10:00:00 PM x", "Mon, 30 Nov 2026 10:00:00 x", "W1130 10:00:00 x",
    ]  # fmt: skip
    # Lines made of the pieces times are made of, in any order.
    pieces = ["2026", "26", "11", "30", "1", "10:00", "10:00:00", ":123", ".5", ",123", "-", "/", ".", " ", "  ",
              "T", "Z", "+0100", "PM", "Nov", "NOV", "Mon,", "[", "]", "I", "1764496800", "123", "x", "th", ",",
              "261130", "100000"]  # fmt: skip
    lines += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 14))) for _ in range(20_000)]
    for line in lines:
        assert _times(line) == _times(line, needs={}), line


def test_lines_of_a_time_then_the_message_keep_the_known_reading() -> None:
    """A layout of the time and the message alone reads such lines no better than the known
    formats' text reading, which takes an opening time off the message too: none is chosen
    (a CI step's log, dpkg's). A header column after the time still gets one."""
    step = [f"2026-11-30T10:00:{s:02d}.{s:07d}Z ##[group]Run step {s} of the build" for s in range(60)]
    dpkg = [f"2026-11-30 10:00:{s:02d} status half-configured pkg{s}:amd64 1.{s}" for s in range(60)]
    for lines in (step, dpkg):
        choice = choose(lines, reference=REFERENCE)
        assert choice.layout is None and "read the sample as well" in choice.reason, choice.reason
        parsed = [Parser(reference=REFERENCE).parse(line) for line in lines]
        assert all(p.ts is not None and p.ts.minute == 0 and not p.message.startswith("2026") for p in parsed)
    columns = [f"2026-11-30 10:00:{s:02d} [worker-{s % 3}] job {s} done" for s in range(60)]
    assert choose(columns, reference=REFERENCE).layout is not None


def test_parse_explain_prints_the_layout_and_the_lines_that_did_not_fit_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [t.line for t in generate(next(lay for lay in LAYOUTS if lay.name == "mariadb"), 300)]
    lines.insert(50, "mysqld: ready for connections without a time")
    lines.insert(250, "2026-11-30 10:00:00 not-a-pid [Note] InnoDB: odd")  # after the sample
    path = tmp_path / "mariadb.err"
    path.write_text("\n".join(lines) + "\n")
    assert logpipe(["parse", "--explain", str(path)]) == 0
    out = capsys.readouterr().out
    assert "layout: <time:ymd> <pid:int> <level:bracket> <component:program> <message>" in out
    assert "line 51: did not fit: the time (ymd) is not where the layout has it; read as text" in out
    assert "line 251: did not fit: column 2 (pid: int) is not where the layout has it" in out
    assert "300 of 302 events read by the layout; 2 did not fit" in out
    # Without --explain, the events come out as the pipeline stores them, read by the layout.
    assert logpipe(["parse", str(path)]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["format"] == "layout" and set(first["fields"]) == {"pid", "component"}


def test_a_header_like_prefix_inside_a_multi_line_body_stays_in_its_event() -> None:
    head = [f"2026-11-30 10:00:{s:02d} 12 [Note] InnoDB: page {s} flushed" for s in range(60)]
    layout = infer(head).layout
    assert layout is not None
    text = [
        "2026-11-30 10:01:00 12 [ERROR] mysqld: query failed",
        "Traceback (most recent call last):",
        '  File "dump.py", line 3, in <module>',
        "    2026-11-30 10:01:00 12 [Note] InnoDB: an indented copy of a header",
        "ValueError: 2026-11-30 10:01:00 12 [Note] in a message",
        "2026-11-30 10:01:01 12 [Note] InnoDB: next event",
    ]
    parser = Parser(reference=REFERENCE, layout=layout)
    joiner = Joiner(parser.parse)
    events = list(joiner.events((Line(t, False, 0) for t in text), first_line=1, start_offset=0))
    assert [(e.line, e.line_count, e.parsed.level) for e in events] == [(1, 5, "error"), (6, 1, "info")]
    # Without a layout, the time inside the traceback's last line would have opened an event.
    plain = list(
        Joiner(Parser(reference=REFERENCE).parse).events(
            (Line(t, False, 0) for t in text), first_line=1, start_offset=0
        )
    )
    assert len(plain) == 3


def test_columns_of_few_values_before_a_level_are_the_header_even_when_each_alone_proves_nothing() -> None:
    words = ("Started", "Stopped", "Loaded", "Saved", "Opened", "Closed", "Sent", "Read")
    lines = [
        f"{1796032800 + s} 2026.11.30 R{s % 3}-M{s % 2}-N{s % 7} {('RAS', 'APP')[s % 2]}"
        f" {('KERNEL', 'LINKCARD')[s % 3 % 2]} {('INFO', 'FATAL', 'WARNING')[s % 3]} {words[s % 8]} item {s}"
        for s in range(80)
    ]
    layout = infer(lines).layout
    assert layout is not None
    parsed = Parser(reference=REFERENCE, layout=layout).parse(lines[1])
    assert (parsed.level, parsed.message) == ("fatal", "Stopped item 1")


def test_a_header_has_one_level_and_a_level_like_word_after_it_is_the_messages() -> None:
    # Every message starts with the same words, the second of which reads as a level
    # (Android's ``A``): they are the message's, not a host and a second level.
    lines = [f"2026-11-27 03:13:14,{s % 1000:03d} INFO object A line {s:05d}" for s in range(300)]
    layout = infer(lines).layout
    assert layout is not None
    assert [c.name for c in layout.columns] == ["time", "level"]
    parsed = Parser(reference=REFERENCE, layout=layout).parse(lines[7])
    assert (parsed.level, parsed.message) == ("info", "object A line 00007")


def test_a_file_of_mixed_layouts_reads_each_line_by_what_fits_it() -> None:
    mariadb = generate(next(lay for lay in LAYOUTS if lay.name == "mariadb"), 100)
    syslog = [f"Nov 30 10:00:{s % 60:02d} web-1 sshd[{100 + s}]: Accepted key for u{s}" for s in range(100)]
    lines = [line for pair in zip((t.line for t in mariadb), syslog, strict=True) for line in pair]
    choice = choose(lines[:200], reference=REFERENCE)
    assert choice.layout is not None, choice.reason
    parser = Parser(reference=REFERENCE, layout=choice.layout, adapt=True)
    parsed = [parser.parse(line) for line in lines]
    assert [p.format for p in parsed[:4]] == ["layout", "syslog3164", "layout", "syslog3164"]
    assert all(p.message == t.message for p, t in zip(parsed[::2], mariadb, strict=True))
    assert all(p.message.startswith("Accepted key") and p.ts is not None for p in parsed[1::2])
    assert parser.layout_changes == []


@pytest.mark.parametrize(
    "pattern",
    [
        "/var/log/mysql/error.log",
        "/var/log/redis/*.log",
        "/var/log/nats-server.log",
        "/var/log/mosquitto/mosquitto.log",
        "/var/log/alternatives.log",
        "/var/log/postgresql/*.log",
        "/var/log/rabbitmq/*.log",
        "/var/log/dpkg.log",
    ],
)
def test_this_machines_server_logs_get_their_time_and_lose_their_header(pattern: str) -> None:
    lines = [line for line in _machine_log(pattern) if line.strip() and line[:1] not in " \t"]
    choice = choose(lines[:200])
    # No layout where the known formats take the time off as well (dpkg's time and message).
    assert choice.layout is not None or "read the sample as well" in choice.reason, choice.reason
    parser = Parser(layout=choice.layout, adapt=True)
    parsed = [parser.parse(line) for line in lines]
    read = LAYOUT_FORMAT if choice.layout is not None else TEXT_FORMAT
    timed = [p for p in parsed if p.format == read and p.ts is not None]
    assert len(timed) >= 0.95 * len(lines), choice.reason
    # The header is out of the message: no message starts with the line's own time or date.
    for p in timed:
        assert not p.message.startswith((p.ts.strftime("%Y"), p.ts.strftime("%d %b"))), p.message  # type: ignore[union-attr]


def test_bad_lines_in_a_layout_file_are_kept_and_never_raise() -> None:
    lines = [f"2026-11-30 10:00:{s:02d} [{100 + s}] <6> worker: job {s} done" for s in range(60)]
    layout = infer(lines).layout
    assert layout is not None
    parser = Parser(reference=REFERENCE, layout=layout, adapt=True)
    odd = [
        "2026-11-30 10:00:00 [²] <²> worker: superscripts where numbers belong",
        "2026-11-30 10:00:00 [" + "9" * 5000 + "] <6> worker: a pid of 5000 digits",
        "2026-02-30 10:00:00 [1] <6> worker: no such day",
        "2026-11-30 25:00:00 [1] <6> worker: no such hour",
        "\ufffd\ufffd 2026-11-30 10:00:00 [1] <6> worker: bad bytes first",
        "",
    ]
    for line in odd:
        parsed = parser.parse(line)
        assert parsed.message is not None
    assert parser.parse(odd[2]).fields["time_refused"]  # type: ignore[index]


@pytest.mark.parametrize("seed", range(40))
def test_inference_and_reading_never_raise_on_damaged_lines(seed: int) -> None:
    rnd = random.Random(seed)
    alphabet = "0123456789:-/.,[]<>()| \tTZAPMapmJanNovINFOwarn+²٣\ufffd"
    damage = ("2026-13-45 99:99:99", "31/31/2026 10:00:00", "9999999999999", "Feb 30 10:00:00", "<999>")
    lines = []
    for truth in generate(rnd.choice(LAYOUTS), 60, seed=seed):
        chars = list(truth.line)
        for _ in range(rnd.randint(0, 6)):
            at = rnd.randrange(len(chars) + 1)
            what = rnd.random()
            if what < 0.4 and chars:
                del chars[min(at, len(chars) - 1)]
            elif what < 0.8:
                chars.insert(at, rnd.choice(alphabet))
            else:
                chars[at:at] = list(rnd.choice(damage))
        lines.append("".join(chars))
    choice = choose(lines, reference=REFERENCE)
    parser = Parser(reference=REFERENCE, layout=choice.layout, adapt=choice.layout is not None)
    assert len([parser.parse(line) for line in lines]) == len(lines)


def test_a_source_whose_first_lines_all_miss_its_layout_adapts_early() -> None:
    stored = infer([f"2026-11-30 10:00:{s % 60:02d} [INFO] <0.{s}.0> first {s}" for s in range(60)]).layout
    later = [f"30 Nov 2026 11:{s % 60:02d}:00 | WARN | second half {s}" for s in range(100)]
    parser = Parser(reference=REFERENCE, layout=stored, adapt=True)
    parsed = [parser.parse(line) for line in later]
    assert [at for at, _ in parser.layout_changes] == [15]
    assert all(p.format == LAYOUT_FORMAT and p.message.startswith("second half") for p in parsed[15:])


def test_three_two_digit_numbers_are_read_in_the_order_that_puts_the_dates_nearest_the_reading() -> None:
    words = ("Started", "Stopped", "Loaded", "Saved", "Opened", "Closed", "Sent", "Read")
    year_first = [f"17/06/{9 + s // 20:02d} 20:10:{s % 60:02d} INFO x.Y: {words[s % 8]} {s}" for s in range(60)]
    inference = infer(year_first, reference=REFERENCE)
    assert inference.layout is not None and inference.layout.order == "ym", inference.reasons
    assert Parser(reference=REFERENCE, layout=inference.layout).parse(year_first[0]).ts == datetime(
        2017, 6, 9, 20, 10, tzinfo=UTC
    )
    day_first = [f"{28 + s // 30}/11/26 10:00:{s % 60:02d} WARN pool: {words[s % 8]} {s}" for s in range(60)]
    inference = infer(day_first, reference=REFERENCE)
    assert inference.layout is not None and inference.layout.order == "dm", inference.reasons
