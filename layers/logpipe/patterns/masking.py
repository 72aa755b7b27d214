"""Masking the variable parts of a log message: one precompiled regex, replaced in C.

``mask(message)`` turns every span that is a value rather than wording into ``<*>``:
numbers (signed, decimal, with a unit such as ``12ms``, ``3.5s``, ``10KB``), hex
(``0x1f``, ``de9231d``), chains of them joined by ``. : - _ / ,`` (IPv4 and IPv6
addresses with their ports, dates, times, versions, ids such as ``1445144423722_0020``),
UUIDs, URLs after their scheme, absolute paths, e-mail addresses, quoted text with
spaces in it, and written-out dates (``Sun Dec 04 04:47:44 2005``, ``Jun 14 15:16:01``,
``2015-10-18 18:01:47,978``).

What it deliberately keeps: words. A digit glued to letters stays (``ssh2``,
``Slf4jLogger``, ``u0``) because such tokens are mostly names; an id prefix stays
(``blk_-123`` becomes ``blk_<*>``) because it says what kind of value follows; a
key of ``key=value`` stays and its value is masked when it is a value by the rules above
(``uid=0`` becomes ``uid=<*>``, ``force=false`` stays: flag words tell events apart).
Words that vary (user names, host names) are left to the miner, which decides from how
many different values it sees in the same place.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

WILDCARD = "<*>"

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?"
_CLOCK = r"\d+:\d+(?::\d+(?:[.,]\d+)?)?"
# A hex or decimal run with at least one digit (plain numbers are hex runs too).
_ATOM = r"(?:[0-9]+[xX][0-9a-fA-F]+|[0-9a-fA-F]*[0-9][0-9a-fA-F]*)"
_SEP = r"(?:::?|[-_./,])"
_UNIT = r"(?:[a-zA-Z]{1,3}|%)"
# Units written after a space: sizes and durations (``20.3 KB``, ``15 ms``).
_SPACED_UNIT = r"(?:\s(?:[KMGTP]i?B|B|bytes|[mun]s|sec|secs|seconds|mins|minutes|hours|days)(?![\w.]))"

_ALTERNATIVES = (
    # Written-out dates first, so the words in them go with the numbers.
    rf"\b(?:{_DAY}\s+)?{_MONTH}\s+\d+(?:,?\s+\d+)?\s+{_CLOCK}(?:\s+\d+)?\b",
    # ISO 8601 date and time, with a space or a T between them.
    r"(?<![A-Za-z0-9])\d+-\d+-\d+[T ]\d+:\d+(?::\d+(?:[.,]\d+)?)?(?:Z|[+-]\d+(?::?\d+)?)?(?![A-Za-z0-9])",
    # URLs: the scheme says what the value is, the rest is the value.
    r"(?<=://)[^\s\"'<>]+",
    # E-mail addresses.
    r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?![\w-])",
    # Quoted text with spaces in it (a single quote only when it opens after a non-word,
    # so that apostrophes in "can't find" do not start one). A quoted single word is a
    # token like any other: a name as often as a value, which the miner tells apart.
    r'(?<![^\s=:(\[{,])"[^"\s]*\s[^"]*"(?!\w)',
    r"(?<![\w'])'[^'\s]+\s[^']*'(?!\w)",
    # Absolute paths (Unix and Windows).
    r"(?<![\w.:/~-])/[^\s\"'<>,;()\[\]{}|]+",
    r"(?<![\w])[A-Za-z]:\\[^\s\"'<>,;|]+",
    # UUIDs (their groups may lack a digit).
    r"(?<![A-Za-z0-9])(?=[0-9a-fA-F-]*[0-9])[0-9a-fA-F]+(?:-[0-9a-fA-F]+){4}(?![A-Za-z0-9])",
    # Numbers, hex, and chains of them: IPs with ports, times, dates, versions, ids.
    # A single letter between two parts stays in the chain (``1445_0020_m_000001``).
    rf"(?<![A-Za-z0-9])-?{_ATOM}(?:{_SEP}(?:[A-Za-z]{_SEP})?{_ATOM})*(?:{_UNIT}|{_SPACED_UNIT})?(?![A-Za-z0-9])",
    # Long hex without a digit (masks such as ``ffffffff``).
    r"(?<![A-Za-z0-9])[a-fA-F]{8,}(?![A-Za-z0-9])",
)

MASK_RE = re.compile("|".join(f"(?:{alt})" for alt in _ALTERNATIVES))


@dataclass(frozen=True)
class StandIn:
    """Runs that a shape key puts a stand-in for: ``opener`` then one or more ``chars``,
    touching no ``glue`` character before them (nor after them, when ``whole``), holding at
    least one character of each of ``needs``. Classes are single characters' patterns in
    regex syntax. ``pattern`` is the regex; the compiled lane is handed the rule itself and
    replaces the same runs (for it, ``chars`` must be ``glue`` characters too, which makes
    the longest run the only one that can match).
    """

    chars: str
    glue: str
    standin: str
    opener: str = ""
    whole: bool = False
    needs: tuple[str, ...] = ()

    @property
    def pattern(self) -> str:
        needs = "".join(f"(?={self.chars}*?{need})" for need in self.needs)
        after = f"(?!{self.glue})" if self.whole else ""
        return f"(?<!{self.glue}){re.escape(self.opener)}{needs}{self.chars}+{after}"


# Digit runs not glued to a letter. No rule above tells one such run from another (no
# digit is special, no count of digits is), so two messages that differ only in these
# runs are masked alike, as long as none of the runs survives masking. Keep it so: a
# rule such as ``\d{4}`` or ``0x`` would break the shape cache built on this.
DIGITS = StandIn("[0-9]", "[A-Za-z0-9]", "0")

# Hex words with a letter and a digit, standing alone (``9b810e76``, ``c2ce6f44``): ids.
# Every rule above that can take one takes it whole as a value, and none tells one from
# another or from ``0x0``, their stand-in in the key: the rules that want digits alone
# (dates, clocks) stop at the first letter of either. So messages that differ only in
# such words mask alike too, while none of the words survives masking.
HEX = StandIn("[0-9a-fA-F]", "[A-Za-z0-9]", "0x0", whole=True, needs=("[0-9]", "[a-fA-F]"))

# A whole token that is an absolute path (``/api/orders/42?page=2``), between whitespace.
# The path rule takes it whole, unless a quoted text with spaces takes it along (which
# looks at quotes and spaces only, and a path holds neither); no other rule that starts
# before it can reach across the space into it, and none after it looks back past the
# space. So messages that differ only in such tokens mask alike; ``/p``, itself such a
# path, stands in for them (``/`` alone is no path: it stays).
PATH = StandIn(r"""[^\s"'<>,;()\[\]{}|]""", r"\S", "/p", opener="/", whole=True)

