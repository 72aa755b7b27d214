"""One definition per rule: the lane reads the Python path's rules, and the rules hold.

The lane is handed every rule it shares with the Python path (``lane_spec``); these tests
check the handing over (the generated header is current, a spec of another version or a
malformed one is refused by name), that the lane's interpreters of the guards and the
shape keys say what Python's ``re`` says of the same definitions, and that each guard is
implied by the patterns it stands before, on lines generated from those patterns.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logpipe.config import Settings
from logpipe.db.events import COLUMNS, CopyBuffer
from logpipe.ingest import _lane  # type: ignore[attr-defined]
from logpipe.ingest import lane as lane_module
from logpipe.ingest import lane_spec as schema
from logpipe.ingest.lane import CompiledLane, StaleLaneError, lane_spec
from logpipe.parsing import formats, multiline
from logpipe.parsing.formats import FORMATS, GUARDS, Parser
from logpipe.parsing.guards import Guard
from logpipe.patterns import PatternMiner
from logpipe.patterns.masking import SHAPE_KEY_STAGES, shape_keys

from lane_oracle import FILE_ID, INGESTED
from log_grammar import ALPHABET, PLAIN_ALPHABET, examples, from_pattern, shape_key_texts

QUICK = examples(100)


def spec(**changes: object) -> schema.LaneSpec:
    return dataclasses.replace(lane_spec(Parser(), PatternMiner(), Settings.from_env({})), **changes)  # type: ignore[arg-type]


# -- the handing over ---------------------------------------------------------------------------


def test_the_generated_header_is_current() -> None:
    assert schema.HEADER.read_text() == schema.header(), (
        "layers/logpipe/ingest/_lane_spec.h is stale: run python layers/logpipe/ingest/lane_spec.py"
    )
    assert _lane.SPEC_VERSION == schema.VERSION, "the built lane is stale: run make setup"


def test_the_header_follows_the_schema() -> None:
    # A field added to LaneSpec changes the header and the version: an extension built
    # before refuses the spec instead of reading it wrong.
    @dataclasses.dataclass(frozen=True)
    class Grown(schema.LaneSpec):
        layouts: tuple[object, ...] = dataclasses.field(default=(), metadata={"kind": "guards"})

    fields = tuple((f.name, f.metadata["kind"]) for f in dataclasses.fields(Grown))
    assert fields[-1] == ("layouts", "guards") and fields[:-1] == schema.schema()


def test_a_spec_of_another_version_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"lane spec version .* another lane_spec\.py"):
        _lane.compile(spec(version="0" * 16))


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("text_level_words", ["INFO"], "a tuple of str"),
        ("formats", ("json", 7), "a tuple of str"),
        ("guards", (("", ()),), "each with its guard"),
        ("joins_after_time", ("", (((b"\x00" * 15, 1, 1, True),),)), "guard's program"),
        ("indent", " \u3000", "ASCII"),
        ("naive_utc", 1, "a bool"),
        ("max_line_bytes", -1, "at least 0"),
        ("columns", (*COLUMNS, "source_host"), "does not write column source_host"),
        ("candidates", (b"",) * 127, "128 bytes"),
        ("add", None, "a callable"),
        ("numeric_levels", ((10, 2),), r"\(int, str\) pairs"),
    ],
)
def test_a_malformed_spec_is_refused_naming_the_field(field: str, value: object, expected: str) -> None:
    with pytest.raises((TypeError, ValueError), match=expected) as error:
        _lane.compile(spec(**{field: value}))
    assert field in str(error.value) or "column" in expected or "guard" in expected


def test_a_lane_built_from_another_schema_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lane_module._lane, "SPEC_VERSION", "0123456789abcdef")
    with pytest.raises(StaleLaneError, match="rebuild it"):
        CompiledLane.create(True, Parser(), PatternMiner(), Settings.from_env({}))


def test_the_rows_columns_are_in_the_order_columns_names_them() -> None:
    buf = CopyBuffer(FILE_ID, INGESTED)
    buf.add(7, None, "warn", "app", "the message", {"k": 1}, "the raw line", True, 3, "0123456789abcdef")
    row = dict(zip(COLUMNS, buf.payload().decode().rstrip("\n").split("\t"), strict=True))
    assert row == {
        "file_id": FILE_ID, "line": "7", "ts": INGESTED.isoformat(), "ts_inferred": "t",
        "ingested_at": INGESTED.isoformat(), "level": "warn", "format": "app", "message": "the message",
        "fields": '{"k":1}', "raw": "the raw line", "truncated": "t", "line_count": "3",
        "pattern_id": "0123456789abcdef",
    }  # fmt: skip


# -- the guards -----------------------------------------------------------------------------------


def test_the_guard_syntax_is_checked() -> None:
    for bad in ("a*a", "(a)", "a?b?", "x{3,1}", "a+|b$", "[a-z", "\\"):
        try:
            guard = Guard(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted: {guard}")
    assert Guard(r"\s*[A-Za-z_@][\w.\-/@]*=").may_start(" ")
    assert not Guard(r"\d.{3}/").may_start("x") and Guard(r"\d.{3}/").may_start("\u0663")  # Arabic-Indic 3


GUARD_PROGRAMS = [
    *((f"format {name}", GUARDS[name]) for name in FORMATS),
    *((f"opens mode {g.pattern}", g) for g in multiline.OPENS_MODE),
    ("joins after time", multiline.JAVA_EXC_GUARD),
]


@pytest.mark.parametrize(("name", "guard"), GUARD_PROGRAMS, ids=[n for n, _ in GUARD_PROGRAMS])
def test_the_lane_runs_each_guard_as_re_does(name: str, guard: Guard) -> None:
    program = guard.program
    admitted = st.from_regex("(?:" + guard.pattern + ").{0,12}", fullmatch=True, alphabet=ALPHABET)
    if guard.contains:
        admitted = st.tuples(admitted, st.text(ALPHABET, max_size=5)).map(lambda t: t[0] + guard.contains + t[1])
    near = st.text(st.sampled_from(sorted({c for a in guard.pattern for c in a if c.isprintable()} | set("09 aZ"))))

    @QUICK
    @given(st.one_of(admitted, near, st.text(ALPHABET, max_size=30)))
    def agree(line: str) -> None:
        expected = bool(guard.admits(line))
        said = _lane.admits(program, line.encode())
        if said is None:  # it cannot tell: only where the line holds what it reads otherwise
            assert not line.isascii() or "\x00" in line, line
        else:
            assert said == expected, line

    agree()


FORMAT_READERS = {
    "json": [], "cri": [Parser._CRI], "github_actions": [Parser._GHA], "syslog5424": [Parser._S5424],
    "syslog3164": [Parser._S3164], "apache_access": [Parser._ACCESS], "apache_error": [Parser._AERR],
    "nginx_error": [Parser._NERR], "app": [Parser._APP, Parser._PY], "android": [Parser._ANDROID],
    "hdfs": [Parser._HDFS], "spark": [Parser._SPARK], "rails": [Parser._RAILS], "python": [Parser._PYBASIC],
    "go": [Parser._GO], "logfmt": [],
}  # fmt: skip


@pytest.mark.parametrize("name", [n for n in FORMATS if FORMAT_READERS[n]])
def test_each_guard_admits_every_line_its_format_reads(name: str) -> None:
    # A guard that refused a line its format's method reads would lose that line's
    # format silently, on both paths: the method is called here without its guard.
    parser = Parser(format=name)
    read = parser._formats[0][2]
    guard = GUARDS[name]

    @QUICK
    @given(st.one_of(*(from_pattern(p, a) for p in FORMAT_READERS[name] for a in (ALPHABET, PLAIN_ALPHABET))))
    def admitted(line: str) -> None:
        try:
            parsed = read(line)
        except ValueError:
            return
        if parsed is not None:
            assert guard.admits(line), line

    admitted()


def test_the_java_guard_admits_every_java_exception_line() -> None:
    @QUICK
    @given(st.from_regex(multiline._JAVA_EXC, fullmatch=True, alphabet=ALPHABET))
    def admitted(line: str) -> None:
        assert multiline.JAVA_EXC_GUARD.admits(line), line
        assert line[:1] in multiline._JAVA_FIRST

    admitted()


def test_a_time_in_a_text_line_holds_a_time_mark() -> None:
    @QUICK
    @given(st.one_of(*(from_pattern(p, ALPHABET) for p in (Parser._ANY_TS, Parser._ANY_CLF))))
    def marked(text: str) -> None:
        assert any(mark in text for mark in formats.TEXT_TIME_MARKS), text

    marked()


@pytest.mark.parametrize("guard", [multiline._PY_HEAD, multiline._JAVA_MARK, multiline._GO_HEAD])
def test_first_characters_of_the_multiline_openings(guard: Guard) -> None:
    @QUICK
    @given(st.from_regex("(?:" + guard.pattern + ")", fullmatch=True, alphabet=ALPHABET))
    def starts(line: str) -> None:
        assert line[:1] in guard.first_chars()
        assert line[:1] in multiline.JOINS_UNPARSED | multiline._GO_FIRST

    starts()


# -- the shape keys -----------------------------------------------------------------------------

SPEC = _lane.compile(lane_spec(Parser(), PatternMiner(), Settings.from_env({})))


def test_the_lane_keys_messages_as_the_miner_does_on_generated_text() -> None:
    @examples(300)
    @given(shape_key_texts)
    def same(message: str) -> None:
        assert _lane.shape_keys(message, SPEC) == shape_keys(message), message

    same()


def test_stand_in_rules_the_lane_cannot_run_exactly_are_refused() -> None:
    # A whole-token rule whose characters are not all glue could match a shorter run
    # where the longest fails, which the lane's matcher does not try.
    from logpipe.patterns.masking import StandIn

    loose = StandIn("[0-9a-z]", "[0-9]", "<x>", whole=True)
    stages = ((lane_module._standin(loose),),)
    with pytest.raises(TypeError, match="shape_key_stages"):
        _lane.compile(spec(shape_key_stages=stages))
    assert re.compile(loose.pattern).sub("<x>", "ab12c") != "ab12c"  # re does find one there
    assert len(SHAPE_KEY_STAGES) == 2  # the miner looks a message up after the first stage, then after all
