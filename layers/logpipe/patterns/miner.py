"""A streaming pattern miner: each message gets the template of its kind of event.

How a message becomes a template:

1. ``mask`` replaces the values a regex can recognise (numbers, ids, IPs, paths...) with
   ``<*>``; the masked text is the message's *shape*. A message whose numbers, hex ids
   and paths alone differ from one seen before skips the mask: a few cheap regex passes
   (``shape_keys``) and a dictionary lookup find its shape.
2. A new shape is split on whitespace and made the same for every message of its kind
   (``_tokens``): a run of one repeated value, such as a list of block ids, counts once; a
   list joined by commas is one token; a group of values alone in brackets (``(1.2 KB)``)
   is left out. It is filed in a bucket by its token count and first token. A token that
   masking turned into a value (``<*>``, ``uid=<*>``, ``(<*>)``) is a slot: any value
   fits there.
3. Templates that agree everywhere but at one position are *siblings* there. The
   position becomes a slot when the siblings show at least ``min_distinct`` different
   words there (user names, host names, class names), or when every word there holds a
   digit or a masked part (values that masking could not recognise whole, such as
   ``ec2-54-1-2-3.compute.amazonaws.com``). Words that take only a few values in one
   place (``true`` and ``false``, ``startup`` and ``shutdown``, state names) are what
   tell kinds of events apart, so they stay. ``key=value`` tokens with different keys
   are never siblings: a key is wording (but ``libc-bin:amd64`` and ``man-db:amd64``,
   which end alike after the colon, are names of one place). The first token is wording
   far more often than any other (Drain files messages by it), and in a short message the
   word that changes is what it says (``Connection opened``, ``Connection closed``): in
   both, a word becomes a slot only on twice the evidence.

Templates generalise as lines arrive: ``add`` returns the shape, whose ``pattern()`` is
its template as of now. ``finalize`` rebuilds the templates from the set of distinct
shapes in a canonical order, so the final templates do not depend on the order of the
lines; a pattern id is a hash of the template text, so two workers that see the same kind
of event give it the same id.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .masking import MASK_RE, WILDCARD, first_key, full_key, key_safe

DEFAULT_MIN_DISTINCT = 4
# A new template is compared one by one with at most this many others of its bucket.
RELAXED_LIMIT = 256
KEY_CACHE_SIZE = 1 << 16
# The first token is wording far more often than any other (Drain files messages by it):
# it becomes a slot only on twice the evidence, and never in a message of one token.
FIRST_TOKEN_FACTOR = 2
# A message of this many words or fewer besides its values is short: what changes in it is
# more often what it says than a name, so a word becomes a slot there only on this many
# times the evidence.
SHORT_WORDS = 3
SHORT_FACTOR = 2

_MASK_SUB = MASK_RE.sub

# A token that is one value between a key prefix and closing punctuation: ``<*>``,
# ``uid=<*>``, ``(uid=<*>)``, ``[<*>]``, ``<*>,``.
# A key ends in ``=``, or in ``:`` when it has no dot (``host.example.com:<*>`` is a host
# and its port, not a key and its value).
_KEY_TEXT = r"(?:[A-Za-z_][\w.\-]*=|[A-Za-z_][\w\-]*:)"
_SLOT = re.compile(rf"^([^\sA-Za-z0-9<]*{_KEY_TEXT}?)<\*>([^\sA-Za-z0-9<]*)$")
_KEY = re.compile(rf"^[^\sA-Za-z0-9]*({_KEY_TEXT})")

Spec = tuple[str, str] | None

# How programs print a missing value: a value, not wording.
_NO_VALUE = frozenset(("null", "NULL", "Null", "None", "nil", "undefined", "NaN", "-", ""))


def pattern_id(template: str) -> str:
    """The id of a template: 16 hex characters of its BLAKE2b hash, the same in every process."""
    return hashlib.blake2b(template.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Pattern:
    id: str
    template: str


def _fits(spec: tuple[str, str], token: str) -> bool:
    pre, suf = spec
    return len(token) >= len(pre) + len(suf) and token.startswith(pre) and token.endswith(suf)


class _Template:
    """A node of the merge forest; live while ``parent`` is None."""

    __slots__ = ("_keys", "_pattern", "parent", "slots", "specs", "tokens")

    def __init__(self, tokens: tuple[str, ...], specs: tuple[Spec, ...]) -> None:
        self.tokens = tokens
        # Per position: None for wording, or the (prefix, suffix) around a slot.
        self.specs = specs
        self.slots = tuple(p for p, spec in enumerate(specs) if spec is not None)
        self.parent: _Template | None = None
        self._pattern: Pattern | None = None
        self._keys: list[tuple[int, int, int]] | None = None

    @classmethod
    def of(cls, tokens: tuple[str, ...]) -> _Template:
        specs: list[Spec] = [None] * min(len(tokens), 1)
        for token in tokens[1:]:
            m = _SLOT.match(token) if WILDCARD in token else None
            specs.append((m.group(1), m.group(2)) if m else None)
        return cls(tokens, tuple(specs))

    def pattern(self) -> Pattern:
        if self._pattern is None:
            text = " ".join(self.tokens)
            self._pattern = Pattern(pattern_id(text), text)
        return self._pattern

    @property
    def issued(self) -> bool:
        """Whether its pattern was handed out (events may carry its id)."""
        return self._pattern is not None

    def sibling_keys(self) -> list[tuple[int, int, int]]:
        """Per position but the first: the position and hashes of the tokens before and after it.

        Linear in the token count; a hash collision only costs a comparison, as
        ``_Bucket.siblings_at`` checks the tokens.
        """
        if self._keys is None:
            before, after = _prefix_hashes(self.tokens)
            self._keys = [(q, before[q], after[q + 1]) for q in range(len(self.tokens))]
        return self._keys

    def root(self) -> _Template:
        top = self
        while top.parent is not None:
            top = top.parent
        node = self
        while node.parent is not None and node.parent is not top:
            node.parent, node = top, node.parent
        return top

    def fits_slots(self, tokens: tuple[str, ...]) -> bool:
        for p in self.slots:
            spec = self.specs[p]
            if spec is not None and not _fits(spec, tokens[p]):
                return False
        return True


class _Bucket:
    """The live templates of one token count and first token, indexed for lookups.

    A bucket can hold many templates (words that vary in several places at once never
    merge), so a new shape is placed with dictionary lookups, not by comparing it with
    every template: exact matches by tokens, slot matches by wording, siblings by the
    tokens around each position. Only in a small bucket is a new template compared with
    every other one (see ``near``).
    """

    __slots__ = ("by_tokens", "groups", "heads", "siblings", "slotted")

    def __init__(self, heads: dict[int, dict[str, _Template]] | None) -> None:
        # Shared by the buckets of one miner that have a first word: hash of the tokens
        # after the first -> first token -> template (None for a bucket of first slots).
        self.heads = heads
        self.by_tokens: dict[tuple[str, ...], _Template] = {}
        # slot positions -> (wording positions, wording tokens -> templates)
        self.groups: dict[tuple[int, ...], tuple[tuple[int, ...], dict[tuple[str, ...], list[_Template]]]] = {}
        # (position, hash of the tokens before it, hash of those after it) -> token there -> template
        self.siblings: dict[tuple[int, int, int], dict[str, _Template]] = {}
        # position -> templates with a slot there (a dict as an ordered set)
        self.slotted: dict[int, dict[_Template, None]] = {}

    def add(self, template: _Template) -> None:
        self.by_tokens[template.tokens] = template
        wording, index = self._group(template)
        index.setdefault(tuple(template.tokens[p] for p in wording), []).append(template)
        tokens = template.tokens
        for key in template.sibling_keys()[1:]:
            self.siblings.setdefault(key, {})[tokens[key[0]]] = template
        for p in template.slots:
            self.slotted.setdefault(p, {})[template] = None
        if self.heads is not None and tokens:
            self.heads.setdefault(template.sibling_keys()[0][2], {})[tokens[0]] = template

    def remove(self, template: _Template) -> None:
        del self.by_tokens[template.tokens]
        wording, index = self._group(template)
        index[tuple(template.tokens[p] for p in wording)].remove(template)
        tokens = template.tokens
        for key in template.sibling_keys()[1:]:
            siblings = self.siblings[key]
            del siblings[tokens[key[0]]]
            if not siblings:
                del self.siblings[key]
        for p in template.slots:
            del self.slotted[p][template]
        if self.heads is not None and tokens:
            rest = template.sibling_keys()[0][2]
            heads = self.heads[rest]
            del heads[tokens[0]]
            if not heads:
                del self.heads[rest]

    def _group(self, template: _Template) -> tuple[tuple[int, ...], dict[tuple[str, ...], list[_Template]]]:
        group = self.groups.get(template.slots)
        if group is None:
            wording = tuple(p for p in range(len(template.tokens)) if p not in template.slots)
            group = self.groups[template.slots] = (wording, {})
        return group

    def match(self, tokens: tuple[str, ...]) -> _Template | None:
        """The most specific live template ``tokens`` fit (ties to the smaller text), or None."""
        exact = self.by_tokens.get(tokens)
        if exact is not None:
            return exact
        best: _Template | None = None
        best_rank: tuple[int, tuple[str, ...]] | None = None
        for slots, (wording, index) in self.groups.items():
            for template in index.get(tuple(tokens[p] for p in wording), ()):
                if template.fits_slots(tokens):
                    # The choice does not depend on which template was made first.
                    rank = (len(slots), template.tokens)
                    if best_rank is None or rank < best_rank:
                        best, best_rank = template, rank
        return best

    def covered_by(self, general: _Template) -> list[_Template]:
        """Live templates other than ``general`` whose every token ``general`` matches."""
        slots = set(general.slots)
        out: list[_Template] = []
        for group_slots, (_, index) in self.groups.items():
            if not slots.issuperset(group_slots):
                continue
            for same in index.values():
                out.extend(t for t in same if t is not general and _covers(general, t))
        return out

    def siblings_at(self, template: _Template, q: int) -> list[_Template]:
        """Live templates whose tokens equal ``template``'s everywhere but at ``q`` (itself included)."""
        found = self.siblings.get(template.sibling_keys()[q])
        if not found:
            return []
        if len(found) == 1 and template.tokens[q] in found:
            return [found[template.tokens[q]]]
        tokens = template.tokens
        head, tail = tokens[:q], tokens[q + 1 :]
        return [t for t in found.values() if t.tokens[:q] == head and t.tokens[q + 1 :] == tail]

    def near(self, template: _Template) -> dict[int, list[_Template]]:
        """Templates that differ from ``template`` in one place only, counting a slot as agreeing with what fits it.

        In a bucket of up to ``RELAXED_LIMIT`` templates every template is compared; in a
        larger one only those with a slot where ``template`` has a word, up to that many.
        """
        candidates: dict[_Template, None] = {}
        if len(self.by_tokens) <= RELAXED_LIMIT:
            candidates = dict.fromkeys(self.by_tokens.values())
        else:
            for p in range(1, len(template.tokens)):
                if template.specs[p] is None:
                    candidates.update(self.slotted.get(p, {}))
                    if len(candidates) > RELAXED_LIMIT:
                        return {}
        out: dict[int, list[_Template]] = {}
        for other in candidates:
            if other is not template:
                q = _single_difference(template, other)
                if q is not None:
                    out.setdefault(q, []).append(other)
        return out


