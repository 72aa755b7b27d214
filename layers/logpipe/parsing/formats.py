"""Recognising a line's format from its content and pulling out time, level, message and fields.

Detection is per source with a per-line fallback: a ``Parser`` tries the format that matched
the previous line first, then every format in order, and remembers the winner; a source may
name its format instead (``Parser(format="apache_access")``). A line no format claims is
still an event (format ``text``) with the best timestamp and level found in it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from .guards import Guard
from .timeparse import TimeParser

if TYPE_CHECKING:
    from .layouts import Layout, LayoutReader

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
ERROR_LEVELS = ("error", "fatal")  # what a file's error count counts

LEVEL_WORDS = {
    "trace": "trace", "trc": "trace", "finest": "trace", "finer": "trace", "verbose": "trace", "v": "trace",
    "debug": "debug", "dbg": "debug", "dbug": "debug", "fine": "debug", "config": "debug", "d": "debug",
    "info": "info", "inf": "info", "information": "info", "informational": "info", "notice": "info",
    "i": "info", "n": "info",
    "warn": "warn", "warning": "warn", "wrn": "warn", "w": "warn",
    "error": "error", "err": "error", "eror": "error", "severe": "error", "e": "error",
    "fatal": "fatal", "critical": "fatal", "crit": "fatal", "panic": "fatal", "emerg": "fatal",
    "emergency": "fatal", "alert": "fatal", "f": "fatal", "a": "fatal", "c": "fatal",
}  # fmt: skip
_SYSLOG_SEVERITY = ("fatal", "fatal", "fatal", "error", "warn", "info", "info", "debug")
# pino's and bunyan's numbers: the level of a number up to each bound, and above the last.
NUMERIC_LEVELS = ((10, "trace"), (20, "debug"), (30, "info"), (40, "warn"), (50, "error"))
NUMERIC_LEVEL_ABOVE = "fatal"
# The level of an access log's line by its HTTP status: from each status up, and below them all.
STATUS_LEVELS = ((500, "error"), (400, "warn"))
STATUS_LEVEL_BELOW = "info"

TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "datetime", "date", "t", "eventTime", "created")
LEVEL_KEYS = ("level", "severity", "lvl", "loglevel", "log.level", "levelname", "level_name", "severity_text")
MESSAGE_KEYS = ("msg", "message", "log", "text", "event", "body")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")

# The words a level column holds (``_LW`` in the layouts' patterns), in the order the
# pattern tries them: where one is the start of another, the one listed first is taken.
COLUMN_LEVEL_WORDS = (
    "TRACE", "DEBUG", "INFO", "NOTICE", "WARNING", "WARN", "ERROR", "ERR", "FATAL", "CRITICAL", "CRIT", "SEVERE",
    "PANIC", "EMERG", "ALERT", "FINE", "FINER", "FINEST", "CONFIG",
    "trace", "debug", "info", "notice", "warning", "warn", "error", "err", "fatal", "critical", "crit", "panic",
)  # fmt: skip
# The words that give a line no format claims its level, as whole words in its head.
TEXT_LEVEL_WORDS = (
    "TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL", "SEVERE", "PANIC",
)  # fmt: skip
# How much of a line no format claims is searched for its time and level, and what a time
# there holds (an ISO time its ':', a CLF time its '['): a head without either has none.
TEXT_HEAD = 120
TEXT_TIME_MARKS = ":["
TEXT_FORMAT = "text"  # the format of a line no format claims


def _alternatives(words: tuple[str, ...]) -> str:
    return "(?:" + "|".join(map(re.escape, words)) + ")"


_LW = _alternatives(COLUMN_LEVEL_WORDS)
_ISO = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}| UTC)?"


@dataclass(slots=True)
class Parsed:
    format: str
    message: str
    ts: datetime | None = None
    level: str | None = None
    fields: dict[str, Any] | None = None
    # Why the line is kept as its raw text only (``events.kept_raw``): a format it claims
    # to be could not read it without failing. None for every line that parsed.
    kept_raw: str | None = None
    # The line to keep as its raw text, where it must not be the line as read (a secret
    # in it). None: the line as read.
    raw: str | None = None


# Level words as written, and what they mean: a source writes the same few words again and again.
_level_of_text: dict[str, str | None] = {}
_LEVEL_CACHE_SIZE = 1024


def normalise_level(word: object) -> str | None:
    """One of ``LEVELS`` from a level word, a syslog-style letter, or a pino/bunyan number."""
    if isinstance(word, str):
        level = _level_of_text.get(word, "")
        if level != "":
            return level
        level = LEVEL_WORDS.get(word.strip().lower())
        if len(_level_of_text) >= _LEVEL_CACHE_SIZE:
            _level_of_text.clear()
        _level_of_text[word] = level
        return level
    if word is None:
        return None
    if isinstance(word, bool):
        return None
    if isinstance(word, int):
        for bound, name in NUMERIC_LEVELS:
            if word <= bound:
                return name
        return NUMERIC_LEVEL_ABOVE
    return LEVEL_WORDS.get(str(word).strip().lower())


def level_from_status(status: int) -> str:
    for bound, name in STATUS_LEVELS:
        if status >= bound:
            return name
    return STATUS_LEVEL_BELOW


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text) if "\x1b" in text else text


# -- structured formats ------------------------------------------------------------------------


# A key to look for, and for a dotted key the object and key it names when nested.
_Key = tuple[str, str | None, str]


def _keys(names: tuple[str, ...]) -> tuple[_Key, ...]:
    keys = []
    for name in names:
        head, dot, tail = name.partition(".")
        keys.append((name, head if dot else None, tail))
    return tuple(keys)


_TIME, _LEVEL, _MESSAGE = _keys(TIME_KEYS), _keys(LEVEL_KEYS), _keys(MESSAGE_KEYS)


def _first(obj: dict[str, Any], keys: tuple[_Key, ...]) -> Any:
    """The first of ``keys`` that ``obj`` holds a non-null value for; a dotted key also
    finds its ECS-style nesting (``{"log": {"level": "info"}}``) when ``obj`` lacks it."""
    for key, head, tail in keys:
        value = obj.get(key)
        if value is None and head is not None and key not in obj:
            inner = obj.get(head)
            if isinstance(inner, dict):
                value = inner.get(tail)
        if value is not None:
            return value
    return None


# What json.loads does with a str, less its per-call set-up: decode one value, then allow
# only JSON whitespace after it.
_decode_json = json.JSONDecoder().raw_decode
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_TWENTY_DIGITS = b"0" * 20


def _loads(text: str) -> Any:
    """``json.loads(text)`` for a ``text`` that starts with a non-space; ValueError when it is no JSON.

    orjson decodes what it accepts, several times faster. What it refuses and Python's
    decoder takes (NaN and the infinities, lone surrogates, integers beyond 64 bits,
    nesting deeper than 1024) goes through Python's decoder, and a non-finite number is
    kept as its text: JSON has no value for it. Nesting too deep for that decoder
    (RecursionError) is no JSON: parsing never raises.
    """
    # orjson reads an integer beyond 64 bits as a float, losing digits: a text with a run
    # of 20 digits goes to Python's decoder (the bytes translate and find cost a fraction
    # of a regex search).
    if text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO).find(_TWENTY_DIGITS) < 0:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    try:
        obj, end = _decode_json(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if end != len(text) and text[end:].strip(" \t\n\r"):
        raise ValueError("extra data after the JSON value")
    return _finite_as_text(obj)


def _failure(fmt: str, exc: BaseException) -> str:
    """Why a line that ``fmt`` failed on is kept raw, as ``events.kept_raw`` says it."""
    return f"{fmt}: {type(exc).__name__}: {str(exc)[:200]}"


def _finite_as_text(value: Any) -> Any:
    """``value`` with NaN and the infinities written as the text JSON extensions use for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {k: _finite_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_as_text(v) for v in value]
    return value


