"""Text as PostgreSQL can hold it: the one definition of what becomes of NUL and lone surrogates.

Postgres text holds neither NUL nor a lone surrogate (which JSON can escape: ``"\\ud800"``),
and refuses the row that carries one. Both become U+FFFD, as invalid UTF-8 does when
bytes are decoded, so a bad character costs the character and never the line.
"""

from __future__ import annotations

import re

NUL = "\x00"
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def without_nul(text: str) -> str:
    """``text`` with each NUL as U+FFFD."""
    return text.replace(NUL, REPLACEMENT) if NUL in text else text


def storable(text: str) -> str:
    """``text`` with each NUL and each lone surrogate as U+FFFD; unchanged when it has neither."""
    if NUL not in text and text.isascii():  # most messages: nothing to look for
        return text
    text = without_nul(text)
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
