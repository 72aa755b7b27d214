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
from dataclasses import dataclass
from typing import cast

from .formats import Parsed
from .guards import Guard
from .lines import Line, Run

# The rules' opening lines, as guards (see ``guards``), which the compiled lane runs too.
_PY_HEAD = Guard(
    r"Traceback \(most recent call last\):"
    r"|During handling of the above exception"
    r"|The above exception was the direct cause"
)
_PY_FINAL = re.compile(r"[A-Za-z_][\w.]*(?:Error|Exception|Warning|Exit|Interrupt|Iteration|Fault|Failure)(?::.*)?")
_JAVA_MARK = Guard(r"Caused by: |\.\.\. \d+ more|\.\.\. \d+ common frames omitted|Suppressed: ")
_JAVA_EXC = re.compile(
    r'(?:Exception in thread "[^"]*" )?(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)\b.*'
)
# What every line that ``_JAVA_EXC`` matches starts with (the tests hold it to the pattern,
# on lines generated from it): where a Java exception's line may be, as a guard can say it.
JAVA_EXC_GUARD = Guard(r'Exception in thread "|[a-z_$][\w$]*\.')
_GO_HEAD = Guard(r"panic: |fatal error: ")
_GOROUTINE = "goroutine "
_GO_CONT = re.compile(_GOROUTINE + r"\d+ \[[^\]]*\]:|[\w./*()\[\]{}-]+\(.*\)$|created by |\[signal |exit status \d+$")
INDENT = (" ", "\t")

# One regex for "could this line continue some event?", used to choose chunk boundaries.
_MAYBE = re.compile(
    r"[ \t]|$|" + _PY_HEAD.pattern + "|" + _PY_FINAL.pattern + "$|" + _JAVA_MARK.pattern + "|" + _JAVA_EXC.pattern
    + "$|" + _GO_CONT.pattern
)  # fmt: skip


def can_continue(text: str) -> bool:
    """False when ``text`` starts a new event whatever precedes it (a safe chunk boundary)."""
    return _MAYBE.match(text) is not None


# First characters of the lines that a rule may join to an event before the line is parsed
# (indented and blank lines, Python traceback heads, Java markers, goroutine headers): any
# other line is parsed straight away. "" stands for the empty line.
JOINS_UNPARSED = frozenset(("", *INDENT, _GOROUTINE[0])) | _PY_HEAD.first_chars() | _JAVA_MARK.first_chars()
# What each opening rule's pattern can start with.
_GO_FIRST = _GO_HEAD.first_chars()
_PY_FIRST = _PY_HEAD.first_chars()
_JAVA_FIRST = JAVA_EXC_GUARD.first_chars()
# Lines that may open an event in a mode of its own (a Go panic, a traceback, a Java exception).
OPENS_MODE = (_GO_HEAD, _PY_HEAD, JAVA_EXC_GUARD)


@dataclass(slots=True)
class Event:
    line: int  # number of its first line
    start_offset: int  # where its first line starts
    end_offset: int  # just past its last line
    parsed: Parsed
    texts: list[str]
    truncated: bool  # some line of it was cut at the line length limit
    mode: str = ""
    size: int = 0
    truncated_lines: int = 0  # how many

    @property
    def line_count(self) -> int:
        return len(self.texts)

    def message(self) -> str:
        if len(self.texts) == 1:
            return self.parsed.message
        return "\n".join([self.parsed.message, *self.texts[1:]])

    def raw(self) -> str:
        texts = self.texts
        return texts[0] if len(texts) == 1 else "\n".join(texts)


def _opening_mode(text: str) -> str:
    """The mode a line puts the event it opens in: a Go panic, a traceback, a Java exception, or none."""
    c = text[:1]
    if c in _GO_FIRST and _GO_HEAD.admits(text):
        return "go"
    if c in _PY_FIRST and _PY_HEAD.admits(text):
        return "python"
    if c in _JAVA_FIRST and _JAVA_EXC.fullmatch(text):
        return "java"
    return ""


