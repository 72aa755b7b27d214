"""Log lines generated from the parser's own grammars, for the differential tests of the lane.

Every strategy here is built from a definition the Python path runs: the format patterns
(``Parser._APP``, ``_ACCESS``...), the guards, the level words, the keys of structured
formats, the multi-line rules' patterns and the shape keys' stand-ins. A rule that changes
changes what is generated, so a lane that does not follow it meets the difference.

The patterns' time and host parts are narrowed to valid values (a line whose time is
not a time takes the Python path at once, and teaches the comparison little), and every
level word the parser knows, in every case, is spliced into text.
"""

from __future__ import annotations

import os
import re
import string

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from logpipe.parsing import formats, multiline
from logpipe.parsing.formats import (
    COLUMN_LEVEL_WORDS,
    LEVEL_KEYS,
    LEVEL_WORDS,
    MESSAGE_KEYS,
    TEXT_LEVEL_WORDS,
    TIME_KEYS,
    Parser,
)
from logpipe.patterns.masking import SHAPE_KEY_STAGES

# ``make test`` runs each property on a fixed set of examples, the same every time;
# ``make fuzz`` sets LOGPIPE_FUZZ_SCALE to run many times as many, new ones each time.
FUZZ_SCALE = int(os.environ.get("LOGPIPE_FUZZ_SCALE", "1"))


def examples(n: int) -> settings:
    """Hypothesis settings for ``n`` examples (times the fuzz scale)."""
    return settings(
        max_examples=n * FUZZ_SCALE,
        deadline=None,
        derandomize=FUZZ_SCALE == 1,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Mostly what the lane takes; now and then what it must leave to the Python path.
PLAIN = string.ascii_letters + string.digits + string.punctuation.replace("\\", "") + " "
ODD = "\\\t\x1b\x00\u00e9\u00e4\u00a0\u2028\ufeff\r\x7f"
ALPHABET = st.one_of(*[st.sampled_from(PLAIN)] * 15, st.sampled_from(ODD))
PLAIN_ALPHABET = st.sampled_from(PLAIN)

VALID_ISO = (
    r"(?:19[7-9]\d|20[0-4]\d)-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])[T ](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(?:[.,]\d{1,9})?(?:Z|[+-](?:0\d|1[0-3]):?[0-5]\d| UTC)?"
)
VALID_CLF = (
    r"(?:0[1-9]|1\d|2[0-8])/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/(?:19[7-9]\d|20[0-4]\d)"
    r":(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d [+-](?:0\d|1[0-3])[0-5]\d"
)
HOST = r"(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){1,4}|\S+)"


def narrowed(pattern: str) -> str:
    """``pattern`` with its times and hosts narrowed to valid ones, where it has them."""
    pattern = pattern.replace(formats._ISO, VALID_ISO)
    pattern = pattern.replace(r"\[([^\]]+)\]", r"\[(" + VALID_CLF + r")\]")
    if pattern.startswith(r"(\S+) (\S+) (\S+) \["):  # the access log's host
        pattern = "(" + HOST + ")" + pattern[len(r"(\S+)") :]
    return pattern


def _patterns() -> list[re.Pattern[str]]:
    """Every pattern of the parser's formats (class attributes that are compiled regexes)."""
    found = [v for k, v in vars(Parser).items() if k.startswith("_") and isinstance(v, re.Pattern)]
    assert len(found) >= 15, [p.pattern for p in found]
    return found


FORMAT_PATTERNS = _patterns()


def from_pattern(pattern: re.Pattern[str], alphabet: st.SearchStrategy[str] = ALPHABET) -> st.SearchStrategy[str]:
    """Lines that ``pattern`` matches whole, with valid times and hosts."""
    return st.from_regex(re.compile(narrowed(pattern.pattern), pattern.flags), fullmatch=True, alphabet=alphabet)


def _cases(word: str) -> list[str]:
    return sorted({word, word.lower(), word.upper(), word.title()})


# Every level word the parser knows, in every case it may be written.
LEVEL_WORD_FORMS = sorted({form for w in (*LEVEL_WORDS, *COLUMN_LEVEL_WORDS, *TEXT_LEVEL_WORDS) for form in _cases(w)})

iso_times = st.from_regex(VALID_ISO, fullmatch=True)
words = st.one_of(
    st.sampled_from(LEVEL_WORD_FORMS),
    st.sampled_from(["request", "served", "user", "alice", "ready", "GET", "POST", "/api/orders/42", "->", "-"]),
    st.integers(0, 10**12).map(str),
    st.integers(0, 2**64).map(lambda n: f"{n:x}"),
    st.text(PLAIN_ALPHABET, min_size=1, max_size=8),
    st.text(ALPHABET, min_size=1, max_size=4),
)


@st.composite
def text_lines(draw: st.DrawFn) -> str:
    """Free text with level words, numbers, ids and paths, maybe after a time."""
    parts = draw(st.lists(words, min_size=1, max_size=12))
    line = " ".join(parts)
    if draw(st.booleans()):
        line = draw(iso_times) + draw(st.sampled_from([" ", " [main] ", "] ", " - "])) + line
    return line


def _json_value(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(children, max_size=3).map(lambda vs: "[" + ", ".join(vs) + "]"),
        st.lists(st.tuples(st.text(PLAIN_ALPHABET.filter(lambda c: c != '"'), max_size=6), children), max_size=3).map(
            lambda kvs: "{" + ",".join(f'"{k}":{v}' for k, v in kvs) + "}"
        ),
    )


def _json_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


json_scalars = st.one_of(
    st.text(ALPHABET, max_size=12).map(_json_string),
    st.sampled_from(LEVEL_WORD_FORMS).map(_json_string),
    iso_times.map(_json_string),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0.0001", "1.50", "1e5", "-0", "-0.0", "0.1", "12345678901234567890", "NaN", "1.0"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["true", "false", "null"]),
    st.sampled_from(['"\\u00e9"', '"a\\nb"', '"\\ud800"', '"\\u0000"']),
)
json_values = st.recursive(json_scalars, _json_value, max_leaves=6)
json_keys = st.one_of(
    st.sampled_from([*TIME_KEYS, *LEVEL_KEYS, *MESSAGE_KEYS, "log", "stream", "service", "n"]),
    st.text(PLAIN_ALPHABET.filter(lambda c: c != '"'), max_size=6),
)


@st.composite
def json_lines(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(json_keys, json_values), max_size=6))
    sep, colon = draw(st.sampled_from([",", ", ", " , "])), draw(st.sampled_from([":", ": "]))
    return "{" + sep.join(f'"{k}"{colon}{v}' for k, v in pairs) + "}" + draw(st.sampled_from(["", " ", "x"]))


