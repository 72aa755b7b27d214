"""Stream positions: what an SSE ``id`` says, and where a reconnecting client resumes.

An entry of the stream log has a position ``P`` (see ``logpipe.db.stream``). The events
of a batch entry are sent with ids ``P:L`` (``L`` their line), and the entry ends with
an item whose id is ``P`` (the file's progress after the batch); an entry of one item
(a file's change of status, a delivery) has the id ``P``. So ``P`` means "entry P and
everything before it", ``P:L`` "entry P up to line L": both are final once a client has
seen them, and resuming after them repeats nothing and skips nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BadRequestError

WHOLE = 1 << 62  # a line past any real line: the entry is done
_ID = re.compile(r"^(\d{1,18})(?::(\d{1,18}))?$")


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """Delivered through entry ``pos``, up to line ``line`` of it (``WHOLE``: all of it)."""

    pos: int
    line: int = WHOLE

    @property
    def whole(self) -> bool:
        return self.line == WHOLE

    def __str__(self) -> str:
        return str(self.pos) if self.whole else f"{self.pos}:{self.line}"


def event_id(pos: int, line: int) -> str:
    return f"{pos}:{line}"


def parse(text: str, name: str = "Last-Event-ID") -> Position:
    """A position as a client sends it back; BadRequestError saying what is wrong."""
    m = _ID.match(text.strip())
    if m is None:
        raise BadRequestError(
            f"{name} {text[:64]!r} is not a stream position: send back the 'id' of the last event received "
            "(P or P:L), or leave it out to start from now"
        )
    pos, line = int(m.group(1)), m.group(2)
    return Position(pos, WHOLE if line is None else int(line))