def _finished(ev: Event) -> Event:
    """``ev``, complete: a traceback, exception or panic with no level of its own is an error."""
    if ev.mode and ev.parsed.level is None:
        ev.parsed.level = "error"
    return ev


class Joiner:
    """Turns ``Line``s into ``Event``s. ``parse`` parses an event's first line.

    ``parse`` is called once for each line that opens an event, and for each other line
    that the rules cannot place without knowing whether it has a timestamp, in order:
    the same calls whatever path a line takes, so a stateful parser sees the same lines.
    """

    def __init__(self, parse: Callable[[str], Parsed], *, max_lines: int = 1000, max_bytes: int = 256 * 1024) -> None:
        self.parse = parse
        self.max_lines = max_lines
        self.max_bytes = max_bytes

    def _continues(self, ev: Event, text: str) -> tuple[bool, Parsed | None]:
        """Does ``text`` belong to ``ev``? Returns the line's parse when it had to parse it."""
        if len(ev.texts) >= self.max_lines or ev.size + len(text) > self.max_bytes:
            return False, None
        c = text[:1]
        if c in INDENT:
            if text.strip():
                return True, None
            return ev.mode in ("python", "go"), None
        if not text:
            return ev.mode in ("python", "go"), None
        if _PY_HEAD.admits(text):
            # A traceback belongs to the log line just before it (logging.exception), or to
            # the traceback it chains from; anywhere else it opens an event of its own.
            if ev.mode == "python" or (ev.mode == "" and len(ev.texts) == 1 and ev.parsed.ts is not None):
                ev.mode = "python"
                return True, None
            return False, None
        if _JAVA_MARK.admits(text):
            ev.mode = ev.mode or "java"
            return True, None
        if ev.mode == "go" and _GO_CONT.match(text):
            return True, None
        if text.startswith(_GOROUTINE) and _GO_CONT.match(text):
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

    def events(self, lines: Iterable[Line], *, first_line: int, start_offset: int) -> Iterator[Event]:
        return cast(Iterator[Event], self.events_and_runs(lines, first_line=first_line, start_offset=start_offset))

    def events_and_runs(
        self, lines: Iterable[Line | Run], *, first_line: int, start_offset: int
    ) -> Iterator[Event | Run]:
        """As ``events``, where runs of lines a lane took pass through as they are: the
        event before a run is complete, as no rule joins its first line to it."""
        parse = self.parse
        max_lines, max_bytes = self.max_lines, self.max_bytes
        current: Event | None = None
        number = first_line
        offset = start_offset
        for line in lines:
            if isinstance(line, Run):
                if current is not None:
                    yield _finished(current)
                    current = None
                if line.line != number:
                    raise ValueError(f"a run of lines starts at line {line.line}, expected {number}")
                yield line  # read by the lane by the time it asks for more
                number += line.lines
                offset = line.end_offset
                continue
            text = line.text
            parsed: Parsed | None = None
            if current is not None:
                if current.mode or text[:1] in JOINS_UNPARSED:
                    joins, parsed = self._continues(current, text)
                elif len(current.texts) >= max_lines or current.size + len(text) > max_bytes:
                    joins = False
                else:
                    # The common case, the rules of ``_continues`` for a line that no rule
                    # takes unparsed: it joins only as a Java exception line.
                    parsed = parse(text)
                    joins = (
                        parsed.ts is None
                        and current.parsed.ts is not None
                        and text[:1] in _JAVA_FIRST
                        and _JAVA_EXC.fullmatch(text) is not None
                    )
                    if joins:
                        current.mode = "java"
                        parsed = None
                if joins:
                    current.texts.append(text)
                    current.size += len(text) + 1
                    current.end_offset = line.end_offset
                    if line.truncated:
                        current.truncated = True
                        current.truncated_lines += 1
                    number += 1
                    offset = line.end_offset
                    continue
                yield _finished(current)
            if parsed is None:
                parsed = parse(text)
            truncated = line.truncated
            current = Event(
                number, offset, line.end_offset, parsed, [text], truncated, _opening_mode(text), len(text),
                1 if truncated else 0,
            )  # fmt: skip
            number += 1
            offset = line.end_offset
        if current is not None:
            yield _finished(current)
