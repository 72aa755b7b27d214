"""Generated corpora with known templates, one per kind of error a miner makes on clean messages.

Nothing here comes from a real log's vocabulary: constant words and variable names are
pseudo-words drawn from syllables, so a miner cannot pass by knowing the words. Each corpus
is a list of ``(message, template_index)``; the index is the ground truth that grouping
accuracy is measured against.

The kinds (``KINDS``):

- ``first``: a variable word in the first position (a host, a user, a component);
- ``optional``: a group of values that some messages of a template carry and others do not
  (``(1.2 KB)`` after a byte count, ``[3 ms]``);
- ``lists``: lists of variable length (``nodes: a, b, c`` beside ``nodes: a, b``; ``[1, 2, 3]``);
- ``inner``: tokens with a variable part inside them (``blk_-1608...``, ``part-00017.parquet``,
  ``job_1445144423722_0020``, ``/tmp/x/abc123.log``, ``sess-k3j9q2.tmp``);
- ``short``: messages of two or three words that differ in one constant word
  (``Connection opened`` and ``Connection closed`` are two templates, not one);
- ``mixed``: all of the above in one corpus.

    .venv/bin/python bench/patterns_synth.py [--seeds 5] [--messages 3000]

prints the grouping accuracy of the miner on each kind (a development tool, like
``patterns_accuracy.py``; the tests hold floors on the same corpora).
"""

from __future__ import annotations

import argparse
import random
import string
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "layers") not in sys.path:  # in case the package is not installed in this Python
    sys.path.append(str(ROOT / "layers"))

Field = Callable[[random.Random], str]

_ONSETS = ("b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "st", "tr", "pl", "gr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ea")
_CODAS = ("", "", "", "n", "r", "s", "t", "l", "m", "ck", "nd")


def pseudo_word(rng: random.Random, syllables: tuple[int, int] = (1, 3)) -> str:
    """A pronounceable word that is in no dictionary: what constant wording looks like to a miner."""
    n = rng.randint(*syllables)
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(n)) + rng.choice(_CODAS)


def _words(rng: random.Random, n: int, syllables: tuple[int, int] = (1, 3)) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        w = pseudo_word(rng, syllables)
        if w not in out and len(w) > 2:
            out.append(w)
    return out


# -- values ---------------------------------------------------------------------------------


def _int(rng: random.Random) -> str:
    return str(rng.choice((rng.randint(0, 9), rng.randint(10, 999), rng.randint(1000, 10**7))))


def _float_unit(rng: random.Random) -> str:
    return f"{rng.uniform(0, 999):.{rng.randint(1, 2)}f} {rng.choice(('KB', 'MB', 'GB', 'B', 'ms', 'bytes'))}"


def _duration(rng: random.Random) -> str:
    return f"{rng.randint(1, 5000)}{rng.choice(('ms', 's', 'us'))}"


def _ip(rng: random.Random) -> str:
    ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
    return ip + (f":{rng.randint(1024, 65535)}" if rng.random() < 0.5 else "")


def _hexid(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice((8, 12, 16))))


def _alnum_id(rng: random.Random) -> str:
    """An id of letters and digits (not hex): masking keeps it, as it keeps ``ssh2``."""
    chars = string.ascii_lowercase + string.digits
    while True:
        s = "".join(rng.choice(chars) for _ in range(rng.randint(5, 10)))
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
            return s


def _uuid(rng: random.Random) -> str:
    h = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _path(rng: random.Random) -> str:
    parts = [pseudo_word(rng, (1, 2)) for _ in range(rng.randint(1, 3))]
    return "/" + "/".join(parts) + "/" + _alnum_id(rng) + rng.choice((".log", ".tmp", ".dat", ""))


def _quoted(rng: random.Random) -> str:
    return '"' + " ".join(pseudo_word(rng) for _ in range(rng.randint(2, 4))) + '"'


NUMERIC_VALUES: tuple[Field, ...] = (_int, _float_unit, _duration, _ip, _hexid, _uuid, _path, _quoted)


