"""Layouts: a declarative description of a log's header, and the reading of a line by one.

A layout is what ``inference`` finds in a file that no known format claims, or what a
user forces on an upload: a list of columns in order, one of which may be the time, then
the message. Each column has a shape (what its text looks like, from a short fixed list)
and a name (what field it becomes: ``level``, ``host``, ``component``, ``pid``,
``thread``, ``request_id``, a field of another name, or nothing for a separator), and
the separator that follows it. The time column names a family of timestamp shapes (see
``TIME_FAMILIES``), the day and month order decided for the whole file, and whether the
clock is a 12-hour one.

A layout is plain data (``to_dict``/``from_dict``, stored as JSON with its file) and is
compiled here to one regular expression with a group per column, which the Python path
runs; nothing in it is specific to any one product's log.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Protocol

from .formats import LEVEL_WORDS, Parsed
from .timeparse import MONTHS, TimeParser, plus_fraction, zone

LAYOUT_FORMAT = "layout"  # the format of an event read by a layout

# Level words a level column may hold, beyond the ones every format knows: the words of
# servers' own level columns (PostgreSQL's LOG and DEBUG1-5, Serilog's and zerolog's
# three-letter forms, four-letter ones such as supervisord's), in any case.
LAYOUT_LEVEL_WORDS = {
    **LEVEL_WORDS,
    "log": "info", "debug1": "debug", "debug2": "debug", "debug3": "debug", "debug4": "debug", "debug5": "debug",
    "vrb": "trace", "ftl": "fatal", "note": "info", "warnings": "warn", "fine": "debug", "informational": "info",
    "success": "info", "erro": "error", "debg": "debug", "trac": "trace", "blat": "trace",
}  # fmt: skip
# Syslog severities by number: what a ``<N>`` level column means (``N & 7``).
_SEVERITY = ("fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug")

# Times further than this from the reference time are refused: a clock reset to 1970, a
# counter read as an epoch, a day and month swapped into next decade.
MAX_PAST = timedelta(days=366 * 30)
MAX_FUTURE = timedelta(days=366 * 2)

MONTH_NAMES = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?"
    r"|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"
)
_WEEKDAY = r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\.?,?\s+)?"
# A clock: hours and minutes, maybe seconds, a fraction (after '.', ',' or ':'), a 12-hour
# mark and a zone.
_CLOCK = (
    r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?(?:[.,:](?P<f>\d{1,9}))?"
    r"(?:\s?(?P<ap>[AaPp]\.?[Mm]\.?)(?![A-Za-z]))?"
    r"(?:\s?(?P<z>Z|[+-]\d{2}(?::?\d{2})?|UTC|GMT)(?![A-Za-z]))?"
)
_DATE_TIME = r"(?:T|\s+|[_@:-]|,\s*)"  # between the date and the clock

# The families of timestamps a layout can name, each a pattern with named groups:
# Y (year, 4 digits), y (2 digits), M/D (month, day), A/B (the first and second number
# of a date whose order is decided per file), mon (a month's name), ep (an epoch), and
# the clock's groups.
TIME_FAMILIES = {
    # 2026-11-30 10:00:00.123Z, 2026/11/30-10:00:00, 2026.11.30 10:00:00,123 +0100
    "ymd": r"(?P<Y>\d{4})(?P<ds>[-/.])(?P<M>\d{1,2})(?P=ds)(?P<D>\d{1,2})" + _DATE_TIME + _CLOCK,
    # 20261130T100000, 20261130 10:00:00, 20261130100000.123, 20261130-10:00:00:123
    "ymd_compact": r"(?P<Y>\d{4})(?P<M>\d{2})(?P<D>\d{2})[T -]?(?P<h>\d{2}):?(?P<mi>\d{2}):?(?P<s>\d{2})"
    r"(?:[.,:](?P<f>\d{1,9}))?(?:\s?(?P<z>Z|[+-]\d{2}:?\d{2}))?",
    # 261130 100000 (two-digit year, month, day; the clock without separators)
    "yymmdd_compact": r"(?P<y>\d{2})(?P<M>\d{2})(?P<D>\d{2})[ -](?P<h>\d{2})(?P<mi>\d{2})(?P<s>\d{2})"
    r"(?:[.,](?P<f>\d{1,9}))?",
    # 30/11/2026 10:00:00, 11/30/2026 10:00:00 PM, 30.11.26 10:00: order decided per file
    "numeric_year_last": r"(?P<A>\d{1,2})(?P<ds>[-/.])(?P<B>\d{1,2})(?P=ds)(?P<Yl>\d{4}|\d{2})" + _DATE_TIME + _CLOCK,
    # 11-30 10:00:00.123 (no year): order decided per file
    "numeric_no_year": r"(?P<A>\d{1,2})(?P<ds>[-/.])(?P<B>\d{1,2})\s+" + _CLOCK,
    # Nov 30 10:00:00, Mon Nov 30 10:00:00 2026, Nov 30, 2026 10:00:00 PM, November 30th 2026, 10:00
    "month_day": _WEEKDAY + r"(?P<mon>" + MONTH_NAMES + r")\.?[ /-]+(?P<D>\d{1,2})(?:st|nd|rd|th)?,?"
    r"(?:[ /-]+(?P<Y>\d{4}))?,?" + _DATE_TIME + _CLOCK + r"(?:\s+(?P<Yafter>\d{4})(?!\d))?",
    # 30 Nov 2026 10:00:00, 30-Nov-2026 10:00:00.123, 30/Nov/2026:10:00:00 +0000, Mon, 30 Nov 2026 10:00:00
    "day_month": _WEEKDAY
    + r"(?P<D>\d{1,2})[ /-](?P<mon>"
    + MONTH_NAMES
    + r")\.?[ /-](?P<Yl>\d{4}|\d{2})"
    + _DATE_TIME
    + _CLOCK,
    # 1130 10:00:00.123456 after a level letter (glog/klog's Lmmdd)
    "letter_mmdd": r"(?P<lv>[DIWEF])(?P<M>\d{2})(?P<D>\d{2})\s+" + _CLOCK,
    # 1764496800, 1764496800.123, 1764496800123 (ms), 16 digits (us), 19 digits (ns)
    "epoch": r"(?P<ep>\d{10}(?:\.\d{1,9})?|\d{13}(?:\.\d{1,6})?|\d{16}|\d{19})",
}
# Where a time may start and end: not inside a word or a number.
TIME_START = r"(?<![\w.:/+-])"
TIME_END = r"(?![\w/])"

# Column shapes: what the text of a column looks like.
SHAPES = {
    "bracket": r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]:?",  # [main], [2212], [info], [a[b]c]
    "angle": r"<[^<>\s]*>:?",  # <0.223.0>, <6>
    "paren": r"\([^()\s]*\):?",  # (12)
    "program": r"[^\s\[\],;|]+?(?:\[\d+\])?[:\]](?=\s|$)",  # sshd[123]:, kernel:, org.x.Y:, main.go:12:, file.go:9]
    "int": r"\d+:?",
    "cell": r"[^\t]*",  # anything up to a tab, in a file whose columns tabs separate
    "clock": r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,9})?",  # a time of day without a date: no time, a field
    "word": r"[^\s,;|]+",
    "punct": r"\||[^\w\s\[\]()<>{}\"'|]{1,3}(?=\s|$)",  # |, -, ---, :, *, =>
}  # What may follow a column: one or more spaces, a comma or semicolon (with spaces around), or nothing.
SEPARATORS = {"space": r"\s+", "comma": r"\s*[,;]\s*", "none": r"", "maybe_space": r"\s*", "tab": r" *\t *"}
_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
_WRAPPERS = "[]<>():"


@dataclass(frozen=True)
class Column:
    """One column of a header: its name, its shape (or, for the time, its family) and
    the separator after it."""

    name: str
    shape: str
    sep: str = "space"
    wrap: str = ""  # the time's: the character before it and the one after (``[]``, ``,`` after only: `` ,``)
    optional: bool = False  # absent from some lines (the header's last column only)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "shape": self.shape, "sep": self.sep}
        if self.wrap:
            out["wrap"] = self.wrap
        if self.optional:
            out["optional"] = True
        return out


@dataclass(frozen=True)
class Layout:
    """A header of columns, then the message. ``order`` is the order of a numeric date's
    numbers where the family leaves it open: ``md`` or ``dm`` for the first two, ``ym``
    for a two-digit year first and the day last (``yy/MM/dd``)."""

    columns: tuple[Column, ...]
    order: str = "md"
    _compiled: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError("a layout needs at least one column")
        times = [c for c in self.columns if c.name == "time"]
        if len(times) > 1:
            raise ValueError("a layout has one time column at most")
        for c in self.columns:
            if c.name == "time":
                if c.shape not in TIME_FAMILIES:
                    raise ValueError(f"unknown time family {c.shape!r}; known: {', '.join(TIME_FAMILIES)}")
            elif c.shape not in SHAPES:
                raise ValueError(f"unknown column shape {c.shape!r}; known: {', '.join(SHAPES)}")
            if c.name and not _NAME.fullmatch(c.name):
                raise ValueError(f"a column's name must be a lower-case word, not {c.name!r}")
            if c.wrap and (len(c.wrap) != 2 or c.name != "time" or c.wrap.strip("[](){}<>:,; ")):
                raise ValueError(
                    f"a time's 'wrap' is the character before it and the one after (like '[]'), not {c.wrap!r}"
                )
            if c.sep not in SEPARATORS:
                raise ValueError(f"unknown separator {c.sep!r}; known: {', '.join(SEPARATORS)}")
        if any(c.optional for c in self.columns[:-1]) or (
            self.columns[-1].optional and self.columns[-1].name == "time"
        ):
            raise ValueError("only the header's last column may be optional, and not the time")
        if self.order not in ("md", "dm", "ym"):
            raise ValueError("'order' is 'md' (month first), 'dm' (day first) or 'ym' (a two-digit year first)")

    # -- as data ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns], "order": self.order}

    @classmethod
    def from_dict(cls, data: object) -> Layout:
        """A layout from its ``to_dict`` form; ValueError saying what is wrong otherwise."""
        if not isinstance(data, dict):
            raise ValueError('a layout is an object: {"columns": [{"name": ..., "shape": ..., "sep": ...}, ...]}')
        columns = data.get("columns")
        if not isinstance(columns, list):
            raise ValueError("a layout's 'columns' must be a list")
        out = []
        for c in columns:
            if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not isinstance(c.get("shape"), str):
                raise ValueError("each column needs a 'name' and a 'shape' (strings)")
            sep, wrap, optional = c.get("sep", "space"), c.get("wrap", ""), c.get("optional", False)
            if not isinstance(sep, str) or not isinstance(wrap, str) or not isinstance(optional, bool):
                raise ValueError("a column's 'sep' and 'wrap' must be strings, its 'optional' true or false")
            out.append(Column(c["name"], c["shape"], sep, wrap, optional))
        order = data.get("order", "md")
        if not isinstance(order, str):
            raise ValueError("a layout's 'order' must be 'md', 'dm' or 'ym'")
        return cls(tuple(out), order)

    def describe(self) -> str:
        """The layout in one line, as a person reads it."""
        parts = []
        for c in self.columns:
            what = f"<time:{c.shape}>" if c.name == "time" else (f"<{c.name}:{c.shape}>" if c.name else c.shape)
            if c.optional:
                what += "?"
            if c.wrap:
                what = c.wrap[0].strip() + what + c.wrap[1].strip()
            parts.append(what + {"space": " ", "comma": ", ", "none": "", "maybe_space": " ", "tab": "\\t"}[c.sep])
        return "".join(parts) + "<message>" + (f"  (dates {self.order})" if self.has_order else "")

    @property
    def has_order(self) -> bool:
        return any(c.name == "time" and c.shape in ("numeric_year_last", "numeric_no_year") for c in self.columns)

    # -- as a regex ------------------------------------------------------------------------
    def pattern(self, upto: int | None = None) -> str:
        """The regex of the header's first ``upto`` columns (all by default), then the message."""
        cols = self.columns if upto is None else self.columns[:upto]
        out = []
        for i, c in enumerate(cols):
            if c.name == "time":
                opener, closer = (re.escape(c.wrap[:1].strip()), re.escape(c.wrap[1:].strip())) if c.wrap else ("", "")
                body = TIME_START + "(?:" + TIME_FAMILIES[c.shape] + ")" + TIME_END
                out.append(opener + "(?P<time>" + body + ")" + closer)
            else:
                out.append(f"(?P<c{i}>" + SHAPES[c.shape] + ")" + ("?" if c.optional else ""))
            if i < len(cols) - 1:
                out.append(SEPARATORS[c.sep])
        if upto is not None:
            return "".join(out)
        # The message follows the last column after spaces, or straight after a column that
        # ends in punctuation; an empty message is allowed.
        # (Or after the spaces before an optional column that is absent.)
        return "".join(out) + r"(?:(?<=[\]:>)|\-\s])\s*|\s+|$)(?P<message>.*)"

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern(), re.S)

    def misfit(self, line: str) -> str:
        """Why ``line`` does not fit (the first column that does not match), for people."""
        for k in range(1, len(self.columns) + 1):
            if re.match(self.pattern(k), line, re.S) is None:
                c = self.columns[k - 1]
                what = (
                    f"the time ({c.shape})" if c.name == "time" else f"column {k} ({c.name or 'separator'}: {c.shape})"
                )
                return f"{what} is not where the layout has it"
        return "nothing follows the header as a message would (no space after its last column)"


