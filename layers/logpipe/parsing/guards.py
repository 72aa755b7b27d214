"""Guards: what the start of a line must look like for a rule to have a chance, as data
that the Python path and the compiled lane both run.

A guard is a pattern in a small subset of regular-expression syntax, matched at the start
of a line, and maybe a text the line must contain somewhere. The Python path runs the
pattern with ``re``; the compiled lane (``logpipe.ingest.lane``) is handed the guard's
``program`` and runs the same test in C. Neither has a copy of the other's: a guard is
changed here, and both follow.

The subset, which a matcher without backtracking runs exactly:

- alternatives separated by ``|``, at the top level only (no groups);
- each a sequence of single-character atoms: a literal, ``.`` (any character, the newline
  too), an escape (``\\d \\D \\s \\S \\w \\W``, or an escaped literal), or a class ``[...]``;
- each atom maybe followed by ``?``, ``*``, ``+``, ``{n}`` or ``{m,n}``. An atom that may
  repeat a varying number of times must be followed by one that must appear, of a class
  disjoint from its own (so taking as many as possible is the only way to match).

Classes keep Python's meaning (``\\d`` is any Unicode digit); the lane runs them on ASCII
lines only, where a table of the 128 characters, made here by ``re``, says the same.

This is one kind of description that both paths execute. The layouts inferred for files
(``parsing.layouts``: where the time sits, the level column, the header's fields, where
the message starts) are another: compiled to a regex with groups for the Python path,
and to a program of column ops for the lane (``logpipe.ingest.lane.layout_program``).
The readers ``_lane.c`` keeps by hand for four known formats have not gone yet.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

UNBOUNDED = 0xFFFF  # the maximum count of ``*`` and ``+`` in a program

_QUANTIFIER = re.compile(r"\?|\*|\+|\{(\d+)(?:,(\d+))?\}")


@cache
def ascii_class(atom: str) -> bytes:
    """The ASCII characters ``atom`` (one character's pattern) matches, as a bitmap of 16
    bytes: bit ``c % 8`` of byte ``c // 8`` is set when it matches ``chr(c)``."""
    rx = re.compile(atom, re.S)
    bits = bytearray(16)
    for c in range(128):
        if rx.fullmatch(chr(c)):
            bits[c >> 3] |= 1 << (c & 7)
    return bytes(bits)


def in_class(bits: bytes, c: int) -> bool:
    return c < 128 and bool(bits[c >> 3] >> (c & 7) & 1)


@dataclass(frozen=True, slots=True)
class Item:
    """One atom of a guard's pattern and how many times it may repeat."""

    atom: str  # the character's pattern, in regex syntax
    least: int
    most: int  # UNBOUNDED for no limit
    bits: bytes  # ascii_class(atom)


def _atom_end(text: str, i: int) -> int:
    """Where the single-character atom at ``text[i]`` ends."""
    c = text[i]
    if c == "\\":
        if i + 1 >= len(text):
            raise ValueError("a pattern ends in a backslash")
        return i + 2
    if c == "[":
        j = i + 1
        if j < len(text) and text[j] == "^":
            j += 1
        if j < len(text) and text[j] == "]":
            j += 1  # a ']' first is a literal
        while j < len(text) and text[j] != "]":
            j += 2 if text[j] == "\\" else 1
        if j >= len(text):
            raise ValueError("a class that does not close")
        return j + 1
    if c in "()|*+?{}^$":
        raise ValueError(f"{c!r} at {i}: guards have no groups, anchors or quantifiers without an atom")
    return i + 1


def _parse(pattern: str) -> tuple[tuple[Item, ...], ...]:
    """The alternatives of ``pattern``, each as its items; ValueError outside the subset."""
    alternatives: list[tuple[Item, ...]] = []
    items: list[Item] = []
    i = 0
    while i <= len(pattern):
        if i == len(pattern) or pattern[i] == "|":
            alternatives.append(_checked(pattern, items))
            items = []
            i += 1
            continue
        end = _atom_end(pattern, i)
        atom = pattern[i:end]
        least = most = 1
        q = _QUANTIFIER.match(pattern, end)
        if q is not None:
            text = q.group(0)
            if text == "?":
                least, most = 0, 1
            elif text in ("*", "+"):
                least, most = (0 if text == "*" else 1), UNBOUNDED
            else:
                least = int(q.group(1))
                most = int(q.group(2)) if q.group(2) is not None else least
                if most >= UNBOUNDED or least > most:
                    raise ValueError(f"a count of {text} in {pattern!r}")
            end = q.end()
        items.append(Item(atom, least, most, ascii_class(atom)))
        i = end
    return tuple(alternatives)


def _checked(pattern: str, items: list[Item]) -> tuple[Item, ...]:
    """``items``, where each that repeats a varying number of times is followed by one that
    must appear and can never be the same character: then taking as many as possible is
    the only way to match, as the lane's matcher does."""
    for k, item in enumerate(items[:-1]):  # what the last takes does not matter: the match is a prefix
        after = items[k + 1]
        if item.least != item.most and (after.least == 0 or not disjoint(item.bits, after.bits)):
            raise ValueError(
                f"{item.atom!r} repeats a varying number of times in {pattern!r}: the atom after it must "
                "appear, and be of a class disjoint from it"
            )
    return tuple(items)


@dataclass(frozen=True)
class Guard:
    """Lines whose start matches ``pattern`` (in the subset above) and that contain ``contains``.

    ``admits(line)`` is truthy for such lines; ``may_start(c)`` is False only when no line
    starting with ``c`` can be admitted.
    """

    pattern: str
    contains: str = ""
    alternatives: tuple[tuple[Item, ...], ...] = field(init=False, repr=False)
    admits: Callable[[str], object] = field(init=False, repr=False, compare=False)
    _starts: dict[str, bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "alternatives", _parse(self.pattern))
        match = re.compile(self.pattern, re.S).match
        contains = self.contains
        admits: Callable[[str], object]
        if contains:

            def admits(line: str) -> bool:
                return contains in line and match(line) is not None

        else:
            admits = match  # a match object is truthy: one call fewer on the Python path's hot lines
        object.__setattr__(self, "admits", admits)

    def may_start(self, c: str) -> bool:
        """False only when no line starting with ``c`` (one character, or "" for an empty
        line) is admitted."""
        known = self._starts.get(c)
        if known is None:
            known = self._starts[c] = self._may_start(c)
        return known

    def _may_start(self, c: str) -> bool:
        if c == "":
            return not self.contains and bool(self.admits(""))
        for items in self.alternatives:
            for item in items:
                if re.fullmatch(item.atom, c, re.S):
                    return True
                if item.least > 0:
                    break
            else:
                return True  # it matches the empty text: any line starts it
        return False

    def first_chars(self) -> frozenset[str]:
        """The characters an admitted line can start with, when they are all ASCII (the
        guards of multi-line rules are such); ValueError otherwise."""
        chars = frozenset(chr(c) for c in range(128) if self.may_start(chr(c)))
        for items in self.alternatives:
            if not items or items[0].least == 0 or not _ascii_only(items[0].atom):
                raise ValueError(f"the lines {self.pattern!r} admits may start with other than ASCII")
        return chars

    @property
    def program(self) -> tuple[str, tuple[tuple[tuple[bytes, int, int, bool], ...], ...]]:
        """The guard as the compiled lane reads it: the text to contain, and per alternative
        its items as (ASCII class bitmap, least, most, whether the class is ASCII only)."""
        return self.contains, tuple(
            tuple((i.bits, i.least, i.most, _ascii_only(i.atom)) for i in items) for items in self.alternatives
        )


def _ascii_only(atom: str) -> bool:
    """Whether ``atom`` can match no character beyond ASCII, by its syntax."""
    if atom.startswith("\\"):
        return atom[1] not in "dDsSwW" and not atom[1].isalnum()
    if atom == ".":
        return False
    if atom.startswith("["):
        body = atom[1:-1]
        if body.startswith("^") or re.search(r"\\[dDsSwW]", body):
            return False
        return body.isascii()
    return atom.isascii()


def disjoint(a: bytes, b: bytes) -> bool:
    return not any(x & y for x, y in zip(a, b, strict=True))
