"""The search language of ``q``, defined once: the stream, the search API and the index
all ask this module whether an event matches.

- ``word`` or ``"exact phrase"``: the text occurs in the message, ASCII letters in any
  case, and does not start or end inside a word of the message (``error`` matches
  ``ERROR:`` and ``an error.``, not ``errors``; ``"disk full"`` matches ``Disk full!``).
  Words are runs of letters, digits and ``_`` (Python's ``\\w``).
- ``-word``, ``-"phrase"``: the message must not contain it.
- ``fields.KEY=VALUE`` (``KEY`` may be a dotted path into nested fields, ``VALUE`` may be
  quoted): the parsed field is a string, number or boolean whose text is ``VALUE``
  (numbers as written, booleans as ``true``/``false``); ``-fields.KEY=VALUE`` excludes.

Every term must hold. SQL may narrow the rows first (``prefilter``) but only with a
condition that every matching event meets; the final word is ``Query.matches``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import BadRequestError

MAX_LENGTH = 1000
MAX_TERMS = 32
_WORD = re.compile(r"\w+")
_FIELD_KEY = re.compile(r"^[A-Za-z0-9_@$-]+(\.[A-Za-z0-9_@$-]+)*$")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """``text`` with its ASCII letters in lower case (and nothing else changed, so that
    folding never makes two different non-ASCII texts alike)."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def tokens(text: str) -> list[str]:
    """The words of ``text``, folded: what the search index records of a message."""
    return _WORD.findall(fold(text))


@dataclass(frozen=True)
class Text:
    """A word or phrase, as typed, and the pattern that finds it in a folded message."""

    text: str
    negated: bool = False
    pattern: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        folded = fold(self.text)
        left = r"(?<!\w)" if _WORD.match(folded[:1]) else ""
        right = r"(?!\w)" if _WORD.match(folded[-1:]) else ""
        object.__setattr__(self, "pattern", re.compile(left + re.escape(folded) + right))

    def found_in(self, folded_message: str) -> bool:
        return self.pattern.search(folded_message) is not None

    def words(self) -> list[str]:
        """Words the message must have whole (every word of the text, given the edges rule)."""
        return tokens(self.text)


@dataclass(frozen=True)
class FieldEquals:
    path: tuple[str, ...]
    value: str
    negated: bool = False

    def holds(self, fields: Any) -> bool:
        node = fields
        for key in self.path:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return scalar_text(node) == self.value


