"""Inferring a file's layout from a sample of its lines, as a structure finder does.

The steps, each decided across the sample and never line by line:

1. The time. Every line's head is searched for timestamps of every family in
   ``layouts.TIME_FAMILIES`` that start and end at a token's edge. Each is keyed by its
   family and by how many header tokens come before it; the key the most lines share is
   the layout's time (its wrapping brackets or trailing comma too). A numeric date's
   order (day or month first) is decided from the numbers over 12 seen in the sample.
2. The columns. The text before the time, and the first tokens after it, are cut into
   tokens (a bracketed group, ``<...>``, ``(...)``, ``program[pid]:``, a separator such
   as ``-`` or ``|``, a word) and each token classed (a level, an integer, a clock, a
   bracket, a program, a separator, an id, a word). A column is a position whose class is
   the same on nine lines in ten; the header goes on while columns are, and ends after
   the last column that a header ends with. A plain word (a host, a component) is the
   header's only when it looks like one (``header_word``), or when a level or program
   column comes a few columns on over columns of few values (``_reach``), or when a
   separator every line has follows it. The last column may be on some lines only
   (``_optional``). Where tabs separate the columns, each cell is one (``_tab_layout``).
3. The names: a level column's words are levels (any case, letters, ``<N>``); a bracketed
   or bare integer is a pid; ``<...>`` is a process id too; another bracket is a thread;
   ``program[pid]:`` or ``word:`` is a component; a first plain word is the host; a long
   hex or UUID token is a request id; others are fields by position.

``choose`` decides whether a file gets a layout at all: only where the layout explains the
sample better than the known formats do (it fits lines they leave as text, or takes more
of the header off their messages with the same time).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import lru_cache

from .formats import TEXT_FORMAT, Parsed, Parser, strip_ansi
from .layouts import (
    MONTH_NAMES,
    SHAPES,
    TIME_END,
    TIME_FAMILIES,
    TIME_START,
    Column,
    Layout,
    LayoutReader,
    level_of,
)
from .timeparse import TimeParser

SAMPLE_LINES = 200
HEAD = 160  # how much of a line's start is searched for its time
AFTER_TOKENS = 10  # how many tokens after the time are looked at as columns
CONSISTENT = 0.9  # the share of lines a column's class must hold
LEVEL_SHARE = 0.6  # the share of level words that makes a column the level's
MAX_WORD_RUN = 3  # plain-word columns in a row that a header may hold
MAX_TOKENS_BEFORE_TIME = 4  # header tokens before a time that most lines do not have
HEADER_TIME_SHARE = 0.5  # ...the share of lines that lets a time sit further on all the same
REACH = 7  # how far on a level or program column may make the columns before it the header's
OPTIONAL_SHARE = 0.4  # the share of lines a column on some lines only must be on
_SELF_DELIMITED = frozenset(("program", "bracket", "angle", "paren"))
CONSTANT_WORD_LINES = 50  # lines a word column of one value needs to be taken as the header's
# Families tried in this order; on a tie between keys, the one listed first wins.
FAMILY_ORDER = (
    "ymd", "day_month", "month_day", "numeric_year_last", "ymd_compact", "yymmdd_compact", "letter_mmdd",
    "numeric_no_year", "epoch",
)  # fmt: skip
assert set(FAMILY_ORDER) == set(TIME_FAMILIES)
_FINDERS = {name: re.compile(TIME_START + "(?:" + TIME_FAMILIES[name] + ")" + TIME_END) for name in FAMILY_ORDER}
# What a line's head must hold for each family's finder to have a chance, searched first:
# a plain search is a few times cheaper than a finder's, and most heads hold one or two
# families at most (``tests/test_layouts.py`` checks that the times found are the same).
_MONTH = re.compile(MONTH_NAMES)
_NEEDS = {
    "ymd": re.compile(r"\d{4}[-/.]\d"),
    "ymd_compact": re.compile(r"\d{8}"),
    "yymmdd_compact": re.compile(r"\d{6}[ -]\d{6}"),
    "numeric_year_last": re.compile(r"\d[-/.]\d{1,2}[-/.]\d\d"),
    "numeric_no_year": re.compile(r"\d[-/.]\d{1,2}\s+\d{1,2}:\d\d"),
    "month_day": _MONTH,
    "day_month": _MONTH,
    "letter_mmdd": re.compile(r"[DIWEF]\d{4}\s"),
    "epoch": re.compile(r"\d{10}"),
}
assert set(_NEEDS) == set(FAMILY_ORDER)

_TOKEN = re.compile(
    r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]:?"  # bracket
    r"|<[^<>\s]*>:?"  # angle
    r"|\([^()\s]*\):?"  # paren
    r"|[^\s\[\],;|]+?(?:\[\d+\])?[:\]](?=\s|$)"  # program
    r"|\|"  # pipe
    r"|[^\s,;|]+"  # word
)
_SEP = re.compile(r"\s*[,;]\s*|\s+")
_ID = re.compile(
    r"(?=[0-9a-fA-F-]*\d)(?=[0-9a-fA-F-]*[a-fA-F])[0-9a-fA-F]{8,}(?:-[0-9a-fA-F]{4,})*|[\w-]*\d[\w-]*-[\w-]{6,}"
)
_PUNCT = re.compile(SHAPES["punct"])
_CLOCK_ONLY = re.compile(SHAPES["clock"])
_DIGITS = re.compile(r"\d+")
_NUMBER = re.compile(r"[\d.,:%+-]*\d[\d.,:%+-]*\w{0,3}")  # 12, 3.5, 12ms, 10:30, 99%
_HOSTLIKE = re.compile(r"[A-Za-z][\w.-]*")


Token = tuple[str, str, int]  # its text, the separator after it, and its width with that separator


def _tokens(text: str, limit: int) -> tuple[list[Token], int]:
    """Up to ``limit`` tokens of ``text`` with the separator after each, and where the last ends."""
    out: list[Token] = []
    pos = 0
    while pos < len(text) and len(out) < limit:
        m = _TOKEN.match(text, pos)
        if m is None:
            break
        s = _SEP.match(text, m.end())
        if s is None:
            sep = "none"
        else:
            sep = "comma" if s.group(0).strip() else "space"
        end = s.end() if s is not None else m.end()
        out.append((m.group(0), sep, end - pos))
        pos = end
    return out, pos


@lru_cache(maxsize=8192)  # a sample's columns repeat their tokens line after line
def classify(token: str) -> str:
    """A token's class."""
    c = token[:1]
    word = token.strip("[]<>():")
    if (
        level_of(token) is not None
        and (c.isalpha() or c in "[<(")
        and (len(word) > 1 or word.isupper() or word.isdigit())
    ):
        return "level"
    if c == "[":
        return "bracket"
    if c == "<":
        return "angle"
    if c == "(":
        return "paren"
    if _PUNCT.fullmatch(token):
        return "punct"
    if token.rstrip(":").isdigit():
        return "int"
    if _CLOCK_ONLY.fullmatch(token):
        return "clock"
    if token.endswith(":") or (token.endswith("]") and "[" not in token):
        return "program"
    if _ID.fullmatch(token):
        return "id"
    return "word"


