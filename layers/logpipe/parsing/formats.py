"""Recognising a line's format and pulling out its time, level, message and fields.

Detection is per line, from content: JSON objects, logfmt, and plain text that starts
with a timestamp and a level. Anything else is still an event (format ``text``) with the
whole line as its message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")

_LEVEL_WORDS = {
    "trace": "trace",
    "trc": "trace",
    "finest": "trace",
    "finer": "trace",
    "debug": "debug",
    "dbg": "debug",
    "fine": "debug",
    "verbose": "debug",
    "info": "info",
    "inf": "info",
    "information": "info",
    "informational": "info",
    "notice": "info",
    "warn": "warn",
    "warning": "warn",
    "wrn": "warn",
    "error": "error",
    "err": "error",
    "eror": "error",
    "severe": "error",
    "fatal": "fatal",
    "critical": "fatal",
    "crit": "fatal",
    "panic": "fatal",
    "emerg": "fatal",
    "emergency": "fatal",
    "alert": "fatal",
}

TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "datetime", "date", "t")
LEVEL_KEYS = ("level", "severity", "lvl", "loglevel", "log.level", "levelname", "status")
MESSAGE_KEYS = ("msg", "message", "log", "text", "event")

_ISO = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?"
_PLAIN = re.compile(
    r"^\[?(?P<ts>" + _ISO + r")\]?\s*"
    r"(?:[\[(]?(?P<level>[A-Za-z]{3,11})[\])]?:?\s+)?"
    r"(?P<msg>.*)$",
    re.DOTALL,
)
_LOGFMT_PAIR = re.compile(r'([A-Za-z_][\w.\-/]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_LOGFMT_SHAPE = re.compile(
    r'^\s*[A-Za-z_][\w.\-/]*=("(?:[^"\\]|\\.)*"|\S*)(\s+[A-Za-z_][\w.\-/]*=("(?:[^"\\]|\\.)*"|\S*))+\s*$'
)


@dataclass(slots=True)
class Parsed:
    format: str
    message: str
    ts: datetime | None = None
    level: str | None = None
    fields: dict[str, Any] | None = None


def normalise_level(word: object) -> str | None:
    if word is None:
        return None
    if isinstance(word, int) and not isinstance(word, bool):
        # pino/bunyan numeric levels
        for bound, name in ((10, "trace"), (20, "debug"), (30, "info"), (40, "warn"), (50, "error"), (60, "fatal")):
            if word <= bound:
                return name
        return "fatal"
    return _LEVEL_WORDS.get(str(word).strip().lower())


def parse_time(value: object) -> datetime | None:
    """A UTC datetime from an ISO 8601 string or epoch seconds/millis/nanos; None if it is neither.

    Naive timestamps are taken as UTC (the per-source timezone arrives with the parsing issue).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = float(value)
        if seconds > 1e17:
            seconds /= 1e9
        elif seconds > 1e14:
            seconds /= 1e6
        elif seconds > 1e11:
            seconds /= 1e3
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-":
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return None
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return None


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in obj:
            return key, obj[key]
    return None, None


def _parse_json(line: str) -> Parsed | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    _, ts_value = _first(obj, TIME_KEYS)
    _, level_value = _first(obj, LEVEL_KEYS)
    level = normalise_level(level_value)
    _, msg_value = _first(obj, MESSAGE_KEYS)
    message = msg_value if isinstance(msg_value, str) else line
    return Parsed("json", message, parse_time(ts_value), level, obj)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


def _parse_logfmt(line: str) -> Parsed | None:
    if not _LOGFMT_SHAPE.match(line):
        return None
    fields = {k: _unquote(v) for k, v in _LOGFMT_PAIR.findall(line)}
    _, ts_value = _first(fields, TIME_KEYS)
    _, level_value = _first(fields, LEVEL_KEYS)
    _, msg_value = _first(fields, MESSAGE_KEYS)
    return Parsed(
        "logfmt",
        msg_value if msg_value is not None else line,
        parse_time(ts_value),
        normalise_level(level_value),
        fields,
    )


def _parse_plain(line: str) -> Parsed | None:
    m = _PLAIN.match(line)
    if m is None:
        return None
    level = normalise_level(m.group("level"))
    message = m.group("msg")
    if level is None and m.group("level"):
        # The word after the timestamp was not a level: it belongs to the message.
        message = line[m.end("ts") :].lstrip(" ]")
    return Parsed("text", message, parse_time(m.group("ts")), level)


def parse_line(line: str) -> Parsed:
    """Parse one line (already decoded, without its newline). Never raises."""
    head = line[:1]
    if head == "{":
        parsed = _parse_json(line)
        if parsed is not None:
            return parsed
    elif head.isdigit() or head == "[":
        parsed = _parse_plain(line)
        if parsed is not None:
            return parsed
    if "=" in line:
        parsed = _parse_logfmt(line)
        if parsed is not None:
            return parsed
    return Parsed("text", line)