def _covers(general: _Template, other: _Template) -> bool:
    for p, (mine, theirs) in enumerate(zip(general.tokens, other.tokens, strict=True)):
        if mine != theirs:
            spec = general.specs[p]
            if spec is None or not _fits(spec, theirs):
                return False
    return True


def _single_difference(a: _Template, b: _Template) -> int | None:
    """The one position where ``a`` and ``b`` disagree, if there is exactly one and both have a word there.

    Elsewhere a slot agrees with what fits it, but bare slots only on one side: if ``a``
    has one where ``b`` has a word and ``b`` one where ``a`` has a word, neither is the
    other with one word changed (``<*> grai <*> baiwaifend`` and ``<*> lain gutrir <*>``
    share nothing but their length), and merging them would cascade into a template of
    slots alone. A slot after a key (``tag=<*>``) agrees either way: the key names the
    field, whatever its value.
    """
    where = None
    widened = 0  # 1: a slot of ``a`` took a word of ``b``; 2: the other way; 3: both
    at, bt, aspecs, bspecs = a.tokens, b.tokens, a.specs, b.specs
    for p in range(1, len(at)):
        x, y = at[p], bt[p]
        if x == y:
            continue
        sa, sb = aspecs[p], bspecs[p]
        if sa is not None and _fits(sa, y):
            widened |= 1 if sb is None and not _KEY.match(sa[0]) else 0
        elif sb is not None and _fits(sb, x):
            widened |= 2 if sa is None and not _KEY.match(sb[0]) else 0
        elif where is not None:
            return None
        else:
            where = p
    if where is None or widened == 3 or aspecs[where] is not None or bspecs[where] is not None:
        return None
    return where