def _unwrap(text: str) -> str:
    return text.strip(_WRAPPERS) if text else text


# Words that are levels only in capitals (PostgreSQL's ``LOG:``), as they are common words otherwise.
_CAPITALS_ONLY = frozenset(("log", "success", "config", "alert", "panic", "critical"))


def level_of(token: str) -> str | None:
    """The level a level column's token means: a word in any case, a letter, ``<N>``."""
    word = token.strip(_WRAPPERS).strip()
    if word.isascii() and word.isdigit() and token.lstrip("[").startswith("<"):
        return _SEVERITY[int(word) & 7] if len(word) <= 3 else None
    lower = word.lower()
    if lower in _CAPITALS_ONLY and not word.isupper():
        return None
    return LAYOUT_LEVEL_WORDS.get(lower)


_EPOCH_UNITS = {10: 1, 13: 1_000, 16: 1_000_000, 19: 1_000_000_000}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch(text: str) -> datetime:
    """An epoch column's time, exactly: its whole digits by their count (seconds,
    milliseconds, microseconds, nanoseconds), a fraction of its unit after a point."""
    whole, _, frac = text.partition(".")
    per_second = _EPOCH_UNITS[len(whole)]
    micros = int(whole) * 1_000_000 // per_second
    if frac:
        micros += int((frac + "000000000")[:9]) * 1_000_000 // per_second // 1_000_000_000
    return EPOCH + timedelta(microseconds=micros)