# -- which lines each format may claim ----------------------------------------------------------

_LOGFMT_KEY = r"[A-Za-z_@][\w.\-/@]*"
_PYBASIC_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

FORMATS = (
    "json", "cri", "github_actions", "syslog5424", "syslog3164", "apache_access", "apache_error", "nginx_error",
    "app", "android", "hdfs", "spark", "rails", "python", "go", "logfmt",
)  # fmt: skip
"""The names a source may force with ``Parser(format=...)``, in the order detection tries them."""

# What a line must look like for each format's pattern to have a chance (see ``guards``):
# a line its guard does not admit is not tried. Each is implied by the format's pattern
# (or, for syslog, by the month names its time needs), so a guard only saves the pattern's
# work. The compiled lane runs the same guards to know which formats surely give up on a
# line. The text formats' guards start with the character their patterns start with.
GUARDS = {
    "json": Guard(r"\{"),
    "cri": Guard(r"\d.{9}T", contains=" std"),
    "github_actions": Guard(r"\d.{18}\..{7}Z"),
    "syslog5424": Guard(r"<"),
    "syslog3164": Guard(r"<|[A-S][a-z]{2} "),  # a priority, or a month's name (A to S) and a space
    "apache_access": Guard(r"\S", contains='] "'),
    "apache_error": Guard(r"\["),
    "nginx_error": Guard(r"\d.{3}/"),
    "app": Guard(r"\[?\d{4}-\d{2}-\d{2}[T ]"),  # _APP's and _PY's time
    "android": Guard(r"\d.-.. "),
    "hdfs": Guard(r"\d.{5} "),
    "spark": Guard(r"\d./"),
    "rails": Guard(r"[DIWEFU], "),
    "python": Guard("|".join(w + ":" for w in _PYBASIC_LEVELS)),
    "go": Guard(r"\d.{3}/"),
    "logfmt": Guard(r"\s*" + _LOGFMT_KEY + "="),
}
assert tuple(GUARDS) == FORMATS