def _token_key(token: str) -> str:
    m = _KEY.match(token)
    return m.group(1) if m else ""


def _same_field(token: str, other: str, key: str) -> bool:
    """Whether ``token`` may be a value of the place where ``other`` (whose key is ``key``) is.

    Tokens of different keys are different fields, but for a colon that ends the same text
    in both: ``libc-bin:amd64`` and ``man-db:amd64`` are names with their architecture,
    not two keys of one value.
    """
    mine = _token_key(token)
    if mine == key:
        return True
    if not (mine.endswith(":") and key.endswith(":")):
        return False
    value = token[token.find(mine) + len(mine) :]
    return bool(value) and value == other[other.find(key) + len(key) :]


def _prefix_hashes(tokens: tuple[str, ...]) -> tuple[list[int], list[int]]:
    n = len(tokens)
    before = [0] * (n + 1)
    for i in range(n):
        before[i + 1] = hash((before[i], tokens[i]))
    after = [0] * (n + 1)
    for i in range(n - 1, -1, -1):
        after[i] = hash((after[i + 1], tokens[i]))
    return before, after


class Shape:
    """One distinct masked message: ``count`` lines so far; ``pattern()`` is its template now."""

    __slots__ = ("count", "masked", "template")

    def __init__(self, masked: str, template: _Template) -> None:
        self.masked = masked
        self.template = template
        self.count = 0

    def pattern(self) -> Pattern:
        return self.template.root().pattern()


