"""The lane reading files by their layout, against the Python path: the same rows, byte
for byte, on every generated layout (inferred from its sample, as planning infers it) and
on lines spliced from a layout's own column patterns, damaged or not.

``make test`` runs a short, fixed sample; ``make fuzz`` a long, fresh one
(LOGPIPE_FUZZ_SCALE many times the examples).
"""

from __future__ import annotations

import os
import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from log_layouts import LAYOUTS, generate

from logpipe.db.events import COLUMNS
from logpipe.ingest import lane as lane_module
from logpipe.ingest.lane import layout_program
from logpipe.parsing.formats import Parser
from logpipe.parsing.inference import choose, infer
from logpipe.parsing.layouts import (
    SEPARATORS,
    SHAPES,
    TIME_END,
    TIME_FAMILIES,
    TIME_START,
    Column,
    Layout,
    LayoutReader,
)

from conftest import LOGHUB, needs_loghub
from lane_oracle import INGESTED, assert_same
from log_grammar import FUZZ_SCALE, PLAIN, PLAIN_ALPHABET, examples, lines

pytestmark = pytest.mark.skipif(not lane_module.available(), reason="the compiled lane is not built")

LINES = 300


def _inferred(layout: object, count: int = LINES) -> tuple[Layout | None, list[str]]:
    truth = generate(layout, count)  # type: ignore[arg-type]
    text = [t.line for t in truth]
    return choose(text[:200], reference=INGESTED).layout, text


def _damaged(text: list[str], seed: int) -> list[str]:
    """Lines with a character changed, dropped or doubled here and there, and a few of
    another kind between them: what makes a line not fit, or fit another way."""
    r = random.Random(seed)
    out = []
    for line in text:
        if line and r.random() < 0.3:
            at = r.randrange(len(line))
            what = r.choice(("change", "drop", "double"))
            c = r.choice(PLAIN + "\t\u00e9")
            line = (
                line[:at] + c + line[at + 1 :]
                if what == "change"
                else line[:at] + line[at + 1 :]
                if what == "drop"
                else line[:at] + line[at] + line[at:]
            )
        out.append(line)
        if r.random() < 0.05:
            out.append(r.choice(("    at indented continuation", "", "Traceback (most recent call last):")))
    return out


@pytest.mark.parametrize("layout", LAYOUTS, ids=[lay.name for lay in LAYOUTS])
def test_every_generated_layout_gives_the_same_rows_both_ways(layout: object) -> None:
    inferred, text = _inferred(layout)
    if inferred is None:
        pytest.skip("a known format reads it: no layout")
    assert_same(("\n".join(text) + "\n").encode(), layout=inferred)
    assert_same(("\n".join(_damaged(text, 1)) + "\n").encode(), layout=inferred, batch_rows=7)
    assert_same(("\n".join(text) + "\n").encode(), layout=inferred, tz="Europe/Paris")


def test_the_lane_reads_the_layouts_it_has_readers_for() -> None:
    # The comparison above is worth something only where the lane took the lines.
    taken = {}
    for layout in LAYOUTS:
        inferred, text = _inferred(layout, 100)
        if inferred is not None and layout_program(inferred) is not None:
            taken[layout.name] = assert_same(("\n".join(text) + "\n").encode(), layout=inferred).lane_rows
    assert len(taken) >= 5, taken
    assert all(rows >= 90 for rows in taken.values()), taken


def test_every_shape_family_and_separator_has_a_reader_in_the_lane() -> None:
    for family in TIME_FAMILIES:
        assert layout_program(Layout((Column("time", family),))) is not None, family
    for shape in SHAPES:
        assert layout_program(Layout((Column("x", shape),))) is not None, shape
    for sep in SEPARATORS:
        assert layout_program(Layout((Column("x", "word", sep), Column("y", "word")))) is not None, sep


def test_a_layout_the_lane_has_no_reader_for_is_read_by_the_python_path_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # As a shape added to parsing.layouts before the lane has a reader for it would be.
    monkeypatch.setattr(lane_module, "layout_program", lambda layout: None)
    layout = Layout((Column("level", "cell", "tab"), Column("time", "epoch", "tab")))
    data = b"".join(b"INFO\t%d\tline %d\n" % (1764496800 + k, k) for k in range(50))
    assert assert_same(data, layout=layout).lane_rows == 0