_SECONDS = [timedelta(seconds=n) for n in range(60)]
_MICROSECOND = timedelta(microseconds=1)
_LEVEL, _PROGRAM, _PID, _OTHER = "level", "program", "pid", "other"  # what a column becomes


def _int_or_text(text: str) -> int | str:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else text


class LayoutReader:
    """Reads lines by one layout, for one source: times through ``time`` (its zone, its
    reference for a missing year and for refusing times decades off)."""

    def __init__(self, layout: Layout, time: TimeParser) -> None:
        self.layout = layout
        self.time = time
        rx = layout.regex
        self._match = rx.fullmatch
        index = rx.groupindex
        # Per named column: its group's number and what it becomes (see ``read``).
        self._columns = [
            (index[f"c{i}"], c.name, _LEVEL if c.name == "level" else _PROGRAM if c.shape == "program" and
             c.name == "component" else _PID if c.name == "pid" else _OTHER)
            for i, c in enumerate(layout.columns)
            if c.name not in ("", "time")
        ]  # fmt: skip
        self._message = index["message"]
        self._time = index.get("time")
        # The seconds and the fraction of a calendar time, in the order they come.
        self._seconds = index.get("s")
        self._minute_cuts = [n for n in (self._seconds, index.get("f")) if n is not None]
        self._letter = index.get("lv")
        self._day_first = layout.order == "dm"
        self._year_first = layout.order == "ym"
        self._low = time.reference - MAX_PAST
        self._high = time.reference + MAX_FUTURE
        # Times by their text less the fraction, and levels by their word: logs repeat both.
        self._times: dict[str, tuple[datetime | None, str]] = {}
        self._levels: dict[str, str | None] = {}

    def read(self, line: str) -> Parsed | None:
        """The line's event by this layout, or None when the line does not fit it."""
        m = self._match(line)
        if m is None:
            return None
        fields: dict[str, Any] = {}
        level = None
        group = m.group
        for number, name, kind in self._columns:
            text = group(number)
            if text is None:  # an optional column, absent
                continue
            if kind is _LEVEL:
                level = self._levels.get(text, "")
                if level == "":
                    if len(self._levels) >= 1024:
                        self._levels.clear()
                    level = self._levels[text] = level_of(text)
                if level is None:
                    fields["severity"] = _unwrap(text)
            elif kind is _PROGRAM:
                prog = text[:-1]
                if prog[-1:] == "]" and "[" in prog:
                    prog, _, pid = prog[:-1].rpartition("[")
                    fields["pid"] = int(pid)
                fields["component"] = prog
            elif kind is _PID:
                fields["pid"] = _int_or_text(_unwrap(text))
            else:
                fields[name] = _unwrap(text)
        ts = None
        if self._time is not None:
            ts, refused = self._when(m)
            if refused:
                fields["time_refused"] = refused
            if level is None and self._letter is not None:
                letter = group(self._letter)
                if letter:
                    level = level_of(letter)  # as a level column's letter: the lane asks the same
        return Parsed(LAYOUT_FORMAT, group(self._message), ts, level, fields or None)

    def _when(self, m: re.Match[str]) -> tuple[datetime | None, str]:
        """``when``, cached on the time's text less its seconds and fraction (a minute's
        lines share it), which are added after."""
        text = m.string
        assert self._time is not None
        start, end = m.span(self._time)
        key, at, seconds, frac = "", start, "", ""
        for number in self._minute_cuts:
            cut, cut_end = m.span(number)
            if cut >= 0:
                key += text[at:cut]
                at = cut_end
                if number == self._seconds:
                    seconds = text[cut:cut_end]
                else:
                    frac = text[cut:cut_end]
        key += text[at:end]
        if seconds and int(seconds) > 59:
            return self.when(m)  # no such second: refused as the whole text is
        known = self._times.get(key)
        if known is None:
            if len(self._times) >= 4096:
                self._times.clear()
            known = self._times[key] = self.when(m, whole=False)
        ts, refused = known
        if refused:  # said of this line's own text, whichever line of its minute came first
            return self.when(m, whole=False)
        if ts is not None:
            if seconds:
                ts += _SECONDS[int(seconds)]
            if frac:
                ts = plus_fraction(ts, frac)
        return ts, refused

    def minute_us(self, text: str) -> int | None:
        """The time of a time column's ``text`` without its seconds and fraction, in
        microseconds since 1970 (UTC), as ``read`` takes it; None when it is refused or
        no time. The same for every text that differs only in those (``_when``'s key):
        what the compiled lane asks once a minute. An epoch's text is its time whole,
        fraction and all: the lane asks it of the first and the last text of a block of
        its digits (the last ones zeroed, then nines) and adds the rest itself."""
        m = self._time_only.fullmatch(text)
        if m is None:
            return None
        ts, _ = self.when(m, whole=False)
        if ts is None or ts.tzinfo is not UTC:
            return None
        return (ts - EPOCH) // _MICROSECOND

    @cached_property
    def _time_only(self) -> re.Pattern[str]:
        family = next(c.shape for c in self.layout.columns if c.name == "time")
        return re.compile("(?P<time>" + TIME_FAMILIES[family] + ")", re.S)

    def when(self, m: re.Match[str], *, whole: bool = True) -> tuple[datetime | None, str]:
        """The time of a matched line, or None and why it is refused; without its
        fraction (of a calendar time) unless ``whole``."""
        g = m.groupdict()
        if not whole and g.get("ep") is None:
            g["f"] = g["s"] = None
        text = g["time"]
        ts: datetime | None
        try:
            if g.get("ep") is not None:
                ts = _epoch(g["ep"] or "")
            else:
                ts = self._calendar(g)
        except (ValueError, OverflowError) as exc:
            return None, f"{text!r} is no time: {exc}"
        if ts is None:
            return None, f"{text!r} is no time"
        if not self._low <= ts <= self._high:
            return None, f"{text!r} is {ts.isoformat()}, decades from when it was read: not taken as the line's time"
        return ts, ""

    def _calendar(self, g: dict[str, str | None]) -> datetime | None:
        year: int | None = None
        if g.get("Y"):
            year = int(g["Y"] or 0)
        elif g.get("Yafter"):
            year = int(g["Yafter"] or 0)
        elif g.get("Yl"):
            yl = g["Yl"] or ""
            year = int(yl) + (2000 if len(yl) == 2 else 0)
        elif g.get("y"):
            year = 2000 + int(g["y"] or 0)
        if g.get("mon"):
            month = MONTHS[(g["mon"] or "")[:3].lower()]
            day = int(g["D"] or 0)
        elif g.get("A") is not None:
            a, b = int(g["A"] or 0), int(g["B"] or 0)
            if self._year_first and len(g.get("Yl") or "") == 2:  # yy/MM/dd: the last number is the day
                year, month, day = 2000 + a, b, int(g["Yl"] or 0)
            else:
                day, month = (a, b) if self._day_first else (b, a)
        else:
            month, day = int(g["M"] or 0), int(g["D"] or 0)
        hour, minute = int(g["h"] or 0), int(g["mi"] or 0)
        second = int(g["s"] or 0)
        ap = g.get("ap")
        if ap:
            if not 1 <= hour <= 12:
                raise ValueError(f"hour {hour} on a 12-hour clock")
            hour = hour % 12 + (12 if ap[0] in "Pp" else 0)
        if year is None:
            ts = self.time.month_day(month, day, f"{hour:02d}:{minute:02d}:{second:02d}")
            if ts is None:
                raise ValueError(f"no day {day} in month {month}")
        else:
            naive = datetime(year, month, day, hour, minute, second)
            z = g.get("z")
            if z and z[0] in "+-" and len(z) == 3:
                z += "00"
            ts = naive.replace(tzinfo=zone(z)).astimezone(UTC) if z else self.time.aware(naive)
        frac = g.get("f")
        if frac:
            ts = ts.replace(microsecond=int((frac + "000000")[:6]))
        return ts