class PatternMiner:
    """Mines templates from messages one at a time; one per worker (not thread-safe).

    ``min_distinct``: how many different words one position must show, all else equal,
    before it is taken as a place for values.
    """

    def __init__(self, *, min_distinct: int = DEFAULT_MIN_DISTINCT, key_cache_size: int = KEY_CACHE_SIZE) -> None:
        if min_distinct < 2:
            raise ValueError("min_distinct must be at least 2")
        self.min_distinct = min_distinct
        self.key_cache_size = key_cache_size
        self._shapes: dict[str, Shape] = {}
        # shape_keys(message) -> shape, bounded: it is only a shortcut past the mask.
        self._by_key: dict[str, Shape] = {}
        self._buckets: dict[tuple[int, str | None], _Bucket] = {}
        self._heads: dict[int, dict[str, _Template]] = {}
        # Templates whose ids were handed out before they generalised, by id, and the
        # target each was last reported with (see ``take_aliases``).
        self._retired: dict[str, _Template] = {}
        self._reported: dict[str, str] = {}
        self._moved = False
        # Counts the times templates may have changed: a pattern looked up before the
        # count moved may be out of date (the compiled lane keeps them while it holds).
        self.generation = 0

    def __len__(self) -> int:
        """How many distinct shapes have been seen."""
        return len(self._shapes)

    @property
    def key_cache(self) -> dict[str, Shape]:
        """``shape_keys`` to their shapes: what ``add`` looks up before masking.
        The compiled lane looks there itself, counts what it finds in ``Shape.count``,
        and calls ``add`` for anything else."""
        return self._by_key

    def add(self, message: str) -> Shape:
        """Count ``message`` and return its shape.

        A message whose numbers, hex ids and paths alone differ from one seen before
        costs a few cheap regex passes and a lookup; the full mask runs once per new key.
        """
        key = first_key(message)
        shape = self._by_key.get(key)
        if shape is None:
            # The digits alone did not find it: with hex ids and paths put aside too (see ``shape_keys``).
            key = full_key(key)
            shape = self._by_key.get(key)
        if shape is None:
            masked = _MASK_SUB(WILDCARD, message)
            shape = self._shapes.get(masked)
            if shape is None:
                shape = Shape(masked, self._place(_tokens(masked)))
                self._shapes[masked] = shape
            if WILDCARD in message:
                self._learned(message, shape)
            # Only when no run the key replaced survived masking do the other messages of
            # this key mask to the same text (``ssh2`` survives; ``ssh3`` shares its key).
            if key_safe(masked):
                if len(self._by_key) >= self.key_cache_size:
                    self._by_key.clear()
                self._by_key[key] = shape
        shape.count += 1
        return shape

    def _learned(self, template: str, shape: Shape) -> None:
        """A template text given as a message (a worker learns the stored ones so): if it
        is not its own template now, its id points at the one it is part of. So the events
        stored under a template that an earlier version of the miner wrote otherwise (a
        group of values since left out, a list since made one value) count for the template
        they get now, through ``take_aliases``, without rewriting them."""
        old = pattern_id(template)
        if old not in self._retired and " ".join(shape.template.root().tokens) != template:
            self._retired[old] = shape.template
            self._moved = True

    def finalize(self) -> None:
        """Rebuild the templates from the distinct shapes in a canonical order.

        Afterwards each shape's template depends only on the set of shapes seen, not on
        the order of the lines. ``add`` may go on afterwards.
        """
        self._buckets = {}
        self._heads = {}
        self._retired, self._reported = {}, {}  # a new forest: ids of the old one are not followed
        for masked in sorted(self._shapes):
            self._shapes[masked].template = self._place(_tokens(masked))

    def take_aliases(self) -> dict[str, Pattern]:
        """The ids handed out for templates that have generalised since, each with the
        pattern it is now part of: those that are new or moved since the last call."""
        if not self._moved:
            return {}
        self._moved = False
        out: dict[str, Pattern] = {}
        for old, template in self._retired.items():
            target = template.root().pattern()
            if target.id != old and self._reported.get(old) != target.id:
                self._reported[old] = target.id
                out[old] = target
        return out

    def report_again(self) -> None:
        """Make the next ``take_aliases`` report every alias again: what it reported
        before may have gone down with a commit that failed."""
        self._reported.clear()
        self._moved = True

    def templates(self) -> dict[str, int]:
        """Every current template with its line count."""
        counts: dict[str, int] = {}
        for shape in self._shapes.values():
            text = shape.pattern().template
            counts[text] = counts.get(text, 0) + shape.count
        return counts

    # -- placing a new shape -------------------------------------------------------

    def _adopt(self, child: _Template, parent: _Template) -> None:
        """``child`` becomes part of ``parent``; remembered if its id was handed out."""
        child.parent = parent
        self._moved = True
        if child.issued:
            self._retired.setdefault(child.pattern().id, child)

    def _bucket(self, n: int, first: str | None) -> _Bucket:
        bucket = self._buckets.get((n, first))
        if bucket is None:
            bucket = self._buckets[(n, first)] = _Bucket(self._heads if first is not None else None)
        return bucket

    def _place(self, tokens: tuple[str, ...]) -> _Template:
        self.generation += 1
        n = len(tokens)
        bucket = self._bucket(n, tokens[0] if tokens else "")
        found = bucket.match(tokens)
        if found is None:
            general = self._buckets.get((n, None))
            found = general.match(tokens) if general is not None else None
        if found is not None:
            return found
        template = _Template.of(tokens)
        self._settle(bucket, template)
        return template.root()

    def _settle_head(self, template: _Template) -> None:
        """Merge ``template`` with the templates that differ from it in their first token only.

        Each first token has a bucket of its own; a first slot lives in the bucket of
        slots of its length, which ``_place`` looks in when the first token's finds nothing.
        """
        tokens = template.tokens
        heads = self._heads.get(template.sibling_keys()[0][2], {})
        key = _token_key(tokens[0])
        members = [t for t in heads.values() if t.tokens[1:] == tokens[1:] and _token_key(t.tokens[0]) == key]
        values = {m.tokens[0] for m in members}
        if len(values) >= FIRST_TOKEN_FACTOR * self.min_distinct or (len(values) >= 2 and _all_values(values)):
            general = _merge(members, 0)
            for m in members:
                self._adopt(m, general)
                self._buckets[(len(tokens), m.tokens[0])].remove(m)
            bucket = self._bucket(len(tokens), None)
            target = bucket.match(general.tokens)
            if target is not None:
                self._adopt(general, target)
            else:
                self._settle(bucket, general, merged=True)

    def _needed(self, template: _Template, key: str) -> int:
        """How many different words a position of ``template`` must show to become a slot.

        In a short message the words that change are what it says (``Connection opened``,
        ``Connection closed``, ``Stopping service <*>``...): in one of ``SHORT_WORDS`` words
        or fewer besides its values, a word becomes a slot only on twice the evidence,
        unless a key names it a field's value (``topActivity=...``).
        """
        tokens = len(template.tokens)
        if not key and tokens <= SHORT_WORDS + 1 and tokens - len(template.slots) <= SHORT_WORDS:
            return SHORT_FACTOR * self.min_distinct
        return self.min_distinct

    def _settle(self, bucket: _Bucket, template: _Template, *, merged: bool = False) -> None:
        """Make ``template`` live: absorb what it covers, then merge wherever a position varies enough."""
        if merged:
            covered = bucket.covered_by(template)
        else:
            # A new shape covers at most its siblings at a slot.
            covered = [
                other
                for q in template.slots
                for other in bucket.siblings_at(template, q)
                if other is not template and _fits(template.specs[q] or ("", ""), other.tokens[q])
            ]
        for other in covered:
            if other.parent is None:
                self._adopt(other, template)
                bucket.remove(other)
        bucket.add(template)
        near = bucket.near(template)
        for q in range(1, len(template.tokens)):
            if template.specs[q] is not None:
                continue
            exact = bucket.siblings_at(template, q)
            relaxed = near.get(q, ())
            if len(exact) < 2 and not relaxed:
                continue
            mine = template.tokens[q]
            key = _token_key(mine)
            members = [m for m in exact if _same_field(m.tokens[q], mine, key)]
            members += [m for m in relaxed if _same_field(m.tokens[q], mine, key) and m not in members]
            values = {m.tokens[q] for m in members}
            if len(values) >= self._needed(template, key) or (len(values) >= 2 and _all_values(values)):
                general = _merge(members, q)
                for m in members:
                    self._adopt(m, general)
                    bucket.remove(m)
                target = bucket.match(general.tokens)
                if target is not None:
                    self._adopt(general, target)
                else:
                    self._settle(bucket, general, merged=True)
                return
        if bucket.heads is not None and len(template.tokens) >= 2:
            self._settle_head(template)