@pytest.mark.parametrize(
    "family, times",
    [
        ("epoch", [b"1764496800", b"1764496859.5", b"1764496899.999999999", b"1764496900.000001", b"1764496800123",
                   b"1764496899999.999999", b"1764496800123456", b"1764496800123456789", b"0000000001"]),
        ("ymd_compact", [b"20261130100000", b"20261130T100059", b"20261130 10:00:00,123", b"20261130-10:00:00:123",
                         b"20261130100000Z", b"20261130100000 +0100", b"20261130100000-01:30", b"19700101000000"]),
        ("yymmdd_compact", [b"261130 100000", b"261130-235959.999", b"261130 100000,5", b"261131 100000"]),
        ("letter_mmdd", [b"I1130 10:00:00.123456", b"W1130  23:59:59", b"E1130 10:00", b"F0229 10:00:00"]),
    ],
)  # fmt: skip
def test_the_lane_reads_every_time_family_as_the_python_path(family: str, times: list[bytes]) -> None:
    # Each time at the start of lines, then a level and a message: the same rows both ways,
    # and the lane takes the lines whose time the Python path does not refuse.
    layout = Layout((Column("time", family), Column("level", "word")))
    assert layout_program(layout) is not None
    data = b"".join(b"%s %s line %d\n" % (t, b"INFO", k) for k, t in enumerate(times * 5))
    assert assert_same(data, layout=layout).lane_rows > 0
    assert_same(data, layout=layout, tz="Europe/Paris")


# -- lines spliced from a layout's columns ---------------------------------------------------

_NAMES = ("", "level", "pid", "component", "host", "thread", "severity", "request_id")
_SHAPES = ("bracket", "angle", "paren", "program", "int", "word", "punct", "clock", "cell")


