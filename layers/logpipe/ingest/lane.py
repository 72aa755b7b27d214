"""The compiled lane: runs of plain lines of the common formats turned into COPY rows in C.

Most of the Python path's time on a line goes to work around the regex or the JSON
decoder, several microseconds of calls and objects. The lane (``_lane.c``) does that work
for a whole run of lines in one call: it parses each line, finds its pattern through the
miner's key cache, and writes the row exactly as the Python path would. The tests compare
the two byte for byte: rows, counts, patterns, aliases and templates, on lines generated
from the Python path's own patterns.

The rules the two paths share are defined once, on the Python side, and handed to the lane
as data (``lane_spec`` below fills in a ``LaneSpec``): which formats the parser tries on a
line and the guard each opens with (``parsing.guards``), the level words, the lines that
multi-line rules look at or open a mode with, the shape keys' stand-ins, the items of a
row and of a batch's count of a pattern. Change one of them and the lane follows. What the
lane has of its own is a reader for four layouts, each in a strict form; any other line
takes the Python path:

- access logs: an IP address first, a CLF time with its offset;
- JSON lines: an object whose strings have no escapes, whose numbers orjson writes back as
  written (integers within 64 bits, decimals of at most 15 digits without an exponent),
  with no key twice and no ``log`` key (Docker's lines);
- logfmt: at least two ``key=value`` pairs, plain or quoted values, no key twice;
- application layouts (``app``): an ISO time, a level word, maybe a ``[thread]`` and a
  logger, as ``Parser._APP`` reads them (not the Python logging layout);

and text that no format claims, with no time to look for in its head.

In a file read with a layout (``parsing.layouts``), a line is the layout's when it fits
it, and the lane reads it by the layout's program (``layout_program``): each column's
shape and the time's family as the layout's regex reads them (every family of
``TIME_FAMILIES``: calendar, compact, glog's letter and month-day, epochs), and the
separators: spaces, commas, tabs or none. Times and level words come from the Python
path's own code (``LayoutReader.minute_us``, ``level_of``), asked once per minute (an
epoch's: per block of 100 seconds, its first and last time) and per word. In a layout of
tab-separated cells a line may hold tabs before its message, and none in it or in a
field. A line the C is not sure of (one the regex would read another way, or that does
not fit, or whose time is refused) is the Python path's; a layout with a shape the lane
has no op for (``layout_program`` says None) is read by the Python path alone. When the
parser infers a new layout halfway through a file, the lane takes the new one's program.

Indented lines after a line join its event, as the multi-line rules join them, within
the limits of one event.

A time in a JSON or logfmt field is RFC 3339 (without a zone only where the source's zone
is UTC). A line takes the lane only when it is plain (printable ASCII, no backslash,
within the line limit), when every format the parser would try before its own surely
gives up on it (the parser tries the format of the line before first, then the others in
its order; the lane keeps that state and hands it back), and when the line after its
event surely starts an event of its own. A run's first line is one that starts an event
whatever comes before it (``multiline.can_continue`` says no), as a chunk's first line
is: the event before it is the Python path's, which may be in a mode that takes more.

Where the extension was not built (no compiler) or ``LOGPIPE_COMPILED_LANE=off``, there
is no lane and the Python path does everything, only slower. An extension built from
another ``lane_spec.py`` than this code's refuses the spec: ``CompiledLane.create`` raises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from types import ModuleType
from typing import Any

from ..config import Settings
from ..db.events import COLUMNS, CopyBuffer, CopyRows
from ..db.patterns import COUNT_ITEMS, SAMPLE_CHARS
from ..parsing import Run, formats
from ..parsing.formats import FORMATS, GUARDS, Parser
from ..parsing.guards import ascii_class
from ..parsing.layouts import LAYOUT_FORMAT, Layout, level_of
from ..parsing.multiline import INDENT, JAVA_EXC_GUARD, JOINS_UNPARSED, OPENS_MODE, can_continue
from ..patterns import PatternMiner
from ..patterns.masking import SHAPE_KEY_STAGES, StandIn
from .lane_spec import LAYOUT_FIELDS, LAYOUT_MODES, LAYOUT_OPS, LAYOUT_SEPS, VERSION, LaneSpec

_lane: ModuleType | None
try:
    from . import _lane  # type: ignore[attr-defined,no-redef]
except ImportError:  # not built here: the Python path does the work
    _lane = None

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class StaleLaneError(RuntimeError):
    """The compiled lane was built from another lane spec than this code's."""


def available() -> bool:
    """Whether the compiled lane is built and loads."""
    return _lane is not None


def _standin(rule: StandIn) -> tuple[str, bytes, bytes, bool, tuple[bytes, ...], str]:
    return (
        rule.opener, ascii_class(rule.chars), ascii_class(rule.glue), rule.whole,
        tuple(ascii_class(need) for need in rule.needs), rule.standin,
    )  # fmt: skip