def scalar_text(value: Any) -> str | None:
    """A field's value as ``fields #>> path`` gives it for a scalar, else None.

    Numbers must come from ``parse_fields`` (their text as written, kept by jsonb)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):  # strings, and numbers kept as their text
        return str(value)
    return None


class _Number(str):
    """A JSON number, kept as its text."""


def parse_fields(text: str | None) -> Any:
    """The fields of an event from their JSON text, numbers kept as they were written."""
    if text is None:
        return None
    return json.loads(text, parse_float=_Number, parse_int=_Number)


@dataclass(frozen=True)
class Query:
    """A parsed ``q``: the conjunction of its terms. An empty query matches everything."""

    texts: tuple[Text, ...] = ()
    fields: tuple[FieldEquals, ...] = ()
    source: str = ""

    def __bool__(self) -> bool:
        return bool(self.texts or self.fields)

    def matches(self, message: str, fields: Any) -> bool:
        """Whether an event with this message and these fields (``parse_fields``) matches."""
        if self.texts:
            folded = fold(message)
            for t in self.texts:
                if t.found_in(folded) == t.negated:
                    return False
        return all(f.holds(fields) != f.negated for f in self.fields)

    @property
    def needs_fields(self) -> bool:
        return bool(self.fields)

    def required_words(self) -> list[str]:
        """Words every matching message has whole: what the index can look up."""
        out: list[str] = []
        for t in self.texts:
            if not t.negated:
                out += [w for w in t.words() if w not in out]
        return out

    def prefilter(self, column: str = "e.message", fields_column: str | None = None) -> tuple[str, dict[str, Any]]:
        """An SQL condition (and its parameters) that every matching event meets: an
        ILIKE per positive word or phrase, and with ``fields_column`` a ``#>>`` per
        positive field filter. ILIKE folds case at least as widely as ``fold`` does and
        ignores word edges; ``#>>`` follows the same keys (and array indexes too, where
        ``matches`` does not) and gives a scalar's text as ``parse_fields`` does. So the
        condition keeps every match; ``matches`` decides. Exclusions are left to it."""
        conds: list[str] = []
        params: dict[str, Any] = {}
        for n, t in enumerate(t for t in self.texts if not t.negated):
            name = f"q{n}"
            conds.append(f"{column} ILIKE :{name}")
            params[name] = "%" + _like_escape(t.text) + "%"
        if fields_column is not None:
            for n, f in enumerate(f for f in self.fields if not f.negated):
                path, value = f"qf{n}p", f"qf{n}v"
                conds.append(f"{fields_column} #>> CAST(:{path} AS text[]) = :{value}")
                params[path], params[value] = list(f.path), f.value
        return " AND ".join(conds) or "TRUE", params

    def field_keys(self) -> list[str]:
        """The top-level keys that positive field filters need an event to have."""
        out: list[str] = []
        for f in self.fields:
            if not f.negated and f.path[0] not in out:
                out.append(f.path[0])
        return out


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def parse(q: str | None) -> Query:
    """Parse ``q``; raises BadRequestError saying what is wrong."""
    if not q or not q.strip():
        return Query()
    if len(q) > MAX_LENGTH:
        raise BadRequestError(f"'q' is {len(q)} characters long; at most {MAX_LENGTH} are allowed")
    texts: list[Text] = []
    fields: list[FieldEquals] = []
    for negated, raw, quoted in _terms(q):
        if not quoted and raw.startswith("fields."):
            key, eq, value = raw[len("fields.") :].partition("=")
            if not eq or not _FIELD_KEY.match(key):
                raise BadRequestError(
                    f"'q': {raw!r} is not a field filter; write fields.KEY=VALUE (KEY of letters, digits, _ - @ $ "
                    "and dots for nested fields)"
                )
            value = _unquote(value) if value.startswith('"') else value
            fields.append(FieldEquals(tuple(key.split(".")), value, negated))
            continue
        if not raw:
            continue  # "" or a lone -: nothing to look for
        texts.append(Text(raw, negated))
    if not texts and not fields:
        raise BadRequestError(f"'q' has nothing to search for: {q[:100]!r}")
    if len(texts) + len(fields) > MAX_TERMS:
        raise BadRequestError(f"'q' has more than {MAX_TERMS} terms")
    return Query(tuple(texts), tuple(fields), q)


def _terms(q: str) -> Iterator[tuple[bool, str, bool]]:
    """(negated, text, was quoted) for each whitespace-separated term; quotes group."""
    i, n = 0, len(q)
    while i < n:
        if q[i].isspace():
            i += 1
            continue
        negated = q[i] == "-"
        if negated:
            i += 1
        if i < n and q[i] == '"':
            end = _closing_quote(q, i)
            yield negated, _unquote(q[i : end + 1]), True
            i = end + 1
            continue
        start = i
        while i < n and not q[i].isspace():
            if q[i] == '"':  # fields.k="a b": the quoted value belongs to the term
                i = _closing_quote(q, i)
            i += 1
        yield negated, q[start:i], False


def _closing_quote(q: str, i: int) -> int:
    j = i + 1
    while j < len(q):
        if q[j] == "\\":
            j += 2
            continue
        if q[j] == '"':
            return j
        j += 1
    raise BadRequestError(f"'q' has a quote with no closing quote at character {i + 1}")


def _unquote(text: str) -> str:
    inner = text[1:-1] if len(text) >= 2 and text.endswith('"') else text[1:]
    return re.sub(r"\\(.)", r"\1", inner)
