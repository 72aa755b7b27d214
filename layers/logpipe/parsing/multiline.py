"""Joining the lines of one event: Python tracebacks, Java exceptions, Go panics, indented lines.

The rules keep their state per event (the mode its lines put it in), never across events.
That is what lets a chunk start at any line that ``can_continue`` says no to and read
exactly what a single pass over the whole file would: such a line starts a new event
whatever came before it.

- Indented lines continue the current event.
- ``Traceback (most recent call last):`` right after a timestamped log line continues it
  (as ``logging.exception`` writes it) and puts it in Python mode, where indented and blank
  lines, ``During handling...``/``The above exception...`` with the traceback after it,
  and the final ``SomeError: message`` line continue it too. Elsewhere a traceback opens
  an event of its own.
- Java: ``Caused by:``, ``... N more``, ``Suppressed:`` and an exception class line
  (``java.lang.IllegalStateException: boom``) right after a log line continue it.
- Go: an event opened by ``panic:`` or ``fatal error:`` (or one that meets a
  ``goroutine N [state]:`` line) takes blank lines, goroutine headers, function lines
  (``main.main()``), ``created by ...``, ``[signal ...`` and ``exit status N``.
- A line that the parser gives a timestamp of its own always starts a new event.
- An event stops growing at ``max_lines`` lines or ``max_bytes`` bytes; the next line
  then starts a new event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .formats import Parsed
from .lines import Line

_PY_HEAD = re.compile(
    r"Traceback \(most recent call last\):"
    r"|During handling of the above exception"
    r"|The above exception was the direct cause"
)
_PY_FINAL = re.compile(r"[A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt|Iteration|Fault|Failure)(?::.*)?")
_JAVA_MARK = re.compile(r"Caused by: |\.\.\. \d+ (?:more|common frames omitted)|Suppressed: ")
_JAVA_EXC = re.compile(
    r'(?:Exception in thread "[^"]*" )?(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)\b.*'
)
_GO_HEAD = re.compile(r"panic: |fatal error: ")
_GO_CONT = re.compile(r"goroutine \d+ \[[^\]]*\]:|[\w./*()\[\]{}-]+\(.*\)$|created by |\[signal |exit status \d+$")

# One regex for "could this line continue some event?", used to choose chunk boundaries.
_MAYBE = re.compile(
    r"[ \t]|$|" + _PY_HEAD.pattern + "|" + _PY_FINAL.pattern + "$|" + _JAVA_MARK.pattern + "|" + _JAVA_EXC.pattern
    + "$|" + _GO_CONT.pattern
)  # fmt: skip


def can_continue(text: str) -> bool:
    """False when ``text`` starts a new event whatever precedes it (a safe chunk boundary)."""
    return _MAYBE.match(text) is not None


@dataclass(slots=True)
class Event:
    line: int  # number of its first line
    start_offset: int  # where its first line starts
    end_offset: int  # just past its last line
    parsed: Parsed
    texts: list[str]
    truncated: bool
    mode: str = ""
    size: int = 0
    raw_lines: list[str] = field(default_factory=list)

    @property
    def line_count(self) -> int:
        return len(self.texts)

    def message(self) -> str:
        if len(self.texts) == 1:
            return self.parsed.message
        return "\n".join([self.parsed.message, *self.texts[1:]])

    def raw(self) -> str:
        return "\n".join(self.texts)


class Joiner:
    """Turns ``Line``s into ``Event``s. ``parse`` parses an event's first line."""

    def __init__(self, parse: Callable[[str], Parsed], *, max_lines: int = 1000, max_bytes: int = 256 * 1024) -> None:
        self.parse = parse
        self.max_lines = max_lines
        self.max_bytes = max_bytes

    def _continues(self, ev: Event, text: str) -> tuple[bool, Parsed | None]:
        """Does ``text`` belong to ``ev``? Returns the line's parse when it had to parse it."""
        if ev.line_count >= self.max_lines or ev.size + len(text) > self.max_bytes:
            return False, None
        c = text[:1]
        if c == " " or c == "\t":
            if text.strip():
                return True, None
            return ev.mode in ("python", "go"), None
        if not text:
            return ev.mode in ("python", "go"), None
        if _PY_HEAD.match(text):
            # A traceback belongs to the log line just before it (logging.exception), or to
            # the traceback it chains from; anywhere else it opens an event of its own.
            if ev.mode == "python" or (ev.mode == "" and ev.line_count == 1 and ev.parsed.ts is not None):
                ev.mode = "python"
                return True, None
            return False, None
        if _JAVA_MARK.match(text):
            ev.mode = ev.mode or "java"
            return True, None
        if ev.mode == "go" and _GO_CONT.match(text):
            return True, None
        if text.startswith("goroutine ") and _GO_CONT.match(text):
            ev.mode = "go"
            return True, None
        parsed = self.parse(text)
        if parsed.ts is not None:
            return False, parsed
        if ev.mode == "python" and _PY_FINAL.fullmatch(text):
            return True, None
        if ev.mode in ("", "java") and ev.parsed.ts is not None and _JAVA_EXC.fullmatch(text):
            ev.mode = "java"
            return True, None
        return False, parsed

    def _open(self, line: Line, start: int, number: int, parsed: Parsed | None) -> Event:
        text = line.text
        parsed = parsed or self.parse(text)
        mode = ""
        if _GO_HEAD.match(text):
            mode = "go"
        elif _PY_HEAD.match(text):
            mode = "python"
        elif _JAVA_EXC.fullmatch(text):
            mode = "java"
        return Event(number, start, line.end_offset, parsed, [text], line.truncated, mode, len(text))

    def events(self, lines: Iterable[Line], *, first_line: int, start_offset: int) -> Iterator[Event]:
        current: Event | None = None
        number = first_line
        offset = start_offset
        for line in lines:
            text = line.text
            if current is not None:
                joins, parsed = self._continues(current, text)
                if joins:
                    current.texts.append(text)
                    current.size += len(text) + 1
                    current.end_offset = line.end_offset
                    current.truncated = current.truncated or line.truncated
                    number += 1
                    offset = line.end_offset
                    continue
                yield self._finish(current)
            else:
                parsed = None
            current = self._open(line, offset, number, parsed)
            number += 1
            offset = line.end_offset
        if current is not None:
            yield self._finish(current)

    @staticmethod
    def _finish(ev: Event) -> Event:
        if ev.mode and ev.parsed.level is None:
            ev.parsed.level = "error"  # a traceback, exception or panic with no level of its own
        return ev