class _Switches(Protocol):
    time: TimeParser
    layout_changes: list[tuple[int, Layout]]

    @property
    def layout(self) -> Layout | None: ...

    def use_layout(self, layout: Layout) -> LayoutReader: ...


class Adapter:
    """Watches how lines fit a parser's layout, and when most of the recent ones do not,
    infers a layout from those that did not and switches to it.

    Lines already parsed stay as they were read. A try that finds no better layout makes
    the next one wait twice as long, so that a file whose lines mostly do not fit costs
    few inferences.
    """

    WINDOW = 64  # recent lines that may start an event
    SHARE = 0.75  # of them not fitting, to try again
    FIRST_WAIT = 256  # lines before another try, after a try that found nothing better
    EARLY = 16  # first lines that, all missing, make a try before the window is full

    def __init__(self, parser: _Switches) -> None:
        self._parser = parser
        self._recent: deque[bool] = deque(maxlen=self.WINDOW)
        self._misfits: deque[str] = deque(maxlen=self.WINDOW)
        self._seen = 0
        self._next_try = 0
        self._wait = self.FIRST_WAIT

    def fits(self) -> None:
        self._seen += 1
        self._recent.append(True)

    def misfits(self, line: str) -> LayoutReader | None:
        """Note a line that does not fit; the reader of a new layout when it is time to switch."""
        self._seen += 1
        self._recent.append(False)
        self._misfits.append(line)
        recent = self._recent
        # A source whose first lines all miss (a chunk that starts after a change of
        # layout) tries early, once; otherwise a try needs a window of lines.
        early = self._seen == self.EARLY and recent.count(False) == self.EARLY
        if not early and (len(recent) < self.WINDOW or self._seen < self._next_try):
            return None
        if not early and recent.count(False) < self.SHARE * self.WINDOW:
            return None
        from .inference import infer

        lines = list(self._misfits)
        found = infer(lines, tz=self._parser.time.tz_name, reference=self._parser.time.reference).layout
        if found is None or found == self._parser.layout or not self._fits_most(found, lines):
            self._next_try = self._seen + self._wait
            self._wait *= 2
            return None
        self._parser.layout_changes.append((self._seen - 1, found))
        self._recent.clear()
        self._misfits.clear()
        self._wait = self.FIRST_WAIT
        return self._parser.use_layout(found)

    def _fits_most(self, layout: Layout, lines: list[str]) -> bool:
        match = layout.regex.fullmatch
        return sum(1 for line in lines if match(line)) >= self.SHARE * len(lines)
