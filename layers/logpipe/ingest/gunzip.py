"""Streaming gzip decompression with bounded memory, multi-member aware."""

from __future__ import annotations

import zlib
from collections.abc import Callable

from ..errors import PermanentError

GZIP_MAGIC = b"\x1f\x8b"
_IN_BLOCK = 256 * 1024


class DamagedInputError(PermanentError):
    """The object cannot be read to its end (truncated or corrupt gzip)."""


class GunzipReader:
    """``read(n)`` over the decompressed bytes of a ``read(n)`` of gzip bytes.

    Never holds more than one input block and ``n`` output bytes. Raises
    ``DamagedInputError`` when the stream ends before its gzip trailer or is corrupt.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._src = read
        self._d = zlib.decompressobj(wbits=31)
        self._tail = b""  # compressed input not yet fed
        self.compressed_read = 0
        self._done = False

    def read(self, n: int) -> bytes:
        out: list[bytes] = []
        want = n
        while want > 0 and not self._done:
            data = self._d.unconsumed_tail or self._tail
            self._tail = b""
            if not data:
                data = self._src(_IN_BLOCK)
                self.compressed_read += len(data)
                if not data:
                    if not self._d.eof:
                        raise DamagedInputError(
                            f"gzip stream is truncated: it ends after {self.compressed_read} compressed bytes "
                            "without its trailer"
                        )
                    self._done = True
                    break
            if self._d.eof:
                # A new gzip member follows the previous one (concatenated .gz files).
                self._d = zlib.decompressobj(wbits=31)
            try:
                chunk = self._d.decompress(data, want)
            except zlib.error as exc:
                raise DamagedInputError(
                    f"gzip stream is corrupt near compressed byte {self.compressed_read}: {exc}"
                ) from exc
            if self._d.eof:
                self._tail = self._d.unused_data
                if not self._tail and not self._d.unconsumed_tail:
                    # Peek: is there another member, or is this the end?
                    more = self._src(_IN_BLOCK)
                    self.compressed_read += len(more)
                    if more:
                        self._tail = more
                    else:
                        self._done = True
            elif not self._d.unconsumed_tail:
                self._tail = b""
            out.append(chunk)
            want -= len(chunk)
        return b"".join(out)