logfmt_values = st.one_of(
    iso_times,
    st.sampled_from(LEVEL_WORD_FORMS),
    st.text(PLAIN_ALPHABET.filter(lambda c: c not in ' "'), max_size=10),
    st.text(ALPHABET, max_size=10).map(lambda t: '"' + t.replace('"', "") + '"'),
)


@st.composite
def logfmt_lines(draw: st.DrawFn) -> str:
    key = st.one_of(st.sampled_from([*TIME_KEYS, *LEVEL_KEYS, *MESSAGE_KEYS]), from_pattern(_LOGFMT_KEY))
    pairs = draw(st.lists(st.tuples(key, logfmt_values), min_size=1, max_size=6))
    return draw(st.sampled_from([" ", "  "])).join(f"{k}={v}" for k, v in pairs)


_LOGFMT_KEY = re.compile(formats._LOGFMT_KEY)


# The lines multi-line rules look at: their openings, patterns and the indented lines they join.
def _opening(pattern: str) -> st.SearchStrategy[str]:
    """Lines that start with what ``pattern`` matches."""
    return st.from_regex(f"(?:{pattern}).{{0,20}}", fullmatch=True, alphabet=ALPHABET)


multiline_lines = st.one_of(
    *(_opening(guard.pattern) for guard in multiline.OPENS_MODE),
    _opening(multiline._JAVA_MARK.pattern),
    st.from_regex(multiline._JAVA_EXC, fullmatch=True, alphabet=ALPHABET),
    st.from_regex(multiline._GO_CONT, fullmatch=True, alphabet=ALPHABET),
    st.from_regex(multiline._PY_FINAL, fullmatch=True, alphabet=ALPHABET),
    st.tuples(st.sampled_from(multiline.INDENT), st.integers(1, 8), text_lines()).map(lambda t: t[0] * t[1] + t[2]),
    st.sampled_from(["", " ", "    ", "\t"]),
)

# Messages dense in what the shape keys replace.
shape_key_texts = st.lists(
    st.one_of(
        *(st.from_regex(rule.pattern, alphabet=PLAIN_ALPHABET) for stage in SHAPE_KEY_STAGES for rule in stage),
        st.sampled_from([" ", "\n"]),
        st.text(st.sampled_from("0123456789abcdefABCDEFxyzXYZ/ ._-:=,;()[]{}|<>\"'?&#%\n"), max_size=12),
    ),
    max_size=8,
).map("".join)