def _name_pool(rng: random.Random) -> list[str]:
    """Values of a variable word: names (``alice``), names with a number (``node17``), or ids."""
    style = rng.randrange(4)
    n = rng.randint(12, 40)
    if style == 0:
        return _words(rng, n)
    if style == 1:
        stem = pseudo_word(rng, (1, 2))
        sep = rng.choice(("", "-", "_"))
        return [f"{stem}{sep}{i}" for i in rng.sample(range(1, 200), n)]
    if style == 2:
        return [w.capitalize() for w in _words(rng, n)]
    return [_alnum_id(rng) for _ in range(n)]


def name_field(rng: random.Random) -> Field:
    pool = _name_pool(rng)
    return lambda r: r.choice(pool)


# Ids inside tokens: a constant prefix or suffix around a variable part.
def _inner_field(rng: random.Random) -> Field:
    stem = pseudo_word(rng, (1, 2))
    ext = rng.choice((".log", ".dat", ".parquet", ".tmp", ".json", ".gz"))
    shapes: list[Field] = [
        lambda r: f"{stem}_-{r.randint(10**17, 10**18)}" if r.random() < 0.5 else f"{stem}_{r.randint(10**17, 10**18)}",
        lambda r: f"{stem}-{r.randint(0, 99999):05d}{ext}",
        lambda r: f"{stem}_{r.randint(10**12, 10**13)}_{r.randint(0, 9999):04d}",
        lambda r: f"/{stem}/{pseudo_word(r, (1, 2))}/{_alnum_id(r)}{ext}",
        lambda r: f"{stem}-{_alnum_id(r)}{ext}",
        lambda r: f"{stem}.{_alnum_id(r)}",
        lambda r: f"{stem}{r.randint(1, 99999)}{ext}",
        lambda r: f"{_alnum_id(r)}{ext}",
    ]
    return rng.choice(shapes)


def _list_field(rng: random.Random) -> Field:
    """A list of one to six items, written ``a, b, c`` or ``[1, 2, 3]`` or ``{a,b}``."""
    item: Field = rng.choice((name_field(rng), _int, _ip, _hexid))
    opener, closer = rng.choice((("", ""), ("[", "]"), ("(", ")"), ("{", "}")))
    sep = rng.choice((", ", ", ", ",", " "))
    if sep == " " and not opener:
        sep = ", "
    low = 1 if opener else 2

    def field(r: random.Random) -> str:
        return opener + sep.join(item(r) for _ in range(r.randint(low, 6))) + closer

    return field


def _optional_field(rng: random.Random) -> Field:
    """A group of values in brackets, present in about half the messages, else nothing."""
    value: Field = rng.choice((_float_unit, _duration, _int, lambda r: f"{_int(r)}/{_int(r)}", _hexid))
    opener, closer = rng.choice((("(", ")"), ("[", "]"), ("(", ")")))

    def field(r: random.Random) -> str:
        return opener + value(r) + closer if r.random() < 0.5 else ""

    return field


# -- templates ------------------------------------------------------------------------------

Part = str | Field


def _render(parts: list[Part], rng: random.Random) -> str:
    out = [p if isinstance(p, str) else p(rng) for p in parts]
    return " ".join(w for w in out if w)


def _wording(rng: random.Random, vocab: list[str], n: int) -> list[Part]:
    return list(rng.sample(vocab, n))


def _body(rng: random.Random, vocab: list[str], special: Part, *, first: bool = False) -> list[Part]:
    """Constant words and values around ``special``: 3 to 9 tokens in all, ``special`` after a word unless ``first``."""
    parts: list[Part] = _wording(rng, vocab, rng.randint(2, 5))
    for _ in range(rng.randint(0, 2)):
        parts.insert(rng.randint(1, len(parts)), rng.choice(NUMERIC_VALUES))
    if first:
        parts.insert(0, special)
    else:
        parts.insert(rng.randint(1, len(parts)), special)
    return parts


def _templates_first(rng: random.Random, vocab: list[str], n: int) -> list[list[Part]]:
    return [_body(rng, vocab, name_field(rng), first=True) for _ in range(n)]