def _merge(members: list[_Template], q: int) -> _Template:
    """One template over ``members``: a slot at ``q`` and wherever they differ or any has one."""
    tokens: list[str] = []
    specs: list[Spec] = []
    for p in range(len(members[0].tokens)):
        column = {m.tokens[p] for m in members}
        if p != q and len(column) == 1 and all(m.specs[p] is None for m in members):
            tokens.append(members[0].tokens[p])
            specs.append(None)
            continue
        spec = _common_affixes(column)
        tokens.append(spec[0] + WILDCARD + spec[1])
        specs.append(spec)
    return _Template(tuple(tokens), tuple(specs))


def _tokens(masked: str) -> tuple[str, ...]:
    """The tokens of a masked message, the same for every message of one kind of event.

    - A run of one repeated value token is written once: a list of values (``blk_<*>
      blk_<*> blk_<*>``, ``(blk_<*> blk_<*>)``) is one variable, whatever its length.
    - A group of values alone in brackets (``(<*>)`` for ``(1.2 KB)``, ``[<*>, <*>]``,
      ``[91svl, 5cbwq]``: masked, or each word holding a digit) is left out: programs print
      such a group for some messages of a kind and not for others, and a list in it has any
      length. Empty brackets (``()``) stay: they hold the place of a value that masking may
      not recognise (``(host.example.net)``).
    - A list of values joined by commas (``<*>, <*>, <*>``) is one value token; a list of
      words (``a, b, c``, or ``[a b c]`` in brackets) is one token holding them, and a place
      where lists of different lengths show is a place for values. Items after the first have no key: ``x=1, y=2,
      z=3`` are fields, each its own token.
    """
    raw = masked.split()
    if "," in masked or "(" in masked or "[" in masked or "{" in masked:
        raw = _lists_joined(_bracketed_joined(_value_groups_dropped(raw)))
    out: list[str] = []
    for token in raw:
        if out and WILDCARD in token:
            last = out[-1]
            if token == last:
                continue
            if "<" in last and (core := _list_item(token)) == _list_item(last):
                # ``(blk_<*> blk_<*> blk_<*>)``: one item of a list, in its brackets.
                out[-1] = last[: last.find(core)] + core + token[token.rfind(core) + len(core) :]
                continue
        out.append(token)
    return tuple(out)