_STRONG = frozenset(("level", "bracket", "angle", "paren", "program", "int", "punct", "id", "clock"))
_COLUMN_LIKE = frozenset(("level", "bracket", "angle", "paren", "program", "punct"))
_SHAPE_OF = {
    "level": "word", "bracket": "bracket", "angle": "angle", "paren": "paren", "program": "program", "int": "int",
    "punct": "punct", "id": "word", "word": "word", "clock": "clock",
}  # fmt: skip


@dataclass
class Inference:
    """What inference found, and why: the layout (or None), the lines that fit, and
    each reason a step gave."""

    layout: Layout | None
    sample: int = 0
    fitted: int = 0
    reasons: list[str] = field(default_factory=list)
    # The layout's reading of each of the sample's lines (None where a line does not fit),
    # which ``choose`` weighs against the known formats' without reading them again.
    reads: list[Parsed | None] = field(default_factory=list, repr=False)

    def fit(self, layout: Layout, sample: list[str], reader: LayoutReader) -> None:
        """Read the sample with ``layout``: how many of its lines fit, and how each reads."""
        self.reads = [reader.read(line) for line in sample]
        self.fitted = sum(1 for r in self.reads if r is not None)


def _eligible(lines: Sequence[str]) -> list[str]:
    """The sample's lines that may start an event: not blank, not indented."""
    out = []
    for line in lines[:SAMPLE_LINES]:
        line = strip_ansi(line).lstrip("\ufeff")
        if line.strip() and line[:1] not in " \t":
            out.append(line)
    return out


