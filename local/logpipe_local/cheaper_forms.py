"""Cheaper multipart uploads for the runner's moto: each browser upload is a presigned POST,
a ``multipart/form-data`` body whose boundary is new in every request.

Two parts of moto's server compiled a regular expression from that boundary for every
upload, which Python's regular-expression cache cannot help with (a new pattern each time):
about a fifth of moto's CPU while it took small files.

- werkzeug's multipart decoder compiles two patterns that find the boundary line. Here
  they are replaced by ``BoundarySearch``, which finds the boundary with ``bytes.find`` and
  checks what surrounds it with a pattern compiled once; it answers as the regular
  expression it replaces does (the tests compare the two on many bodies).
- ``http.server`` parses a request's header block with ``email``'s full parser, which, for
  a multipart content type, compiles the boundary to look for parts in the (empty) text
  after the headers. The header block is parsed as headers only.

And werkzeug formats a log line for every request (its address, its date) before its
logger drops it; the line is formatted only when the logger would write it.
"""

from __future__ import annotations

import email.parser
import http.client
import logging
import re
from typing import Any

# What may follow a boundary: ``--`` and the end of the form, or the end of the boundary's
# line (RFC 2046 lets trailing blanks in), as werkzeug's decoder reads them.
_TAIL = re.compile(rb"(--[^\S\n\r]*(?:\r\n|\n|\r)?|[^\S\n\r]*(?:\r\n|\n|\r))")


class BoundaryMatch:
    """The parts of ``re.Match`` the decoder reads: ``start()``, ``end()``, ``group(1)`` (the
    boundary's tail)."""

    __slots__ = ("_end", "_start", "_tail")

    def __init__(self, start: int, end: int, tail: bytes) -> None:
        self._start, self._end, self._tail = start, end, tail

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, n: int) -> bytes:
        if n != 1:
            raise IndexError("no such group")
        return self._tail


class BoundarySearch:
    """``re.compile(rb"LB--<boundary>(<tail>)")``'s ``search``, where LB is a line break
    (``\\r\\n``, ``\\n`` or ``\\r``): required before the boundary between parts, optional
    before the first one (``line_break=False``)."""

    __slots__ = ("_line_break", "_marker")

    def __init__(self, boundary: bytes, *, line_break: bool) -> None:
        self._marker = b"--" + boundary
        self._line_break = line_break

    def search(self, data: bytes | bytearray, pos: int = 0) -> BoundaryMatch | None:
        marker = self._marker
        at = data.find(marker, pos)
        while at >= 0:
            # The leftmost match: from the line break just before the boundary, if any.
            if at - 2 >= pos and data[at - 2 : at] == b"\r\n":
                start = at - 2
            elif at - 1 >= pos and data[at - 1] in (0x0A, 0x0D):
                start = at - 1
            else:
                start = -1 if self._line_break else at
            if start >= 0:
                tail = _TAIL.match(data, at + len(marker))
                if tail is not None:
                    return BoundaryMatch(start, tail.end(), tail.group(1))
            at = data.find(marker, at + 1)
        return None


def _parse_headers(fp: Any, _class: Any = http.client.HTTPMessage) -> Any:
    """``http.client.parse_headers``, reading the block as headers only: with the full parser,
    a multipart content type has ``email`` compile its boundary and look for parts in the
    empty text that follows the headers."""
    headers = http.client._read_headers(fp)  # type: ignore[attr-defined]
    text = b"".join(headers).decode("iso-8859-1")
    return email.parser.Parser(_class=_class).parsestr(text, headersonly=True)


def apply() -> None:
    """Install the three changes in this process (moto's, which serves nothing else). Each is
    left out, and werkzeug's own code kept, if werkzeug is not as they expect."""
    from werkzeug.sansio import multipart
    from werkzeug.serving import WSGIRequestHandler

    decoder = multipart.MultipartDecoder
    init = decoder.__init__
    if not getattr(init, "logpipe_cheaper", False) and _decoder_as_expected(decoder):

        def __init__(self: Any, boundary: bytes, *args: Any, **kwargs: Any) -> None:
            # A fixed boundary, whose two patterns ``re``'s cache holds after the first
            # time; the real one is searched for without a pattern of its own.
            init(self, b"logpipe", *args, **kwargs)
            self.boundary = boundary
            self.preamble_re = BoundarySearch(boundary, line_break=False)
            self.boundary_re = BoundarySearch(boundary, line_break=True)

        __init__.logpipe_cheaper = True  # type: ignore[attr-defined]
        decoder.__init__ = __init__  # type: ignore[method-assign]

    if hasattr(http.client, "_read_headers"):
        http.client.parse_headers = _parse_headers

    log_request = WSGIRequestHandler.log_request
    if not getattr(log_request, "logpipe_cheaper", False):

        def quiet_log_request(self: Any, *args: Any, **kwargs: Any) -> None:
            if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
                log_request(self, *args, **kwargs)

        quiet_log_request.logpipe_cheaper = True  # type: ignore[attr-defined]
        WSGIRequestHandler.log_request = quiet_log_request  # type: ignore[method-assign]


def _decoder_as_expected(decoder: Any) -> bool:
    """Whether werkzeug's decoder keeps its boundary patterns where ``apply`` replaces them."""
    try:
        probe = decoder(b"probe")
    except TypeError:  # another signature
        return False
    return all(hasattr(probe, name) for name in ("boundary", "preamble_re", "boundary_re"))