def _list_item(token: str) -> str:
    """``token`` without the brackets that open or close a list and the comma after an item."""
    return token.lstrip("([{").rstrip(",;)]}")


_CLOSER = {"(": ")", "[": "]", "{": "}"}
# Longest bracketed group of values that is left out (in tokens).
MAX_GROUP_TOKENS = 64


def _pure_value(token: str) -> bool:
    """True when ``token`` is values and punctuation alone: no word in it."""
    return not any(c.isalnum() for c in token.replace(WILDCARD, ""))


_WORD_RUN = re.compile(r"[A-Za-z0-9]+")
# An item of a list of plain words: a name, a number or a value, no key and no comma.
_PLAIN_ITEM = re.compile(r"[\w.\-/@<*>]+$")


def _value_like(token: str) -> bool:
    """True when ``token`` holds no word but values, masked or holding a digit (``[91svl]``, ``(v82x,``)."""
    return all(any(c.isdigit() for c in run) for run in _WORD_RUN.findall(token.replace(WILDCARD, "0")))


def _group_end(raw: list[str], i: int) -> int | None:
    """The index of the token that closes the bracketed group of values opened at ``raw[i]``, if any."""
    opener = raw[i][0]
    closer = _CLOSER[opener]
    depth = 0
    for k in range(i, min(len(raw), i + MAX_GROUP_TOKENS)):
        token = raw[k]
        if not _value_like(token):
            return None
        for c in token:
            if c == opener:
                depth += 1
            elif c == closer:
                depth -= 1
                if depth == 0:
                    return k
    return None