@dataclass
class _Found:
    family: str
    before: int  # header tokens before it
    wrap: str
    start: int
    end: int
    groups: dict[str, str | None]


def _times(line: str, needs: dict[str, re.Pattern[str]] = _NEEDS) -> list[_Found]:
    """Every time in the line's head at a token's edge, one per (family, place).
    ``needs``: what the head must hold for a family to be looked for (``_NEEDS``)."""
    head = line[:HEAD]
    out: list[_Found] = []
    seen: set[tuple[str, int]] = set()
    for family, finder in _FINDERS.items():
        need = needs.get(family)
        if need is not None and need.search(head) is None:
            continue
        for m in finder.finditer(head):
            start, end = m.start(), m.end()
            opener = head[start - 1] if start and head[start - 1] in "[(<" else ""
            prefix = head[: start - len(opener)]
            tokens, used = _tokens(prefix, 50)
            if used != len(prefix) or (prefix and not prefix[-1].isspace() and not opener):
                continue  # the time is not where a column starts
            closer = head[end : end + 1]
            if opener:
                if closer != {"[": "]", "(": ")", "<": ">"}[opener]:
                    continue
            elif closer not in (",", ":"):
                closer = ""
            key = (family, len(tokens))
            if key in seen:
                continue
            seen.add(key)
            wrap = (opener or " ") + (closer or " ") if opener or closer else ""
            out.append(_Found(family, len(tokens), wrap, start - len(opener), end + len(closer), m.groupdict()))
    return out