def _templates_optional(rng: random.Random, vocab: list[str], n: int) -> list[list[Part]]:
    out = []
    for _ in range(n):
        parts = _body(rng, vocab, rng.choice(NUMERIC_VALUES))
        at = rng.randint(1, len(parts))
        parts.insert(at, _optional_field(rng))
        out.append(parts)
    return out


def _templates_lists(rng: random.Random, vocab: list[str], n: int) -> list[list[Part]]:
    out = []
    for _ in range(n):
        field = _list_field(rng)
        parts = _body(rng, vocab, field)
        # Lists mostly follow a key (``nodes:``), as programs write them.
        i = parts.index(field)
        if isinstance(parts[i - 1], str) and rng.random() < 0.6:
            parts[i - 1] = f"{parts[i - 1]}{rng.choice((':', '='))}"
        out.append(parts)
    return out


def _templates_inner(rng: random.Random, vocab: list[str], n: int) -> list[list[Part]]:
    return [_body(rng, vocab, _inner_field(rng), first=rng.random() < 0.2) for _ in range(n)]


def _templates_short(rng: random.Random, vocab: list[str], n: int) -> list[list[Part]]:
    """Families of two- or three-word templates that differ in one constant word."""
    out: list[list[Part]] = []
    seen: set[tuple[str, ...]] = set()  # two families must not print the same words
    while len(out) < n:
        size = rng.choice((2, 2, 3))
        stem = _wording(rng, vocab, size)
        at = rng.randrange(size)
        for word in rng.sample(vocab, rng.randint(2, 6)):
            parts = list(stem)
            parts[at] = word
            if tuple(parts) in seen:
                continue
            seen.add(tuple(parts))
            if rng.random() < 0.3:
                parts.append(rng.choice(NUMERIC_VALUES))
            out.append(parts)
    return out[:n]


_MAKERS = {
    "first": _templates_first,
    "optional": _templates_optional,
    "lists": _templates_lists,
    "inner": _templates_inner,
    "short": _templates_short,
}
KINDS = (*_MAKERS, "mixed")


def corpus(kind: str, seed: int, *, templates: int = 40, messages: int = 3000) -> list[tuple[str, int]]:
    """``messages`` messages of ``templates`` generated templates of ``kind``, with each one's template index.

    Templates are drawn with skewed frequencies (a few frequent, many rare), as in real logs.
    """
    rng = random.Random(f"{kind}:{seed}")
    vocab = _words(rng, 300)
    if kind == "mixed":
        per = max(1, templates // len(_MAKERS))
        made = [t for make in _MAKERS.values() for t in make(rng, vocab, per)]
    else:
        made = _MAKERS[kind](rng, vocab, templates)
    weights = [1.0 / (i + 1) ** 0.7 for i in range(len(made))]
    out: list[tuple[str, int]] = []
    for _ in range(messages):
        t = rng.choices(range(len(made)), weights)[0]
        out.append((_render(made[t], rng), t))
    # Every template at least a few times, so that none is judged on one line.
    for t, parts in enumerate(made):
        for _ in range(3):
            out.append((_render(parts, rng), t))
    rng.shuffle(out)
    return out


def synth_accuracy(kind: str, seeds: range, *, messages: int = 3000) -> list[float]:
    """The miner's grouping accuracy on ``kind``'s corpus for each seed."""
    from logpipe.patterns.miner import mine

    from patterns_accuracy import grouping_accuracy

    out = []
    for seed in seeds:
        rows = corpus(kind, seed, messages=messages)
        patterns = mine([m for m, _ in rows])
        out.append(grouping_accuracy([t for _, t in rows], [p.id for p in patterns]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/patterns_synth.py", description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--show", metavar="KIND", help="print one corpus's messages with their template index")
    args = p.parse_args(argv)
    if args.show:
        for message, t in corpus(args.show, 0, messages=args.messages)[:200]:
            print(f"{t:3} {message}")
        return 0
    print(f"{'kind':<10}{'mean GA':>9}{'lowest':>9}   per seed")
    for kind in KINDS:
        ga = synth_accuracy(kind, range(args.seeds), messages=args.messages)
        print(f"{kind:<10}{sum(ga) / len(ga):>9.3f}{min(ga):>9.3f}   " + " ".join(f"{g:.3f}" for g in ga))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
