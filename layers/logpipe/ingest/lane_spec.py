"""What the compiled lane is handed: the schema of its spec, and the C header made from it.

``LaneSpec`` carries every rule the lane shares with the Python path, as the Python path
defines it (``logpipe.ingest.lane.lane_spec`` fills one in); ``_lane.c`` reads it field by
field through ``_lane_spec.h``, which this module writes from the class below: the C
struct, the reading of each field and the version are generated, never written by hand.
The version is a hash of the schema, so an extension built from another schema refuses
the spec with a clear error instead of reading it wrong.

    python layers/logpipe/ingest/lane_spec.py           # write _lane_spec.h beside this file
    python layers/logpipe/ingest/lane_spec.py --check   # exit 1 when it is not current

setup.py and layers/Makefile run it before they compile the lane; a test fails when the
header in the repository is not what it writes. It imports nothing but the standard
library, so the build can run it before any dependency is installed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = Path(__file__).with_name("_lane_spec.h")

# What the C makes of a field of each kind (``read_<kind>`` in _lane.c checks and reads it).
# Bump ENCODING when the way a kind is laid out changes without the schema changing.
KINDS = {
    "text": "a str, read as its text",
    "str": "a str, kept as the object",
    "dict": "a dict",
    "callable": "a callable",
    "flag": "a bool",
    "count": "an int of at least 0",
    "words": "a tuple of str",
    "chars": "a str of ASCII characters",
    "guard": "a guard's program (logpipe.parsing.guards.Guard.program)",
    "guards": "a tuple of guards' programs",
    "bounds": "a tuple of (int, str) pairs",
    "candidates": "a tuple of 128 bytes, one per ASCII character",
    "stages": "a tuple of stages, each a tuple of stand-in rules",
    "layout": "a layout's program: a tuple of columns, each (op, field, name, opener, closer, optional, sep)",
}

# The ops of a layout's program (``logpipe.ingest.lane.layout_program``): what a column's
# text looks like, by the name ``parsing.layouts`` gives it (a time by its family). The C
# reads them by number, as ``LAYOUT_OP_<NAME>``; this order is their numbering.
# The time families come first: an op before "bracket" is a time.
LAYOUT_OPS = (
    "ymd", "numeric_year_last", "numeric_no_year", "day_month", "month_day",
    "ymd_compact", "yymmdd_compact", "letter_mmdd", "epoch",
    "bracket", "angle", "paren", "program", "int", "word", "punct", "clock", "cell",
)  # fmt: skip
# The separators after a column (``SEPARATORS``), ``LAYOUT_SEP_<NAME>`` in C.
LAYOUT_SEPS = ("space", "comma", "none", "maybe_space", "tab")
# What a column's text becomes (``LayoutReader.read``): nothing, the level, the component
# (and a pid in it), the pid, a field of the column's name. ``LAYOUT_FIELD_<NAME>`` in C.
LAYOUT_FIELDS = ("none", "level", "component", "pid", "other")
# The lane's mode for a source: no layout (the formats), a layout it runs, a layout it
# cannot run (it takes no line: the Python path reads them all). ``LAYOUT_MODE_<NAME>``.
LAYOUT_MODES = ("none", "runs", "declines")
ENCODING = 1


def _kind(kind: str) -> dict[str, str]:
    assert kind in KINDS, kind
    return {"kind": kind}


@dataclass(frozen=True)
class LaneSpec:
    """The rules of the Python path that the compiled lane runs, handed to it as data.

    Each field names where its value comes from; ``logpipe.ingest.lane.lane_spec`` builds
    one from those definitions, so the lane follows any change to them.
    """

    version: str = field(metadata=_kind("text"))  # VERSION, which the C compares with its own

    # The pattern miner (patterns.miner, patterns.masking).
    key_cache: dict[str, Any] = field(metadata=_kind("dict"))  # PatternMiner.key_cache
    add: Any = field(metadata=_kind("callable"))  # PatternMiner.add, for messages the cache does not know
    shape_key_stages: tuple[Any, ...] = field(metadata=_kind("stages"))  # masking.SHAPE_KEY_STAGES

    # Levels (parsing.formats).
    level_words: dict[str, str] = field(metadata=_kind("dict"))  # LEVEL_WORDS
    column_level_words: tuple[str, ...] = field(metadata=_kind("words"))  # COLUMN_LEVEL_WORDS
    text_level_words: tuple[str, ...] = field(metadata=_kind("words"))  # TEXT_LEVEL_WORDS
    numeric_levels: tuple[tuple[int, str], ...] = field(metadata=_kind("bounds"))  # NUMERIC_LEVELS
    numeric_level_above: str = field(metadata=_kind("str"))
    status_levels: tuple[tuple[int, str], ...] = field(metadata=_kind("bounds"))  # STATUS_LEVELS
    status_level_below: str = field(metadata=_kind("str"))
    error_levels: tuple[str, ...] = field(metadata=_kind("words"))  # ERROR_LEVELS

    # Formats (parsing.formats).
    formats: tuple[str, ...] = field(metadata=_kind("words"))  # FORMATS, in detection order
    guards: tuple[Any, ...] = field(metadata=_kind("guards"))  # GUARDS, one per format
    candidates: tuple[bytes, ...] = field(metadata=_kind("candidates"))  # Parser.candidates of each ASCII character
    text_format: str = field(metadata=_kind("text"))  # the format of a line no format claims
    text_head: int = field(metadata=_kind("count"))  # TEXT_HEAD
    text_time_marks: str = field(metadata=_kind("chars"))  # TEXT_TIME_MARKS
    time_keys: tuple[str, ...] = field(metadata=_kind("words"))  # TIME_KEYS
    level_keys: tuple[str, ...] = field(metadata=_kind("words"))  # LEVEL_KEYS
    message_keys: tuple[str, ...] = field(metadata=_kind("words"))  # MESSAGE_KEYS
    naive_utc: bool = field(metadata=_kind("flag"))  # the source's naive times are UTC

    # Multi-line events (parsing.multiline) and the limits of one.
    joins_unparsed: str = field(metadata=_kind("chars"))  # JOINS_UNPARSED
    indent: str = field(metadata=_kind("chars"))  # INDENT
    opens_mode: tuple[Any, ...] = field(metadata=_kind("guards"))  # OPENS_MODE
    joins_after_time: Any = field(metadata=_kind("guard"))  # JAVA_EXC_GUARD
    max_event_lines: int = field(metadata=_kind("count"))
    max_event_bytes: int = field(metadata=_kind("count"))

    # Lines and rows (config, db.events).
    max_line_bytes: int = field(metadata=_kind("count"))
    columns: tuple[str, ...] = field(metadata=_kind("words"))  # COLUMNS
    # A batch's count of each pattern (db.patterns).
    pattern_count_items: tuple[str, ...] = field(metadata=_kind("words"))  # COUNT_ITEMS
    sample_chars: int = field(metadata=_kind("count"))  # SAMPLE_CHARS

    # The source's layout (parsing.layouts), when the parser reads with one.
    layout_mode: int = field(metadata=_kind("count"))  # an index in LAYOUT_MODES
    layout_format: str = field(metadata=_kind("text"))  # layouts.LAYOUT_FORMAT
    layout: tuple[Any, ...] = field(metadata=_kind("layout"))  # lane.layout_program
    layout_time: Any = field(metadata=_kind("callable"))  # LayoutReader.minute_us: a time's text less seconds
    layout_level: Any = field(metadata=_kind("callable"))  # layouts.level_of
    layout_times: dict[str, Any] = field(metadata=_kind("dict"))  # what layout_time said, by the text it was given
    layout_levels: dict[str, Any] = field(metadata=_kind("dict"))  # what layout_level said, by the token


def schema() -> tuple[tuple[str, str], ...]:
    """The fields of ``LaneSpec`` in order, with their kinds."""
    return tuple((f.name, f.metadata["kind"]) for f in dataclasses.fields(LaneSpec))


VERSION = hashlib.sha256(
    repr((ENCODING, schema(), LAYOUT_OPS, LAYOUT_FIELDS, LAYOUT_MODES, LAYOUT_SEPS)).encode()
).hexdigest()[:16]


def header() -> str:
    """The text of ``_lane_spec.h``."""
    lines = [
        "/* Generated by layers/logpipe/ingest/lane_spec.py from LaneSpec: do not edit. */",
        "#ifndef LANE_SPEC_H",
        "#define LANE_SPEC_H",
        "",
        f'#define LANE_SPEC_VERSION "{VERSION}"',
        "",
        "/* X(name, kind) for each field of LaneSpec, in its order. */",
        "#define LANE_SPEC_FIELDS(X) \\",
    ]
    lines += [f"    X({name}, {kind}) \\" for name, kind in schema()]
    lines += [""]
    for prefix, names in (
        ("LAYOUT_OP", LAYOUT_OPS), ("LAYOUT_FIELD", LAYOUT_FIELDS), ("LAYOUT_MODE", LAYOUT_MODES),
        ("LAYOUT_SEP", LAYOUT_SEPS),
    ):  # fmt: skip
        lines += [f"#define {prefix}_{name.upper()} {n}" for n, name in enumerate(names)]
        lines += [f"#define N_{prefix}S {len(names)}", ""]
    lines += ["#endif", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = header()
    current = HEADER.read_text() if HEADER.exists() else None
    if "--check" in argv:
        if current != text:
            print(f"{HEADER.name} is not current: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if current != text:  # untouched when current, so that make sees nothing to rebuild
        HEADER.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