@cache
def _programs() -> tuple[Any, ...]:
    """The rules that are the same for every source, as the lane reads them: made once."""
    return (
        tuple(tuple(_standin(rule) for rule in stage) for stage in SHAPE_KEY_STAGES),
        tuple(GUARDS[name].program for name in FORMATS),
        tuple(guard.program for guard in OPENS_MODE),
        JAVA_EXC_GUARD.program,
    )


# The time families and column shapes the lane reads (``LAYOUT_OPS``), the separators it
# reads between columns (``LAYOUT_SEPS``): a layout of any other is the Python path's alone.
_LANE_TIMES = frozenset(LAYOUT_OPS[: LAYOUT_OPS.index("bracket")])
_LANE_SHAPES = frozenset(LAYOUT_OPS[LAYOUT_OPS.index("bracket") :])


def layout_program(layout: Layout) -> tuple[tuple[int, int, str, str, str, bool, int], ...] | None:
    """``layout`` as the lane runs it: per column (op, field, name, opener, closer,
    optional, sep), the numbers being indexes in ``LAYOUT_OPS``, ``LAYOUT_FIELDS`` and
    ``LAYOUT_SEPS``; None for a layout the lane does not run (a time family, shape or
    separator it has no reader for)."""
    program = []
    for c in layout.columns:
        if c.sep not in LAYOUT_SEPS:
            return None
        sep = LAYOUT_SEPS.index(c.sep)
        if c.name == "time":
            if c.shape not in _LANE_TIMES:
                return None
            opener, closer = c.wrap[:1].strip(), c.wrap[1:].strip()
            program.append((LAYOUT_OPS.index(c.shape), LAYOUT_FIELDS.index("none"), "", opener, closer, False, sep))
            continue
        if c.shape not in _LANE_SHAPES:
            return None
        if not c.name:
            kind = "none"
        elif c.name == "level":
            kind = "level"
        elif c.name == "component" and c.shape == "program":
            kind = "component"
        elif c.name == "pid":
            kind = "pid"
        else:
            kind = "other"
        program.append((LAYOUT_OPS.index(c.shape), LAYOUT_FIELDS.index(kind), c.name, "", "", c.optional, sep))
    return tuple(program)


def _no_layout(text: str) -> None:
    return None


# The spec's fields that are ``parsing.formats``'s rules of the same name (in capitals), and
# the settings' limits of the same name: handed over as they are.
_FORMAT_RULES = (
    "level_words", "column_level_words", "text_level_words", "numeric_levels", "numeric_level_above",
    "status_levels", "status_level_below", "error_levels", "formats", "text_format", "text_head",
    "text_time_marks", "time_keys", "level_keys", "message_keys",
)  # fmt: skip
_LIMITS = ("max_event_lines", "max_event_bytes", "max_line_bytes")


_candidate_tables: dict[tuple[str, ...], tuple[bytes, ...]] = {}


def _candidates(parser: Parser) -> tuple[bytes, ...]:
    """Per ASCII character, the formats the parser tries on a line starting with it: the
    same for every parser that reads the same formats, so made once for them (a small
    file's chunk would otherwise spend longer making it than parsing its lines)."""
    names = parser.formats()
    table = _candidate_tables.get(names)
    if table is None:
        table = tuple(bytes(FORMATS.index(f) for f in parser.candidates(chr(c))) for c in range(128))
        _candidate_tables[names] = table
    return table


def lane_spec(parser: Parser, miner: PatternMiner, settings: Settings) -> LaneSpec:
    """Every rule the lane shares with the Python path, from its one definition, for the
    lines of one source (``parser``) mined by ``miner``."""
    stages, guards, opens_mode, joins_after_time = _programs()
    reader = parser.layout_reader
    program = layout_program(reader.layout) if reader is not None else None
    mode = "none" if reader is None else "declines" if program is None else "runs"
    return LaneSpec(
        version=VERSION,
        key_cache=miner.key_cache,
        add=miner.add,
        shape_key_stages=stages,
        **{name: getattr(formats, name.upper()) for name in _FORMAT_RULES},
        **{name: getattr(settings, name) for name in _LIMITS},
        guards=guards,
        # Per ASCII character, the formats the parser tries on a line starting with it.
        candidates=_candidates(parser),
        naive_utc=parser.time.tz is UTC,
        joins_unparsed="".join(sorted(c for c in JOINS_UNPARSED if c)),  # the empty line is no character
        indent="".join(INDENT),
        opens_mode=opens_mode,
        joins_after_time=joins_after_time,
        columns=COLUMNS,
        pattern_count_items=COUNT_ITEMS,
        sample_chars=SAMPLE_CHARS,
        layout_mode=LAYOUT_MODES.index(mode),
        layout_format=LAYOUT_FORMAT,
        layout=program or (),
        layout_time=reader.minute_us if reader is not None else _no_layout,
        layout_level=level_of,
        layout_times={},
        layout_levels={},
    )