# The shape key of a message: the digit runs first (the miner looks that key up first, as
# most messages differ from one seen before in their numbers alone), then the rest.
SHAPE_KEY_STAGES = ((DIGITS,), (HEX, PATH))

SHAPE_DIGITS_RE = re.compile(DIGITS.pattern)
SHAPE_HEX_RE = re.compile(HEX.pattern)
HEX_STANDIN = HEX.standin
SHAPE_PATH_RE = re.compile(PATH.pattern)
PATH_STANDIN = PATH.standin


def mask(message: str) -> str:
    """``message`` with every variable span replaced by ``<*>``; pure and deterministic."""
    return MASK_RE.sub(WILDCARD, message)


def _stage(rules: tuple[StandIn, ...]) -> Callable[[str], str]:
    """The text with the runs of ``rules`` replaced, one rule after the other."""
    subs = tuple((re.compile(r.pattern).sub, r.standin, r.opener) for r in rules)
    if len(subs) == 1 and not subs[0][2]:
        return partial(subs[0][0], subs[0][1])  # the miner's every message: no Python frame

    def apply(text: str) -> str:
        for sub, standin, opener in subs:
            if not opener or opener in text:
                text = sub(standin, text)
        return text

    return apply


first_key, _rest_of_key = (_stage(stage) for stage in SHAPE_KEY_STAGES)


def full_key(first: str) -> str:
    """The shape key of a message from its ``first_key``."""
    return _rest_of_key(first)


def shape_keys(message: str) -> tuple[str, str]:
    """The keys the miner looks ``message`` up by, in turn: cheap keys that equal for
    messages ``mask`` treats alike, while no run of ``DIGITS`` or ``HEX`` survives masking."""
    first = first_key(message)
    return first, _rest_of_key(first)


def key_safe(masked: str) -> bool:
    """True when ``masked`` (a message after ``mask``) kept none of the runs the key
    replaces that masking may keep (paths it never keeps): then every message of its key
    masks to it."""
    return SHAPE_DIGITS_RE.search(masked) is None and SHAPE_HEX_RE.search(masked) is None
