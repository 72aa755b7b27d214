"""gzip: told by its magic bytes (never by a name), and read back in a stream with bounded memory.

Whatever reads an object or a file (the parse-worker, ``logpipe parse``, ``logpipe
patterns``) tells gzip from plain text here, and only here.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import PermanentError

GZIP_MAGIC = b"\x1f\x8b"
_IN_BLOCK = 256 * 1024

Read = Callable[[int], bytes]


def compression_of(head: bytes) -> str | None:
    """``"gzip"`` when ``head`` (the first bytes of a stream) starts as gzip does, else None (plain)."""
    return "gzip" if head.startswith(GZIP_MAGIC) else None


@dataclass(frozen=True)
class Limits:
    """How far a compressed stream may expand before it is taken for a decompression bomb.

    ``max_bytes``: text in all; ``max_ratio``: text per compressed byte read, judged once
    ``ratio_after`` bytes of text came out (the first blocks of any log expand far more
    than the whole does).
    """

    max_bytes: int
    max_ratio: int
    ratio_after: int = 64 * 1024 * 1024


def decompressed(read: Read, compression: str | None, limits: Limits | None = None) -> Read:
    """A ``read(n)`` of the text that ``read`` holds compressed with ``compression``, which
    raises InputLimitError, after the text up to them, past ``limits``."""
    return GunzipReader(read, limits).read if compression == "gzip" else read


@contextmanager
def open_text(path: Path) -> Iterator[Read]:
    """A ``read(n)`` of a local file's text, plain or gzip; the file is closed on leaving."""
    with open(path, "rb") as fh:
        head = fh.read(len(GZIP_MAGIC))
        fh.seek(0)
        yield decompressed(fh.read, compression_of(head))


class DamagedInputError(PermanentError):
    """The object cannot be read to its end (truncated or corrupt gzip)."""


class InputLimitError(DamagedInputError):
    """The object is not read past a limit (``Limits``, or the lines of a file): what came
    before it is kept, as before damage."""


class GunzipReader:
    """``read(n)`` over the decompressed bytes of a ``read(n)`` of gzip bytes.

    Never holds more than one input block and ``n`` output bytes. Concatenated members
    (``cat a.gz b.gz``) read as one stream. When the stream is truncated or corrupt, every
    byte decompressed before the damage is returned first; the read after that raises
    ``DamagedInputError``, and so does every later one.
    """

    def __init__(self, read: Read, limits: Limits | None = None) -> None:
        self._src = read
        self._src_ended = False
        self._d = zlib.decompressobj(wbits=31)
        self.compressed_read = 0
        self.decompressed = 0
        self._limits = limits
        self._done = False
        self._damage: DamagedInputError | None = None

    def _more(self) -> bytes:
        if self._src_ended:
            return b""
        data = self._src(_IN_BLOCK)
        self.compressed_read += len(data)
        self._src_ended = not data
        return data

    def read(self, n: int) -> bytes:
        if self._damage is not None:
            raise self._damage
        out: list[bytes] = []
        want = n
        while want > 0 and not self._done:
            if self._d.eof:
                data = self._d.unused_data or self._more()
                if not data:
                    self._done = True
                    break
                # Another gzip member follows the one that just ended.
                self._d = zlib.decompressobj(wbits=31)
            else:
                # An empty input still drains output zlib holds back because of ``want``.
                data = self._d.unconsumed_tail or self._more()
            try:
                chunk = self._d.decompress(data, want)
            except zlib.error as exc:
                self._damage = DamagedInputError(
                    f"gzip stream is corrupt near compressed byte {self.compressed_read}: {exc}"
                )
                break
            if not chunk and not data and not self._d.eof:
                self._damage = DamagedInputError(
                    f"gzip stream is truncated: it ends after {self.compressed_read} compressed bytes "
                    "without its trailer"
                )
                break
            if self._limits is not None:
                chunk = self._within(chunk)
            out.append(chunk)
            want -= len(chunk)
            if self._damage is not None:
                break
        text = b"".join(out)
        if not text and self._damage is not None:
            raise self._damage
        return text

    def _within(self, chunk: bytes) -> bytes:
        """``chunk``, or as much of it as the limits allow (the next read then raises)."""
        limits = self._limits
        assert limits is not None
        room = limits.max_bytes - self.decompressed
        if len(chunk) > room:
            chunk = chunk[: max(room, 0)]
            self._damage = InputLimitError(
                f"gzip expands past {limits.max_bytes} bytes of text (LOGPIPE_MAX_DECOMPRESSED_BYTES): "
                f"the text after byte {limits.max_bytes} is not parsed"
            )
        self.decompressed += len(chunk)
        total, packed = self.decompressed, max(self.compressed_read, 1)
        if self._damage is None and total > limits.ratio_after and total > limits.max_ratio * packed:
            self._damage = InputLimitError(
                f"gzip expands more than {limits.max_ratio} times (LOGPIPE_MAX_GZIP_RATIO): {total} bytes of text "
                f"from {packed} bytes of gzip, as a decompression bomb does; the text after that is not parsed"
            )
        return chunk