def _piece(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(re.compile(pattern, re.S), fullmatch=True, alphabet=st.sampled_from(PLAIN + "\t"))


# Times as logs write them, per family the lane reads.
_TIMES = {
    "ymd": ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d-%H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y.%m.%d %H:%M"],
    "numeric_year_last": ["%m/%d/%Y %H:%M:%S", "%d.%m.%y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%d-%m-%Y,%H:%M"],
    "numeric_no_year": ["%m-%d %H:%M:%S", "%d/%m  %H:%M:%S"],
    "day_month": ["%d %b %Y %H:%M:%S", "%a, %d %b %Y %H:%M:%S", "%d/%b/%Y:%H:%M:%S", "%d-%B-%y %H:%M"],
    "month_day": [
        "%b %d %H:%M:%S",
        "%b %e %H:%M:%S",
        "%a %b %d %H:%M:%S %Y",
        "%B %d, %Y %I:%M %p",
        "%b %dth %Y, %H:%M",
    ],
    "ymd_compact": ["%Y%m%d%H%M%S", "%Y%m%dT%H%M%S", "%Y%m%d %H:%M:%S", "%Y%m%d-%H:%M:%S"],
    "yymmdd_compact": ["%y%m%d %H%M%S", "%y%m%d-%H%M%S"],
    "letter_mmdd": ["I%m%d %H:%M:%S", "W%m%d  %H:%M:%S", "E%m%d %H:%M"],
    "epoch": ["epoch"],  # seconds, milliseconds, microseconds or nanoseconds: see _time_text
}


def _time_text(t: datetime, form: str) -> str:
    """``t`` as ``form`` writes it; an epoch in one of its units, by the time's microseconds."""
    if form != "epoch":
        return t.strftime(form)
    seconds = int(t.replace(tzinfo=UTC).timestamp())
    return (f"{seconds}", f"{seconds}{t.microsecond // 1000:03d}", f"{seconds}{t.microsecond:06d}",
            f"{seconds}{t.microsecond:06d}000")[t.microsecond % 4]  # fmt: skip


# Column texts as logs write them (and as a shape's pattern makes them, now and then).
_TYPICAL = {
    "bracket": ["[main]", "[INFO]", "[Warning]", "[2212]", "[a[b]c]", "[WARN]:", "[]", "[0012]", "[<6>]", "[a\tb]"],
    "angle": ["<0.223.0>", "<6>", "<3>:", "<>", "<11>"],
    "paren": ["(12)", "(main):", "()", "(error)"],
    "program": ["sshd[123]:", "kernel:", "org.x.Y:", "main.go:12:", "cron[0042]]", "a:b:", "db]"],
    "int": ["12", "4711:", "007", "0", "1234567890123456789012"],
    "word": ["INFO", "host-1", "warn", "x:", "db01.example", "E", "Note", "notice", "LOG:", "(x", "a,b"],
    "punct": ["|", "-", "---", "=>", ":", "----", "*"],
    "clock": ["10:00:00", "1:02"],
    "cell": ["Information", "Service Control Manager", "", "(1)", "a b  ", "[x\ty]"],
}


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    """A layout of a time (maybe) and up to five columns, mostly of what the lane reads."""
    columns = []
    for _ in range(draw(st.integers(0, 5))):
        shape = draw(st.sampled_from(_SHAPES))
        # A cell takes all up to a tab: inference makes cells only where tabs separate them.
        sep = "tab" if shape == "cell" else draw(st.sampled_from(["space"] * 6 + ["none", "tab"]))
        columns.append(Column(draw(st.sampled_from(_NAMES)), shape, sep))
    if draw(st.booleans()) or not columns:
        wrap = draw(st.sampled_from(["", "", "[]", " ,", "()"]))
        family = draw(st.sampled_from(list(_TIMES)))
        columns.insert(draw(st.integers(0, len(columns))), Column("time", family, "space", wrap))
    last = columns[-1]
    if last.name != "time" and draw(st.booleans()):
        columns[-1] = Column(last.name, last.shape, last.sep, last.wrap, optional=True)
    return Layout(tuple(columns), draw(st.sampled_from(["md", "dm"])))


@st.composite
def spliced_lines(draw: st.DrawFn, layout: Layout) -> str:
    """A line made of text each column's own pattern matches, or now and then of another."""
    out = []
    for i, c in enumerate(layout.columns):
        if c.name == "time":
            forms = st.sampled_from(_TIMES.get(c.shape, ["%s"]))
            suffixes = st.sampled_from(["", ".123", ",5", "Z", "+01:00", " PM", ":60", " 2026", "x"])
            text = draw(
                st.one_of(
                    st.tuples(st.datetimes(datetime(1990, 1, 1), datetime(2030, 1, 1)), forms, suffixes),
                    st.tuples(st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1)), forms, suffixes),
                    st.tuples(st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 1)), forms, st.just("")),
                ).map(lambda t: _time_text(t[0], t[1]) + t[2])
                | _piece(TIME_START + "(?:" + TIME_FAMILIES[c.shape] + ")" + TIME_END)
            )
            text = c.wrap[:1].strip() + text + c.wrap[1:].strip()
        elif c.optional and draw(st.booleans()):
            text = ""
        else:
            typical = st.sampled_from(_TYPICAL[c.shape] + ["INFO", "[WARN]", "<6>", "x:", "12"])
            text = draw(st.one_of(typical, typical, typical, _piece(SHAPES[c.shape])))
        out.append(text)
        if i < len(layout.columns) - 1:
            usual = st.just("\t" if c.sep == "tab" else " ")
            out.append(draw(st.one_of(_piece(SEPARATORS[c.sep]), usual, usual)))
    out.append(draw(st.sampled_from([" ", " ", "", ": ", "  ", " \t"])))
    out.append(draw(st.text(PLAIN_ALPHABET, max_size=30)))
    return "".join(out)


@st.composite
def layout_documents(draw: st.DrawFn) -> tuple[Layout, bytes]:
    layout = draw(layouts())
    text = draw(st.lists(st.one_of(*[spliced_lines(layout)] * 8, lines), min_size=4, max_size=30))
    return layout, ("\n".join(text) + draw(st.sampled_from(["\n", ""]))).encode("utf-8", "surrogatepass")


_options = st.fixed_dictionaries(
    {},
    optional={
        "batch_rows": st.integers(1, 7),
        "max_line_bytes": st.integers(8, 200),
        "tz": st.just("Europe/Paris"),
        "max_event_lines": st.integers(1, 4),
    },
)


def test_lines_spliced_from_a_layouts_columns_give_the_same_rows_both_ways() -> None:
    taken = {"lines": 0}

    @examples(200)
    @given(layout_documents(), _options)
    def same(doc: tuple[Layout, bytes], chosen: dict[str, object]) -> None:
        layout, data = doc
        taken["lines"] += assert_same(data, layout=layout, **chosen).lane_rows  # type: ignore[arg-type]

    same()
    assert taken["lines"] > 100 * FUZZ_SCALE, taken


def test_a_refused_time_is_said_of_each_lines_own_text() -> None:
    layout = Layout((Column("time", "ymd"), Column("level", "word")))
    parser = Parser(reference=datetime(2026, 11, 30, tzinfo=UTC), layout=layout)
    first = parser.parse("1970-01-01 00:00:01 INFO first")
    second = parser.parse("1970-01-01 00:00:02 INFO second")
    assert first.ts is None and second.ts is None
    assert first.fields is not None and "'1970-01-01 00:00:01'" in first.fields["time_refused"]
    assert second.fields is not None and "'1970-01-01 00:00:02'" in second.fields["time_refused"]