def _may_start(fmt: str, c: str) -> bool:
    """False only when no line starting with ``c`` can be of format ``fmt``."""
    return c != "" and GUARDS[fmt].may_start(c)


# A format's name, its guard's test, and the method that reads a line the guard admits.
_Format = tuple[str, Callable[[str], object], Callable[[str], "Parsed | None"]]


class Parser:
    """Parses lines of one source. Keeps per-source state (sticky format, time caches).

    ``tz`` is the timezone of naive timestamps; ``reference`` the time against which a
    missing year is inferred (default: now); ``format`` forces one format (with a fall
    back to ``text`` for lines it does not match).

    ``layout`` (see ``layouts``) reads the lines it fits before any format is tried; a
    line it does not fit and no format claims is text whose time is taken only where it
    opens the line (in such a file a time elsewhere in a line is a message's). With ``adapt``, when most
    lines stop fitting the layout, a new one is inferred from them and read with from
    then on (``layout_changes`` lists them, with how many lines had been parsed).
    """

    def __init__(
        self,
        *,
        tz: str = "UTC",
        reference: datetime | None = None,
        format: str | None = None,
        layout: Layout | None = None,
        adapt: bool = False,
    ) -> None:
        self.time = TimeParser(tz, reference)
        self._layout: LayoutReader | None = None
        self._adapt = None
        self.layout_changes: list[tuple[int, Layout]] = []
        if layout is not None:
            from .layouts import Adapter, LayoutReader

            self._layout = LayoutReader(layout, self.time)
            if adapt:
                self._adapt = Adapter(self)
        methods: dict[str, Callable[[str], Parsed | None]] = {
            "json": self._json, "cri": self._cri, "github_actions": self._github_actions,
            "syslog5424": self._syslog5424, "syslog3164": self._syslog3164, "apache_access": self._access,
            "apache_error": self._apache_error, "nginx_error": self._nginx_error, "app": self._app,
            "android": self._android, "hdfs": self._hdfs, "spark": self._spark, "rails": self._rails,
            "python": self._python_basic, "go": self._go, "logfmt": self._logfmt,
        }  # fmt: skip
        if format is not None and format not in methods:
            raise ValueError(f"unknown format {format!r}; known: {', '.join(sorted(methods))}")
        # Each format's name, the guard a line must pass, and the method that reads it.
        self._formats: list[_Format] = [
            (name, GUARDS[name].admits, methods[name]) for name in FORMATS if format is None or name == format
        ]
        self._last = self._formats[0]
        self._by_first: dict[str, list[_Format]] = {}

    def settled(self) -> str:
        """The format this parser tries first now: the last one that matched."""
        return self._last[0]

    def settle(self, name: str) -> None:
        """Try ``name`` first from now on, as after a line of that format (one of this parser's)."""
        self._last = next(entry for entry in self._formats if entry[0] == name)

    def candidates(self, c: str) -> list[str]:
        """The formats ``parse`` tries, in its order after the settled one, on a line starting with ``c``."""
        return [name for name, _, _ in self._formats if _may_start(name, c)]

    def formats(self) -> tuple[str, ...]:
        """The formats this parser reads (all, or the one it was given), in their order."""
        return tuple(name for name, _, _ in self._formats)

    def parse(self, line: str) -> Parsed:
        """Parse one line (decoded, without its newline). Never raises."""
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        if line[:1] == "\ufeff":
            line = line[1:]
        layout = self._layout
        if layout is not None:
            try:
                read = layout.read(line)
            except ValueError:  # a number beyond what int() takes, where a pid belongs
                read = None
            if read is not None:
                if self._adapt is not None:
                    self._adapt.fits()
                return read
            if self._adapt is not None and line.strip() and line[:1] not in " \t":
                layout = self._adapt.misfits(line)
                try:
                    read = layout.read(line) if layout is not None else None
                except ValueError:
                    read = None
                if read is not None:
                    return read
        last = self._last
        # Only the formats that can start with this character are tried: on mixed input a
        # line whose format differs from the last one would otherwise run every pattern.
        c = line[:1]
        candidates = self._by_first.get(c)
        if candidates is None:
            candidates = self._by_first[c] = [e for e in self._formats if _may_start(e[0], c)]
        # A ValueError means the line is not of that format: int() refuses a number of
        # more than 4300 digits, which a line can hold where a pid or a size belongs.
        # Anything else a reader raises (a JSON value nested too deep for the code that
        # walks it, a number too large for a conversion) is a line that format could not
        # represent: it is kept as text, saying why, and never fails the chunk.
        failed: str | None = None
        if last in candidates and last[1](line):
            try:
                parsed = last[2](line)
            except ValueError:
                parsed = None
            except Exception as exc:  # noqa: BLE001 - see above: the line is kept raw
                parsed, failed = None, _failure(last[0], exc)
            if parsed is not None:
                return parsed
        for entry in candidates:
            if entry is last or not entry[1](line):
                continue
            try:
                parsed = entry[2](line)
            except ValueError:
                continue
            except Exception as exc:  # noqa: BLE001 - see above
                failed = failed or _failure(entry[0], exc)
                continue
            if parsed is not None:
                self._last = entry
                return parsed
        text = self._text(line, anywhere=self._layout is None)
        if failed is not None:
            text.kept_raw = failed
        return text

    @property
    def layout(self) -> Layout | None:
        """The layout lines are read with now, if any."""
        return self._layout.layout if self._layout is not None else None

    @property
    def layout_reader(self) -> LayoutReader | None:
        """The reader of the layout lines are read with now, if any."""
        return self._layout

    def read_elsewhere(self, lines: int) -> None:
        """``lines`` lines that fit the layout were read for this parser elsewhere (by the
        compiled lane), in order, after those it parsed: counted as ``parse`` counts them."""
        if self._adapt is not None:
            for _ in range(lines):
                self._adapt.fits()

    def use_layout(self, layout: Layout) -> LayoutReader:
        """Read with ``layout`` from now on (lines already parsed are as they were)."""
        from .layouts import LayoutReader

        self._layout = LayoutReader(layout, self.time)
        return self._layout

    # -- JSON and container logs ---------------------------------------------------------------
    def _json(self, line: str) -> Parsed | None:
        try:
            obj = _loads(line)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        if "log" in obj and "stream" in obj and isinstance(obj["log"], str):  # Docker's json-file driver
            inner = self._inner(obj["log"].rstrip("\n"))
            fields = {"stream": obj["stream"], **(inner.fields or {})}
            ts = self.time.any(obj.get("time")) or inner.ts
            return Parsed("docker", inner.message, ts, inner.level, fields)
        msg = _first(obj, _MESSAGE)
        return Parsed(
            "json",
            msg if isinstance(msg, str) else line,
            self.time.any(_first(obj, _TIME)),
            normalise_level(_first(obj, _LEVEL)),
            obj,
        )

    def _inner(self, text: str) -> Parsed:
        """A container's line, parsed by the formats other than the container wrappers."""
        for name, admits, read in self._formats:
            if name in ("cri",) or not admits(text):
                continue
            parsed = read(text)
            if parsed is not None:
                return parsed
        return self._text(text)

    _CRI = re.compile(
        r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) (stdout|stderr) ([PF]) ?(.*)", re.S
    )

    def _cri(self, line: str) -> Parsed | None:
        m = self._CRI.fullmatch(line)
        if m is None:
            return None
        inner = self._inner(m.group(4))
        fields = {"stream": m.group(2), **(inner.fields or {})}
        if m.group(3) == "P":
            fields["partial"] = True
        return Parsed("cri", inner.message, self.time.iso(m.group(1)), inner.level, fields)

    # -- GitHub Actions ------------------------------------------------------------------------
    # A line of an Actions log: a time with 7 fraction digits, then what the step wrote. The
    # runner marks its own lines ``##[error]``, ``##[group]``..., and ``[command]`` the
    # commands an action runs; a workflow command (``::error file=app.js,line=1::msg``)
    # shows as written where the runner did not take it (echoed by ``set -x``, or after
    # ``::stop-commands::``). Both say the line's level and its group's start and end.
    _GHA = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z) ?(.*)", re.S)
    _GHA_CMD = re.compile(r"##\[(group|endgroup|error|warning|notice|debug|command|section)\](.*)", re.S)
    _GHA_WORKFLOW_CMD = re.compile(
        r"::(error|warning|notice|debug|group|endgroup|add-mask|set-output|save-state|stop-commands|echo"
        r"|add-matcher|remove-matcher|add-path|set-env)(?: ([^:]*))?::(.*)",
        re.S | re.I,
    )  # the runner's commands, not any ``::name::`` (C++'s ``::std::``)
    _GHA_LEVEL = {"error": "error", "warning": "warn", "notice": "info", "debug": "debug"}
    # A workflow command's data and properties escape what would end them (%, CR, LF; and
    # in a property ``:`` and ``,``).
    _GHA_ESCAPES = re.compile(r"%(25|0D|0A|3A|2C)", re.I)
    _GHA_UNESCAPED = {"25": "%", "0D": "\r", "0A": "\n", "3A": ":", "2C": ","}

    def _github_actions(self, line: str) -> Parsed | None:
        m = self._GHA.fullmatch(line)
        if m is None:
            return None
        message, level, fields = m.group(2), None, None
        if message[:3] == "##[":
            cmd = self._GHA_CMD.match(message)
            if cmd is not None:
                kind, message = cmd.group(1), cmd.group(2)
                level = self._GHA_LEVEL.get(kind)
                fields = {"actions": kind}
        elif message[:9] == "[command]":
            message, fields = message[9:], {"actions": "command"}
        elif message[:2] == "::":
            wf = self._GHA_WORKFLOW_CMD.fullmatch(message)
            if wf is not None:
                return self._github_workflow_command(m.group(1), message, wf)
        return Parsed("github_actions", message, self.time.iso(m.group(1)), level, fields)

    def _github_workflow_command(self, ts: str, written: str, wf: re.Match[str]) -> Parsed:
        kind, props, data = wf.group(1).lower(), wf.group(2), self._gha_unescape(wf.group(3))
        fields: dict[str, Any] = {"actions": kind}
        for prop in (props or "").split(","):
            key, eq, value = prop.partition("=")
            if eq and key.strip():
                fields[key.strip()] = self._gha_unescape(value)
        if kind == "add-mask":
            # The value to mask is a secret: the runner writes *** for it, and so is it kept here.
            masked = written[: len(written) - len(wf.group(3))] + "***"
            return Parsed("github_actions", masked, self.time.iso(ts), None, fields, raw=f"{ts} {masked}")
        if kind in ("group", "endgroup") or kind in self._GHA_LEVEL:
            return Parsed("github_actions", data, self.time.iso(ts), self._GHA_LEVEL.get(kind), fields)
        return Parsed("github_actions", written, self.time.iso(ts), None, fields)

    def _gha_unescape(self, text: str) -> str:
        if "%" not in text:
            return text
        return self._GHA_ESCAPES.sub(lambda e: self._GHA_UNESCAPED[e.group(1).upper()], text)

    # -- syslog --------------------------------------------------------------------------------
    _S5424 = re.compile(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[[^\]\\]*(?:\\.[^\]\\]*)*\])+) ?(.*)", re.S)
    _SD = re.compile(r'\[([^\s\]]+)((?:\s+[^\s=\]]+="[^"\\]*(?:\\.[^"\\]*)*")*)\]')
    _SD_PARAM = re.compile(r'([^\s=\]]+)="([^"\\]*(?:\\.[^"\\]*)*)"')

    def _syslog5424(self, line: str) -> Parsed | None:
        m = self._S5424.fullmatch(line)
        if m is None:
            return None
        pri = int(m.group(1))
        if pri > 191:
            return None
        fields: dict[str, Any] = {"facility": pri >> 3}
        for key, idx in (("host", 3), ("app", 4), ("procid", 5), ("msgid", 6)):
            if m.group(idx) != "-":
                fields[key] = m.group(idx)
        if m.group(7) != "-":
            fields["sd"] = {
                sd.group(1): {k: v.replace('\\"', '"') for k, v in self._SD_PARAM.findall(sd.group(2))}
                for sd in self._SD.finditer(m.group(7))
            }
        ts = None if m.group(2) == "-" else self.time.iso(m.group(2))
        return Parsed("syslog5424", m.group(8).lstrip("\ufeff"), ts, _SYSLOG_SEVERITY[pri & 7], fields)

    _S3164 = re.compile(
        r"(?:<(\d{1,3})>)?([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(?: (\d{4}))?"
        r" (\S+)(?: ([^\s:\[]+(?:\([^)\s]*\))?)(?:\[(\d+)\])?:)? ?(.*)",
        re.S,
    )

    def _syslog3164(self, line: str) -> Parsed | None:
        m = self._S3164.fullmatch(line)
        if m is None:
            return None
        ts = self.time.syslog(m.group(2), m.group(3), m.group(4), m.group(5), m.group(6))
        if ts is None:
            return None
        fields: dict[str, Any] = {"host": m.group(7)}
        if m.group(8):
            fields["app"] = m.group(8)
        if m.group(9):
            fields["pid"] = int(m.group(9))
        level = None
        if m.group(1):
            pri = int(m.group(1))
            fields["facility"] = pri >> 3
            level = _SYSLOG_SEVERITY[pri & 7]
        return Parsed("syslog3164", m.group(10), ts, level, fields)

    # -- web servers ---------------------------------------------------------------------------
    _ACCESS = re.compile(
        r'(\S+) (\S+) (\S+) \[([^\]]+)\] "([^"\\]*(?:\\.[^"\\]*)*)" (\d{3}) (\d+|-)'
        r'(?: "([^"\\]*(?:\\.[^"\\]*)*)" "([^"\\]*(?:\\.[^"\\]*)*)")?(.*)',
        re.S,
    )

    def _access(self, line: str) -> Parsed | None:
        m = self._ACCESS.fullmatch(line)
        if m is None:
            return None
        host, _ident, user, when, request, status_text, size, referer, agent, extra = m.groups()
        ts = self.time.clf(when)
        if ts is None:
            return None
        status = int(status_text)
        fields: dict[str, Any] = {"remote_addr": host, "status": status}
        if user != "-":
            fields["user"] = user
        parts = request.split(" ")
        if len(parts) == 3:
            fields["method"], fields["path"], fields["protocol"] = parts
        if size != "-":
            fields["bytes"] = int(size)
        if referer is not None:
            fields["referer"] = referer
            fields["user_agent"] = agent
        if extra:
            fields["extra"] = extra.strip()
        return Parsed("apache_access", f"{request} {status}", ts, level_from_status(status), fields)

    _AERR = re.compile(
        r"\[((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})? \d{4})\]"
        r" \[(?:([\w-]+):)?(\w+)\](?: \[pid (\d+)(?::tid (\d+))?\])?(?: \[client ([^\]]+)\])? ?(.*)",
        re.S,
    )

    def _apache_error(self, line: str) -> Parsed | None:
        m = self._AERR.fullmatch(line)
        if m is None:
            return None
        fields: dict[str, Any] = {}
        if m.group(2):
            fields["module"] = m.group(2)
        if m.group(4):
            fields["pid"] = int(m.group(4))
        if m.group(6):
            fields["client"] = m.group(6)
        return Parsed(
            "apache_error", m.group(7), self.time.apache(m.group(1)), normalise_level(m.group(3)), fields or None
        )

    _NERR = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}:\d{2}:\d{2}) \[(\w+)\] (\d+)#(\d+): (?:\*(\d+) )?(.*)", re.S)

    def _nginx_error(self, line: str) -> Parsed | None:
        m = self._NERR.fullmatch(line)
        if m is None:
            return None
        fields: dict[str, Any] = {"pid": int(m.group(6)), "tid": int(m.group(7))}
        if m.group(8):
            fields["connection"] = int(m.group(8))
        ts = self.time.numeric(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))
        return Parsed("nginx_error", m.group(9), ts, normalise_level(m.group(5)), fields)

    # -- application layouts -------------------------------------------------------------------
    # Log4j/Logback/Python/Go-slog-like: timestamp, level, optional [thread], optional logger.
    # The logger is taken when dotted (``org.x.Y:``, ``dfs.DataNode$Responder:``) or before
    # `` - `` (Logback's default); a lone word before a colon is the message's own.
    _THREAD = r"\[((?:[^\[\]]|\[[^\]]*\])*)\]"
    _APP = re.compile(
        r"\[?(" + _ISO + r")\]?(?: +-)?(?: +" + _THREAD + r")? +\[?(" + _LW + r")\]?:?"
        r"(?: +" + _THREAD + r")?"
        r"(?: +(?:- )?(?:([A-Za-z_][\w$\-]*(?:\.[\w$\-]+)+(?:@\d+)?):|([A-Za-z_][\w.$\-]*) -)(?= ))?"
        r"(?: +-)? *(.*)",
        re.S,
    )
    # Python logging's "%(asctime)s - %(name)s - %(levelname)s - %(message)s".
    _PY = re.compile(r"(" + _ISO + r") - ([\w.\-]+) - (" + _LW + r") - (.*)", re.S)

    def _app(self, line: str) -> Parsed | None:
        m = self._PY.fullmatch(line) if " - " in line else None
        if m is not None:
            return Parsed(
                "python", m.group(4), self.time.iso(m.group(1)), normalise_level(m.group(3)), {"logger": m.group(2)}
            )
        m = self._APP.fullmatch(line)
        if m is None:
            return None
        fields: dict[str, Any] = {}
        thread = m.group(2) if m.group(2) is not None else m.group(4)
        if thread is not None:
            fields["thread"] = thread
        logger = m.group(5) or m.group(6)
        if logger:
            fields["logger"] = logger
        return Parsed("app", m.group(7), self.time.iso(m.group(1)), normalise_level(m.group(3)), fields or None)

    _ANDROID = re.compile(r"(\d{2})-(\d{2}) (\d{2}:\d{2}:\d{2})\.(\d{3}) +(\d+) +(\d+) ([VDIWEFA]) (.*?) *: (.*)", re.S)

    def _android(self, line: str) -> Parsed | None:
        m = self._ANDROID.fullmatch(line)
        if m is None:
            return None
        ts = self.time.month_day(int(m.group(1)), int(m.group(2)), m.group(3), m.group(4))
        fields = {"pid": int(m.group(5)), "tid": int(m.group(6)), "tag": m.group(8)}
        return Parsed("android", m.group(9), ts, normalise_level(m.group(7)), fields)

    _HDFS = re.compile(r"(\d{2})(\d{2})(\d{2}) (\d{6}) (\d+) (" + _LW + r") ([\w.$\-]+): (.*)", re.S)

    def _hdfs(self, line: str) -> Parsed | None:
        m = self._HDFS.fullmatch(line)
        if m is None:
            return None
        ts = self.time.numeric(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))
        fields = {"pid": int(m.group(5)), "logger": m.group(7)}
        return Parsed("app", m.group(8), ts, normalise_level(m.group(6)), fields)

    _SPARK = re.compile(r"(\d{2})/(\d{2})/(\d{2}) (\d{2}:\d{2}:\d{2}) (" + _LW + r") ([\w.$\-]+): (.*)", re.S)

    def _spark(self, line: str) -> Parsed | None:
        m = self._SPARK.fullmatch(line)
        if m is None:
            return None
        ts = self.time.numeric(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))
        return Parsed("app", m.group(7), ts, normalise_level(m.group(5)), {"logger": m.group(6)})

    _RAILS = re.compile(r"([DIWEFU]), \[(\S+) #(\d+)\] +(\w+) -- ([^:]*): (.*)", re.S)

    def _rails(self, line: str) -> Parsed | None:
        m = self._RAILS.fullmatch(line)
        if m is None:
            return None
        fields: dict[str, Any] = {"pid": int(m.group(3))}
        if m.group(5):
            fields["progname"] = m.group(5)
        return Parsed("rails", m.group(6), self.time.iso(m.group(2)), normalise_level(m.group(4)), fields)

    _PYBASIC = re.compile("(" + "|".join(_PYBASIC_LEVELS) + r"):([\w.\-]*):(.*)", re.S)

    def _python_basic(self, line: str) -> Parsed | None:
        m = self._PYBASIC.fullmatch(line)
        if m is None:
            return None
        return Parsed("python", m.group(3), None, normalise_level(m.group(1)), {"logger": m.group(2)})

    _GO = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))? (.*)", re.S)
    _LEADING_LEVEL = re.compile(r"\[?(" + _LW + r")\]?:? +(.*)", re.S)

    def _go(self, line: str) -> Parsed | None:
        m = self._GO.fullmatch(line)
        if m is None:
            return None
        ts = self.time.numeric(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5))
        message, level = m.group(6), None
        lm = self._LEADING_LEVEL.fullmatch(message)
        if lm is not None:
            level, message = normalise_level(lm.group(1)), lm.group(2)
        return Parsed("go", message, ts, level)

    # -- logfmt (Go's slog text handler, logrus, Heroku...) ------------------------------------
    _LOGFMT_PAIR = re.compile("(" + _LOGFMT_KEY + r')=("[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]*)')

    def _logfmt(self, line: str) -> Parsed | None:
        # A line of at least two pairs apart from whitespace. Split on the pairs, it is
        # [space, key, value, space, key, value, ..., space]: the spaces between pairs
        # must be whitespace, those at the ends may be empty too. (Where a pair can start,
        # the pattern's leftmost match is the only one a whole-line match could use.)
        parts = self._LOGFMT_PAIR.split(line)
        if len(parts) < 7 or (parts[0] and not parts[0].isspace()) or (parts[-1] and not parts[-1].isspace()):
            return None
        for between in parts[3:-1:3]:
            if not between.isspace():
                return None
        fields: dict[str, Any] = dict(zip(parts[1::3], parts[2::3], strict=True))
        if '"' in line:
            for key, value in fields.items():
                if len(value) >= 2 and value[0] == '"':
                    fields[key] = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        msg = _first(fields, _MESSAGE)
        return Parsed(
            "logfmt",
            msg if msg is not None else line,
            self.time.any(_first(fields, _TIME)),
            normalise_level(_first(fields, _LEVEL)),
            fields,
        )

    # -- anything else -------------------------------------------------------------------------
    _ANY_TS = re.compile(_ISO)
    _ANY_LEVEL = re.compile(r"\b(" + "|".join(map(re.escape, TEXT_LEVEL_WORDS)) + r")\b")

    _ANY_CLF = re.compile(r"\[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")

    def _text(self, line: str, anywhere: bool = True) -> Parsed:
        """Unknown text: the whole line is the message, with any timestamp and level found in it.

        A timestamp that opens the line is taken off the message. Unless ``anywhere``, only
        one that opens the line is taken at all (in a file read with a layout, a time
        further on is a message's).
        """
        head = line[:TEXT_HEAD]
        ts, message = None, line
        m = self._ANY_TS.search(head) if ":" in head else None
        if m is not None and (anywhere or m.start() <= 1):
            ts = self.time.iso(m.group(0))
            if ts is not None and m.start() <= 1:
                message = line[m.end() :].lstrip(" ]")
        elif m is None and anywhere:
            c = self._ANY_CLF.search(head) if "[" in head else None
            if c is not None:
                ts = self.time.clf(c.group(1))
        lm = self._ANY_LEVEL.search(head)
        return Parsed(TEXT_FORMAT, message, ts, normalise_level(lm.group(1)) if lm else None)


_default: Parser | None = None


def parse_line(line: str) -> Parsed:
    """Parse one line with a shared default parser (UTC, year inferred against now)."""
    global _default
    if _default is None:
        _default = Parser()
    return _default.parse(line)