def _value_groups_dropped(raw: list[str]) -> list[str]:
    """``raw`` without its bracketed groups of values (all of it if that leaves nothing)."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        token = raw[i]
        if token[0] in _CLOSER and _value_like(token) and _WORD_RUN.search(token.replace(WILDCARD, "0")):
            end = _group_end(raw, i)
            if end is not None:
                # Punctuation after the group goes with the word before it, as it would
                # without the group (``from <*> (<*>): denied`` as ``from <*>: denied``).
                last = raw[end]
                after = last[last.rfind(_CLOSER[token[0]]) + 1 :]
                if after and out:
                    out[-1] += after
                i = end + 1
                continue
        out.append(token)
        i += 1
    return out if out else raw


def _bracketed_joined(raw: list[str]) -> list[str]:
    """``raw`` with each bracketed run of plain words (``[a b c]``, as Go prints a slice) as one token."""
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        token = raw[i]
        if len(token) > 1 and token[0] in _CLOSER and _PLAIN_ITEM.match(token, 1):
            closer = _CLOSER[token[0]]
            j = i + 1
            while j < n and j - i < MAX_GROUP_TOKENS and _PLAIN_ITEM.fullmatch(raw[j]):
                j += 1
            if (
                j > i
                and j < n
                and raw[j].rstrip(",.;:").endswith(closer)
                and _PLAIN_ITEM.fullmatch(raw[j].rstrip(",.;:")[:-1])
            ):
                out.append(" ".join(raw[i : j + 1]))
                i = j + 1
                continue
        out.append(token)
        i += 1
    return out


def _lists_joined(raw: list[str]) -> list[str]:
    """``raw`` with each run of comma-ended tokens and the token after them as one token."""
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        j = i
        while j < n - 1 and len(raw[j]) > 1 and raw[j].endswith(",") and not raw[j].endswith(",,"):
            j += 1
        if j == i:
            out.append(raw[i])
            i += 1
            continue
        items = raw[i : j + 1]
        if all(WILDCARD in t and _pure_value(t) for t in items):
            first, last = items[0], items[-1]
            out.append(first[: first.find(WILDCARD)] + WILDCARD + last[last.rfind(WILDCARD) + len(WILDCARD) :])
        elif all(_KEY.match(t) is None for t in items[1:]):
            out.append(" ".join(items))
        else:
            out.extend(items[:-1])
            i = j
            continue
        i = j + 1
    return out


def _all_values(values: set[str]) -> bool:
    """True when one place holds values: lists of different lengths there, or a digit or a
    masked part in every token."""
    pre, suf = _common_affixes(values)
    cores = [value[len(pre) : len(value) - len(suf)] for value in values]
    if any(" " in core for core in cores) and len({core.count(" ") for core in cores}) > 1:
        return True
    for core in cores:
        if WILDCARD not in core and core not in _NO_VALUE and not any(c.isdigit() for c in core):
            return False
    return True


def _common_affixes(values: Iterable[str]) -> tuple[str, str]:
    """The key prefix (through its ``=`` or ``:``) and the punctuation suffix all ``values`` share."""
    items = list(values)
    prefix = items[0]
    suffix = items[0]
    for v in items[1:]:
        i = 0
        limit = min(len(prefix), len(v))
        while i < limit and prefix[i] == v[i]:
            i += 1
        prefix = prefix[:i]
        j = 0
        limit = min(len(suffix), len(v))
        while j < limit and suffix[-1 - j] == v[-1 - j]:
            j += 1
        suffix = suffix[len(suffix) - j :]
    m = _KEY.match(prefix)
    if m is not None:
        prefix = prefix[: m.end()]
    else:
        k = 0
        while k < len(prefix) and not prefix[k].isalnum() and prefix[k] != "<":
            k += 1
        prefix = prefix[:k]
    k = 0
    while k < len(suffix) and not suffix[-1 - k].isalnum() and suffix[-1 - k] != ">":
        k += 1
    suffix = suffix[len(suffix) - k :]
    # A closing bracket whose opening one is inside the value belongs to the value.
    while _unbalanced(prefix, suffix):
        suffix = suffix[1:]
    if any(len(v) < len(prefix) + len(suffix) for v in items):
        return "", ""
    return prefix, suffix


_OPENER = {")": "(", "]": "[", "}": "{"}


def _unbalanced(prefix: str, suffix: str) -> bool:
    return any(suffix.count(close) > prefix.count(open_) for close, open_ in _OPENER.items())


def mine(messages: Iterable[str], *, min_distinct: int = DEFAULT_MIN_DISTINCT) -> list[Pattern]:
    """The final pattern of each message, in order (all messages are mined, then resolved)."""
    miner = PatternMiner(min_distinct=min_distinct)
    shapes = [miner.add(m) for m in messages]
    miner.finalize()
    resolved: dict[str, Pattern] = {}
    out = []
    for shape in shapes:
        pattern = resolved.get(shape.masked)
        if pattern is None:
            pattern = resolved[shape.masked] = shape.pattern()
        out.append(pattern)
    return out