def test_a_file_whose_layout_changes_halfway_gives_the_same_rows_both_ways() -> None:
    # The parser infers the new layout from the lines that stop fitting; the lane follows
    # it (or leaves every line to the Python path, for a layout it has no reader for).
    by_name = {lay.name: lay for lay in LAYOUTS}
    for first, then in (("mariadb", "log4j_date"), ("journald_short_iso", "epoch_seconds"), ("klog", "mongodb")):
        layout, before = _inferred(by_name[first])
        _, after = _inferred(by_name[then])
        assert layout is not None
        outcome = assert_same(("\n".join(before + after) + "\n").encode(), layout=layout)
        assert outcome.lane_rows > 200, (first, then)  # the lane read one of the two


# -- real logs: the Loghub samples and this machine's own --------------------------------------

_MACHINE_LOGS = ("var/log/mysql/error.log", "var/log/postgresql/*.log", "var/log/rabbitmq/*.log", "var/log/dpkg.log",
                 "var/log/alternatives.log", "var/log/redis/*.log", "var/log/apt/history.log")  # fmt: skip


def _real_logs() -> list[tuple[str, bytes]]:
    found = []
    for pattern in _MACHINE_LOGS:
        for path in sorted(Path("/").glob(pattern))[:1]:
            if path.is_file() and os.access(path, os.R_OK) and path.stat().st_size > 0:
                found.append((str(path), b"\n".join(path.read_bytes().splitlines()[:3000]) + b"\n"))
    return found


@needs_loghub
def test_the_loghub_samples_read_with_their_inferred_layouts_give_the_same_rows_both_ways() -> None:
    # Each read with the layout inferred from it with no format at all (as if forced), with
    # its CRLF ends and with LF ends (a line that ends in CR is the Python path's).
    taken = {}
    for path in sorted(LOGHUB.glob("*/*_2k.log")):
        data = path.read_bytes()
        layout = infer(data.decode("utf-8", "replace").splitlines()[:200], reference=INGESTED).layout
        if layout is not None:
            assert_same(data, layout=layout)
            taken[path.name] = assert_same(data.replace(b"\r\n", b"\n"), layout=layout).lane_rows
    assert sum(1 for rows in taken.values() if rows > 1000) >= 5, taken


def test_this_machines_logs_read_with_their_inferred_layouts_give_the_same_rows_both_ways() -> None:
    logs = _real_logs()
    if not logs:
        pytest.skip("none of this machine's server logs is readable here")
    for name, data in logs:
        layout = choose(data.decode("utf-8", "replace").splitlines()[:200], reference=INGESTED).layout
        if layout is not None:
            assert_same(data, layout=layout), name


def test_a_layout_time_that_raises_in_python_leaves_the_line_to_the_python_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Asking the Python path a line's time must never fail the run: the line is then its.
    def broken(self: object, text: str) -> int:
        raise RuntimeError("broken")

    monkeypatch.setattr(LayoutReader, "minute_us", broken)
    layout = Layout((Column("time", "ymd"), Column("level", "word")))
    data = b"".join(b"2026-11-27 10:%02d:00 INFO line %d\n" % (k, k) for k in range(20))
    assert assert_same(data, layout=layout).lane_rows == 0


@pytest.mark.parametrize("name", ["logback_clock_only", "dmesg_raw"])
def test_a_file_with_no_time_at_all_keeps_the_ingest_time_flagged_as_inferred_both_ways(name: str) -> None:
    # A time of day or seconds since boot are no dates: each row takes the ingest time
    # and says it is inferred (``ts_inferred``), on the lane as on the Python path.
    layout, text = _inferred(next(lay for lay in LAYOUTS if lay.name == name))
    assert layout is not None and all(c.name != "time" for c in layout.columns), layout
    outcome = assert_same(("\n".join(text) + "\n").encode(), layout=layout)
    assert outcome.lane_rows > 0
    rows = [row.split(b"\t") for b in outcome.batches for row in b[0].split(b"\n") if row]
    ts, inferred = COLUMNS.index("ts"), COLUMNS.index("ts_inferred")
    assert len(rows) == len(text)
    assert all(row[inferred] == b"t" and row[ts] == INGESTED.isoformat().encode() for row in rows), rows[0]