class CompiledLane:
    """The lane of one chunk."""

    def __init__(self, parser: Parser, miner: PatternMiner, settings: Settings, min_line: int = 0) -> None:
        assert _lane is not None
        if _lane.SPEC_VERSION != VERSION:
            raise StaleLaneError(
                f"the compiled lane reads lane spec {_lane.SPEC_VERSION}, this code makes {VERSION}: "
                "it was built from another lane_spec.py (rebuild it: make setup)"
            )
        self._parser = parser
        self._batch_rows = settings.batch_rows
        self._batch_bytes = settings.batch_bytes
        self._max_line = settings.max_file_lines
        self._min_line = min_line
        self._settings = settings
        self._spec = _lane.compile(lane_spec(parser, miner, settings))
        self._reader = parser.layout_reader  # the layout the spec has: another is compiled anew
        self._miner = miner
        # Patterns by shape, while the miner's templates hold (see PatternMiner.generation).
        self._patterns: dict[object, tuple[str, str]] = {}
        self._generation = miner.generation
        # The batch being filled, which ``event_batches`` sets: its rows and its pattern
        # counts (``Batch.patterns``: id -> the items ``db.patterns.COUNT_ITEMS`` names).
        self.buf: CopyBuffer | None = None
        self.seen: dict[str, list[Any]] = {}

    @classmethod
    def create(
        cls, enabled: bool, parser: Parser, miner: PatternMiner, settings: Settings, min_line: int = 0
    ) -> CompiledLane | None:
        """A lane, or None when it is turned off or not built. ``settings`` give the limits
        of a line, an event and a batch. StaleLaneError when the built lane reads another
        spec than this code makes."""
        if not enabled or _lane is None:
            return None
        return cls(parser, miner, settings, min_line)

    def takes(self, data: bytes, start: int, line: int) -> bool:
        if self.buf is None or line < self._min_line:
            return False
        assert _lane is not None
        if self._parser.layout_reader is not self._reader:  # the parser took another layout
            self._reader = self._parser.layout_reader
            self._spec = _lane.compile(lane_spec(self._parser, self._miner, self._settings))
        if not _lane.takes(data, start, FORMATS.index(self._parser.settled()), self._spec):
            return False
        # The event before the run is the Python path's, maybe in a mode (a Go panic, a
        # traceback) where more lines join it than the lane knows of: a run starts only
        # where an event starts whatever came before, as a chunk does. The lane took the
        # line, so it is plain ASCII and ends in a newline.
        return not can_continue(data[start : data.index(b"\n", start)].decode("ascii"))

    def fill(self, run: Run) -> CopyRows:
        """The rows of the run's lines (at least one), with their patterns counted in the
        miner and the batch (``seen``) as the Python path counts an event's."""
        buf = self.buf
        assert buf is not None and _lane is not None
        if self._parser.layout_reader is not self._reader:
            self._reader = self._parser.layout_reader
            self._spec = _lane.compile(lane_spec(self._parser, self._miner, self._settings))
        ingested_us = (buf.ingested_at - EPOCH) // MICROSECOND
        sticky = FORMATS.index(self._parser.settled())
        if self._miner.generation != self._generation:
            self._patterns.clear()
        # No more lines than fit in what is left of the batch's bytes, a row being about
        # twice its line (its fields and its raw text) at most for the lines a lane takes.
        # Lines are counted only where the bytes can bind: counting to the end of a large
        # room at every short run cost the mixed file two thirds of its speed.
        room = max(0, self._batch_bytes - buf.nbytes) // 2
        fit = self._batch_rows - buf.rows
        if run.start + room < len(run.source):
            fit = min(fit, max(1, run.source.count(b"\n", run.start, run.start + room)))
        fit = min(fit, max(1, self._max_line - run.line + 1))  # a run ends at the last line a file may have
        stop, data, count, run.lines, errors, months, sticky = _lane.rows(
            run.source, run.start, fit, run.line, buf.file_id, buf.ingested, ingested_us,
            sticky, self._spec, self._patterns, self.seen,
        )  # fmt: skip
        self._generation = self._miner.generation  # what is kept now was looked up after any change
        self._parser.settle(FORMATS[sticky])  # as after its last line
        if self._reader is not None:
            self._parser.read_elsewhere(count)  # each row's first line fit the layout
        run.end_offset = run.offset + stop - run.start
        run.source = b""  # the block is the reader's again
        return CopyRows(data, count, months, errors)