plain_json_scalars = st.one_of(
    st.text(PLAIN_ALPHABET.filter(lambda c: c != '"'), max_size=12).map(_json_string),
    st.sampled_from(LEVEL_WORD_FORMS).map(_json_string),
    iso_times.map(_json_string),
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["true", "false", "null", "0.5", "12.25"]),
)


@st.composite
def plain_json_lines(draw: st.DrawFn) -> str:
    """JSON lines of the kind services write: flat, plain, the usual keys."""
    keys = draw(st.lists(json_keys, max_size=6, unique=True))
    return "{" + ",".join(f'"{k}":{draw(plain_json_scalars)}' for k in keys) + "}"


# Kinds of lines, each a strategy: the lane's layouts in plain text more often than the rest.
KINDS = (
    from_pattern(Parser._ACCESS, PLAIN_ALPHABET),
    from_pattern(Parser._APP, PLAIN_ALPHABET),
    plain_json_lines(),
    logfmt_lines(),
    text_lines(),
    json_lines(),
    st.one_of(*(from_pattern(p) for p in FORMAT_PATTERNS)),
    st.one_of(*(from_pattern(p, PLAIN_ALPHABET) for p in FORMAT_PATTERNS)),
    multiline_lines,
)
lines = st.one_of(*KINDS)


@st.composite
def documents(draw: st.DrawFn, max_lines: int = 40) -> bytes:
    """A file: stretches of lines of one kind (where the lane takes runs), the kinds mixed,
    maybe without a last newline."""
    out: list[str] = []
    while len(out) < max_lines and draw(st.integers(0, 9)) > 0:
        kind = draw(st.sampled_from(KINDS))
        out += draw(st.lists(kind, min_size=1, max_size=6))
    text = "\n".join(out) + draw(st.sampled_from(["\n", "\n", ""]))
    return text.encode("utf-8", "surrogatepass")


_odd_options = st.fixed_dictionaries(
    {},
    optional={
        "block": st.sampled_from([64, 333, 4096]),
        "batch_rows": st.integers(1, 7),
        "max_line_bytes": st.integers(8, 200),
        "tz": st.just("Europe/Paris"),
        "format": st.sampled_from(formats.FORMATS),
        "max_event_lines": st.integers(1, 4),
        "max_event_bytes": st.integers(10, 300),
    },
)


def _literal_alternatives(pattern: str) -> list[str]:
    """The alternatives of a guard's pattern that are plain text, as the text."""
    out = []
    for alternative in pattern.split("|"):
        bare = re.sub(r"\\.", "", alternative)
        if not re.search(r"\\[dDsSwWbB]", alternative) and not re.search(r"[.\[\]*+?{}()^$]", bare):
            out.append(re.sub(r"\\(.)", r"\1", alternative))
    return out


def probe_lines() -> list[str]:
    """A line for each word and key the parser lists, in each place it reads one: every
    level word form as a text line's level, an application line's level column, a JSON
    and a logfmt level; every time, level and message key; every literal opening of a
    multi-line rule. Each is a small definition a hand-kept copy could miss."""
    lines = []
    for word in LEVEL_WORD_FORMS:
        lines += [
            f"{word} disk almost full", f"disk {word} almost full", f"disk {word}",
            f"2026-11-27T10:00:00Z {word} [main] request served", f"2026-11-27 10:00:00,123 {word} com.acme.Api: done",
            f'{{"level":"{word}","msg":"x"}}', f"level={word} msg=x",
        ]  # fmt: skip
    for key in (*TIME_KEYS, *LEVEL_KEYS, *MESSAGE_KEYS):
        lines += [
            f'{{"{key}":"2026-11-27T10:00:00Z","n":1}}', f'{{"{key}":"warn","n":1}}', f'{{"{key}":"hello","n":1}}',
            f"{key}=2026-11-27T10:00:00Z n=1", f"{key}=warn n=1", f'{key}="hello there" n=1',
        ]  # fmt: skip
    for guard in (*multiline.OPENS_MODE, multiline._JAVA_MARK):
        lines += [text + "x" for text in _literal_alternatives(guard.pattern)]
    return lines


# The worker's defaults mostly, where the lane takes most; now and then small limits, a
# forced format, another zone.
options = st.one_of(st.just({}), st.just({}), _odd_options)