def _order(found: list[_Found], family: str, reference: datetime | None = None) -> tuple[str, str]:
    """Whether a numeric date is day or month first (or, with a two-digit year, year
    first), decided over the sample."""
    if family == "numeric_year_last" and found and all(len(f.groups.get("Yl") or "") == 2 for f in found):
        # Three numbers of two digits: the orders that make every date a date, and of
        # those the one that puts the dates nearest the reading.
        ref = (reference or datetime.now(UTC)).date()
        best: list[tuple[int, str]] = []
        for order in ("md", "dm", "ym"):
            distances = []
            for f in found:
                a, b, c = int(f.groups["A"] or 0), int(f.groups["B"] or 0), int(f.groups["Yl"] or 0)
                year, month, day = {"md": (2000 + c, a, b), "dm": (2000 + c, b, a), "ym": (2000 + a, b, c)}[order]
                try:
                    distances.append(abs((date(year, month, day) - ref).days))
                except ValueError:
                    break
            else:
                best.append((sorted(distances)[len(distances) // 2], order))
        if best and len({d for d, _ in best}) > 1:
            distance, order = min(best)
            if order == "ym":
                return "ym", f"a two-digit year first: the dates are then nearest the reading ({distance} days)"
    day_first = sum(1 for f in found if int(f.groups["A"] or 0) > 12)
    month_first = sum(1 for f in found if int(f.groups["B"] or 0) > 12)
    if day_first > month_first:
        return "dm", f"day first: {day_first} dates have a first number over 12"
    if month_first > day_first:
        return "md", f"month first: {month_first} dates have a second number over 12"
    seps = Counter(f.groups.get("ds") for f in found)
    sep = seps.most_common(1)[0][0] if seps else "/"
    if family == "numeric_year_last" and sep in (".", "-"):
        return "dm", f"no number over 12 decides it: day first, as dates written with {sep!r} are"
    return "md", "no number over 12 decides it: month first"


@lru_cache(maxsize=8192)
def _masked(token: str) -> str:
    return _DIGITS.sub("0", token)


def header_word(tokens: list[Token], following: list[Token], level_seen: bool = False) -> bool:
    """Whether a column of words before the message is the header's (a host, a component)
    and not the message's first word.

    It is when padded to a width, as columns are; or when it holds few values (numbers
    aside) that are each followed by the same words: a host or a component says nothing
    of the message after it, where a message's first word is followed by its template's
    second (``jk2_init() Found``, ``mod_jk child``).
    """
    n = len(tokens)
    width, count = Counter(w for _, _, w in tokens).most_common(1)[0]
    if count >= CONSISTENT * n and len({len(t) for t, _, w in tokens if w == width}) > 1:
        return True  # words of different lengths padded to one width
    values = Counter(_masked(t) for t, _, _ in tokens)
    if len(values) > min(4, max(1, n // 10)):
        return False
    like = _COLUMN_LIKE - {"level"} if level_seen else _COLUMN_LIKE  # a header has one level
    if all(classify(f) in like for f, _, _ in following):
        return True  # before another column of the header
    # What follows, numbers aside: a number after a word says nothing of whose word it is.
    after: dict[str, set[str]] = {}
    for (t, _, _), (f, _, _) in zip(tokens, following, strict=True):
        if not _NUMBER.fullmatch(f):
            after.setdefault(_masked(t), set()).add(_masked(f))
    if len(values) == 1:
        # The same word on every line: a header's when what follows varies, on a sample
        # large enough that a message's own first word would have varied too.
        return n >= CONSTANT_WORD_LINES and len(next(iter(after.values()), ())) > 1
    (first, _), (second, count) = values.most_common(2)
    return count >= 3 and bool(after.get(first, set()) & after.get(second, set()))


def _column(tokens: list[Token], index: int, word_names: int) -> tuple[Column, str] | None:
    """The column the ``tokens`` at one position make (class, shape, name), or None
    when their classes differ too often."""
    classes = Counter(classify(t) for t, _, _ in tokens)
    n = len(tokens)
    top, count = classes.most_common(1)[0]
    levels = classes["level"]
    wrappers = Counter(t[:1] if t[:1] in "[<(" else "" for t, _, _ in tokens)
    if levels >= LEVEL_SHARE * n and wrappers.most_common(1)[0][1] >= CONSISTENT * n:
        top = "level"
        wrapper = wrappers.most_common(1)[0][0]
        shape = {"[": "bracket", "<": "angle", "(": "paren", "": "word"}[wrapper]
    elif count >= CONSISTENT * n:
        shape = _SHAPE_OF[top]
        if top == "int" and classes["int"] < n:
            shape = "word"  # a number on most lines, something else on a few
    elif classes["bracket"] + classes["level"] >= CONSISTENT * n and all(t[:1] == "[" for t, _, _ in tokens):
        top, shape = "bracket", "bracket"
    else:
        return None
    if top == "word" and len({_masked(t) for t, _, _ in tokens}) > max(3, n // 3):
        return None  # a word of many values: the message's
    seps = Counter(s for _, s, _ in tokens)
    sep = seps.most_common(1)[0][0] if len(seps) == 1 else ("maybe_space" if "comma" not in seps else "comma")
    values = [t.strip("[]<>():") for t, _, _ in tokens]
    if top == "level":
        name = "level"
    elif top == "program":
        name = "component"
    elif (top == "int" or (top == "bracket" and all(v.isdigit() for v in values))) and all(len(v) < 9 for v in values):
        name = "pid"  # (longer numbers are counters, epochs or ids)
    elif top == "angle":
        name = "pid"
    elif top == "bracket":
        name = "thread"
    elif top == "id":
        name = "request_id"
    elif top == "punct":
        name = ""
    elif top == "clock":
        name = "clock"
    elif top == "word" and all("." in v or "/" in v or ":" in v for v in values):
        name = "component"
    elif top == "word" and word_names == 0 and all(_HOSTLIKE.fullmatch(v) for v in values):
        name = "host"
    else:
        name = f"field{index}"
    return Column(name, shape, sep), top


def _optional(tokens: list[Token], index: int) -> Column | None:
    """The header's last column when it is on some lines only: a program, a bracket, ``<...>``
    or ``(...)`` on at least half of them (the shapes that say where they end)."""
    classes = Counter(c for c in (classify(t) for t, _, _ in tokens) if c in _SELF_DELIMITED)
    if not classes:
        return None
    top, count = classes.most_common(1)[0]
    if count < OPTIONAL_SHARE * len(tokens):
        return None
    col = _column([t for t in tokens if classify(t[0]) == top], index, 1)
    if col is None:
        return None
    return Column(col[0].name, col[0].shape, col[0].sep, optional=True)


def _position(afters: list[list[Token]], i: int) -> tuple[list[Token], list[Token]]:
    """The tokens at position ``i`` of the lines that have more after it, and the ones after."""
    at = [a[i] for a in afters if len(a) > i + 1]  # a token with more after it: not a message's last
    return at, [a[i + 1] for a in afters if len(a) > i + 1]


def _reach(afters: list[list[Token]], i: int, index: int, level_seen: bool) -> list[Column] | None:
    """The columns from position ``i`` to a level or program column at most ``REACH``
    positions on, when every position between holds few values (numbers aside) or one
    class; None when there is no such column. A header has one level: once it is
    ``level_seen``, a level word further on is the message's (``INFO object A line``)."""
    n = len(afters)
    # One word column, whatever its values, before a separator that every line has there
    # (``chrome.exe - message``, ``worker-12 | message``).
    at, following = _position(afters, i)
    if (
        at
        and len(at) >= CONSISTENT * n
        and len({f for f, _, _ in following}) == 1
        and _PUNCT.fullmatch(following[0][0])
    ):
        seps = {s for _, s, _ in at}
        word = Column(f"field{index}", "word", seps.pop() if len(seps) == 1 else "maybe_space")
        after = {s for _, s, _ in _position(afters, i + 1)[0]}
        return [word, Column("", "punct", after.pop() if len(after) == 1 else "maybe_space")]
    between: list[Column] = []
    for j in range(i, min(i + REACH, AFTER_TOKENS)):
        at, _ = _position(afters, j)
        if len(at) < CONSISTENT * n or not at:
            return None
        col = _column(at, index + len(between), 1)
        if col is not None and col[1] == "level" and level_seen:
            return None
        if col is not None and col[1] in ("level", "program") and between:
            return [*between, col[0]]
        if col is not None and col[1] in _STRONG:
            between.append(col[0])
        elif len({_masked(t) for t, _, _ in at}) <= 4:
            seps = {s for _, s, _ in at}
            between.append(
                Column(f"field{index + len(between)}", "word", seps.pop() if len(seps) == 1 else "maybe_space")
            )
        else:
            return None
    return None


def _dedupe(columns: list[Column]) -> list[Column]:
    seen: Counter[str] = Counter()
    out = []
    for c in columns:
        name = c.name
        if name:
            seen[name] += 1
            if seen[name] > 1:
                name = "thread" if name == "pid" and "thread" not in seen else f"{name}_{seen[name]}"
                seen[name] += 1
        out.append(Column(name, c.shape, c.sep, c.wrap, c.optional))
    return out


def _time_opening_cell(cells: list[str], column: Column, result: Inference) -> list[Column]:
    """The columns of a tab-separated file's first cell: a time and the rest of the cell
    (``2026-11-30 10:00:00.123+0000 [id=42]``), where a time of one family opens it and
    more follows on nearly every line; otherwise the cell as one column, as it was."""
    for family in FAMILY_ORDER:
        rest = [x[m.end() :] for x in cells if (m := _FINDERS[family].match(x)) is not None]
        if sum(1 for r in rest if r[:1] == " " and r.strip()) >= CONSISTENT * len(cells):
            result.reasons.append(f"the first cell opens with a time ({family}) on {len(rest)} of {len(cells)} lines")
            return [Column("time", family, "space"), Column("context", "cell", "tab")]
    return [column]


def _tab_layout(sample: list[str], tz: str, reference: datetime | None, result: Inference) -> Inference | None:
    """The layout of a file whose columns tabs separate (a spreadsheet's or an event
    viewer's export): each cell before the last is a column, which may hold spaces; the
    last is the message. None when the lines do not have the same tabs."""
    tabs = Counter(line.count("\t") for line in sample)
    k, count = tabs.most_common(1)[0]
    if k < 2 or count < CONSISTENT * len(sample):
        return None
    rows = [line.split("\t")[:k] for line in sample if line.count("\t") == k]
    columns: list[Column] = []
    order, named = "md", set()
    for c in range(k):
        cells = [row[c].strip() for row in rows]
        family = next(
            (f for f in FAMILY_ORDER if sum(1 for x in cells if _FINDERS[f].fullmatch(x)) >= CONSISTENT * len(cells)),
            None,
        )
        if family is not None and "time" not in named:
            if family in ("numeric_year_last", "numeric_no_year"):
                found = [
                    _Found(family, 0, "", 0, 0, m.groupdict()) for m in map(_FINDERS[family].fullmatch, cells) if m
                ]
                order, why = _order(found, family, reference)
                result.reasons.append(why)
            columns.append(Column("time", family, "tab"))
            named.add("time")
            continue
        if "level" not in named and sum(1 for x in cells if level_of(x)) >= LEVEL_SHARE * len(cells):
            name = "level"
        elif "component" not in named and not all(x.isdigit() for x in cells):
            name = "component"
        else:
            name = f"field{c}"
        named.add(name)
        columns.append(Column(name, "cell", "tab"))
    if "time" not in named:
        columns[:1] = _time_opening_cell([row[0] for row in rows], columns[0], result)
    # The text after the last tab may open with header columns of its own (a logger's
    # ``name#method:``): those of a strong class that nearly every line has.
    tail = infer([line.split("\t")[k] for line in sample if line.count("\t") == k], tz=tz, reference=reference,
                 anchored=False)  # fmt: skip
    if (
        tail.layout is not None
        and tail.fitted >= CONSISTENT * len(rows)
        and all(c.name != "time" and c.shape not in ("word", "punct") for c in tail.layout.columns)
    ):
        taken = {c.name for c in columns}
        columns.extend(replace(c, name=f"{c.name}_2" if c.name in taken else c.name) for c in tail.layout.columns)
        result.reasons.append(f"after the last tab: {tail.layout.describe()}")
    layout = Layout(tuple(columns), order)
    result.fit(layout, sample, LayoutReader(layout, TimeParser(tz, reference)))
    result.layout = layout
    result.reasons.append(f"columns separated by tabs: {k} before the message")
    result.reasons.append(f"layout: {layout.describe()}, fits {result.fitted} of {len(sample)} lines")
    return result


def infer(
    lines: Sequence[str], *, tz: str = "UTC", reference: datetime | None = None, anchored: bool = True
) -> Inference:
    """The layout of a file from its first lines (or of the lines that stopped fitting).
    ``anchored``: a layout needs a time or a level column (not for the text after a
    tab-separated file's last tab, whose cells hold them)."""
    sample = _eligible(lines)
    result = Inference(None, len(sample))
    if not sample:
        result.reasons.append("no line to infer from")
        return result
    tabbed = _tab_layout(sample, tz, reference, result) if anchored else None
    if tabbed is not None:
        return tabbed
    # 1. the time
    per_line = [_times(line) for line in sample]
    with_time = sum(1 for found in per_line if found)
    keys: Counter[tuple[str, int, str]] = Counter()
    for found in per_line:
        for f in found:
            keys[(f.family, f.before, f.wrap)] += 1
    time_col: Column | None = None
    order = "md"
    timed: list[tuple[str, _Found | None]] = [(line, None) for line in sample]
    # A header's time is near the start; a time further on is a message's (``Backup of
    # 2024-06-01 10:00 verified``), unless most lines have it there.
    for key in [k for k in keys if k[1] > MAX_TOKENS_BEFORE_TIME and keys[k] < HEADER_TIME_SHARE * len(sample)]:
        del keys[key]
    if keys:
        rank = {name: i for i, name in enumerate(FAMILY_ORDER)}
        # The most lines; then a date over an epoch (a column of ten digits may be an id),
        # then the nearest the start.
        (family, before, wrap), support = min(
            keys.items(), key=lambda kv: (-kv[1], kv[0][0] == "epoch", kv[0][1], rank[kv[0][0]])
        )
        if support >= 2 and support * 2 >= with_time:
            timed = []
            for line, found in zip(sample, per_line, strict=True):
                hit = next((f for f in found if (f.family, f.before, f.wrap) == (family, before, wrap)), None)
                if hit is not None:
                    timed.append((line, hit))
            chosen = [f for _, f in timed if f is not None]
            if family in ("numeric_year_last", "numeric_no_year"):
                order, why = _order(chosen, family, reference)
                result.reasons.append(why)
            time_col = Column("time", family, "space", wrap)
            result.reasons.append(
                f"time: {family} after {before} header token(s), on {support} of {len(sample)} lines"
                + (f", wrapped {wrap.strip()!r}" if wrap.strip() else "")
            )
        else:
            result.reasons.append(
                f"no time: the commonest place of one ({family}) holds {support} of {with_time} lines"
            )
    else:
        result.reasons.append("no time in the sample's lines")
    # 2. the columns, before the time and after it
    befores: list[list[Token]] = []
    afters: list[list[Token]] = []
    time_seps: Counter[str] = Counter()
    for line, hit in timed:
        if hit is None:
            befores.append([])
            afters.append(_tokens(line, AFTER_TOKENS)[0])
            continue
        befores.append(_tokens(line[: hit.start], 50)[0])
        rest = line[hit.end :]
        stripped = rest.lstrip(" \t")
        comma = stripped[:1] in (",", ";")
        time_seps["comma" if comma else ("space" if stripped != rest or not rest else "none")] += 1
        afters.append(_tokens(stripped[1:].lstrip() if comma else stripped, AFTER_TOKENS)[0])
    columns: list[Column] = []
    prefix_len = len(befores[0]) if time_col is not None else 0
    words = 1  # no host before the time
    for i in range(prefix_len):
        col = _column([b[i] for b in befores], i, words)
        if col is None:
            # Tokens before the time that vary: kept as words, as the time's place says they are columns.
            col = (Column(f"field{i}", "word", "space"), "word")
        if col[1] == "word":
            words += 1
        columns.append(col[0])
    if time_col is not None:
        sep = time_seps.most_common(1)[0][0] if len(time_seps) == 1 else "maybe_space"
        columns.append(Column("time", time_col.shape, sep, time_col.wrap))
    words = 0
    header_end = len(columns)
    run = 0
    i = 0
    while i < AFTER_TOKENS:
        at, following = _position(afters, i)
        if len(at) < CONSISTENT * len(afters) or not at:
            break
        col = _column(at, len(columns), words)
        level_seen = any(c.name == "level" for c in columns)
        if col is not None and col[1] == "level" and level_seen:
            break  # a header has one level: a second is the message's first word
        # A word column is the header's only if it looks like one (``header_word``): words
        # of the message before a number or a bracket of its own are not. Unless a level
        # or a program column follows within a few columns of few values each: then all
        # of them are the header's (a node, a facility, a date before the level).
        if col is None or (col[1] not in _STRONG and not header_word(at, following, level_seen)):
            reached = _reach(afters, i, len(columns), level_seen)
            if reached is None:
                optional = _optional(at, len(columns)) if col is None else None
                if optional is not None:
                    columns.append(optional)
                    header_end = len(columns)
                break
            columns.extend(reached)
            header_end = len(columns)
            run = 0
            i += len(reached)
            continue
        column, cls = col
        columns.append(column)
        i += 1
        if cls in _STRONG:
            header_end = len(columns)
            run = 0
        else:
            words += 1
            run += 1
            if run == 1:
                header_end = len(columns)  # a host or component word before the message
            if run > MAX_WORD_RUN:
                break
    columns = _dedupe(columns[:header_end])
    if not columns or (anchored and time_col is None and not any(c.name == "level" for c in columns)):
        result.reasons.append("no time and no level column: no layout")
        return result
    layout = Layout(tuple(columns), order)
    result.fit(layout, sample, LayoutReader(layout, TimeParser(tz, reference)))
    if result.fitted == 0:
        result.reasons.append(f"the layout {layout.describe()} fits no line of the sample")
        return result
    result.layout = layout
    result.reasons.append(f"layout: {layout.describe()}, fits {result.fitted} of {len(sample)} lines")
    return result


@dataclass
class Choice:
    """Whether a file gets a layout, and why."""

    layout: Layout | None
    reason: str
    inference: Inference


def choose(lines: Sequence[str], *, tz: str = "UTC", reference: datetime | None = None) -> Choice:
    """The layout a file whose first lines are ``lines`` should be read with, or None
    when the known formats read it as well (or no layout is found)."""
    inference = infer(lines, tz=tz, reference=reference)
    layout = inference.layout
    if layout is None:
        return Choice(None, "no layout found", inference)
    sample = _eligible(lines)  # the lines ``inference.reads`` read
    parser = Parser(tz=tz, reference=reference)
    better = worse = fits = 0
    for line, mine in zip(sample, inference.reads, strict=True):
        known = parser.parse(line)  # every line: the parser tries first the format it read last
        if mine is None:
            continue
        fits += 1
        if known.format == TEXT_FORMAT and (known.ts is None or known.message == line):
            # Text with no time, or one found further on: the layout is the better reading.
            # Text whose time opens the line is weighed as a format's reading is: a layout
            # of that time and the message alone (a CI step's log) reads it no better.
            better += 1
            continue
        if known.ts is not None and (mine.ts is None or abs((mine.ts - known.ts).total_seconds()) >= 1):
            worse += 1
        elif known.level is not None and mine.level is None:
            worse += 1
        elif len(mine.message) < len(known.message) and known.message.endswith(mine.message):
            better += 1
        elif len(mine.message) != len(known.message):
            worse += 1
    if better == 0 or better <= worse * 4:
        return Choice(
            None, f"the known formats read the sample as well ({better} lines better, {worse} worse)", inference
        )
    return Choice(
        layout,
        f"{fits} of {len(sample)} lines fit; {better} read better than by the known formats, {worse} worse",
        inference,
    )


def still_fits(layout: Layout, lines: Sequence[str], *, tz: str = "UTC", reference: datetime | None = None) -> Layout:
    """The layout to read ``lines`` (a part of a file, such as a chunk's start) with:
    ``layout`` while it fits at least half of them, else one inferred from them that fits
    most of them, if any (else ``layout`` still)."""
    sample = _eligible(lines)
    if not sample:
        return layout
    match = layout.regex.fullmatch
    if sum(1 for line in sample if match(line)) * 2 >= len(sample):
        return layout
    found = infer(sample, tz=tz, reference=reference).layout
    if found is None:
        return layout
    match = found.regex.fullmatch
    return found if sum(1 for line in sample if match(line)) >= 0.75 * len(sample) else layout
