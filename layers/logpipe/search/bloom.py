"""The Bloom filter of a block's tokens: built here, read by SQL.

A block (the events of one stream entry) records every token a query may require of
it: the words of its messages (``query.tokens``) and ``p:<id>`` for each pattern id.
A query that requires a token skips every block whose filter says "not here"; a
filter never says that of a token it was given (a false "maybe" only costs a scan).

Layout: a blocked Bloom filter. The filter is ``segments`` segments of 512 bits (64
bytes); a token's hash picks one segment and sets ``K`` bits in it. So a query reads one
64-byte slice per term and block (PostgreSQL fetches only that slice of a value stored
uncompressed out of line), and compares it with the term's mask in one expression.
With ``BITS_PER_TOKEN`` bits a token, about one block in a thousand answers "maybe"
for a token it lacks.

A segment is a 512-bit integer written big-endian, so that its bytes, read as hex into
SQL's ``bit(512)``, put bit ``i`` of the integer at the same place as the mask's text
``format(mask, '0512b')`` does.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SEGMENT_BITS = 512
SEGMENT_BYTES = SEGMENT_BITS // 8
BITS_PER_TOKEN = 16
K = 8  # bits set per token; the hash gives 8 positions of 9 bits
_BIT = [1 << i for i in range(SEGMENT_BITS)]
_HASH = struct.Struct("<I8H")  # a segment hash, and 8 bit positions (their low 9 bits)


@dataclass(frozen=True, slots=True)
class Probe:
    """Where a token lives in any filter: its segment hash and its mask."""

    segment_hash: int  # the segment is segment_hash % segments
    mask: int  # K bits of a 512-bit segment

    @property
    def mask_text(self) -> str:
        return format(self.mask, f"0{SEGMENT_BITS}b")


def probe(token: str) -> Probe:
    digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=_HASH.size).digest()
    s, a, b, c, d, e, f, g, h = _HASH.unpack(digest)
    m, bit = 511, _BIT
    return Probe(
        s, bit[a & m] | bit[b & m] | bit[c & m] | bit[d & m] | bit[e & m] | bit[f & m] | bit[g & m] | bit[h & m]
    )


def pattern_token(pattern_id: str) -> str:
    """The token of a pattern id (words are runs of ``\\w``, so no word has a colon)."""
    return "p:" + pattern_id


def segments_for(tokens: int) -> int:
    return max(1, -(-tokens * BITS_PER_TOKEN // SEGMENT_BITS))


class Builder:
    """Builds filters, remembering the probes of frequent tokens between blocks (most
    words recur from block to block; hashing is most of the cost)."""

    def __init__(self, cache_size: int = 200_000) -> None:
        self._cache: dict[str, Probe] = {}
        self._cache_size = cache_size

    def build(self, tokens: Iterable[str]) -> tuple[int, bytes]:
        """(segments, filter bytes) holding every one of ``tokens`` (a set: no repeats)."""
        distinct = tokens if isinstance(tokens, set | frozenset) else set(tokens)
        n = segments_for(len(distinct))
        segs = [0] * n
        cache = self._cache
        for token in distinct:
            p = cache.get(token)
            if p is None:
                p = probe(token)
                if len(cache) < self._cache_size:
                    cache[token] = p
            segs[p.segment_hash % n] |= p.mask
        return n, b"".join(s.to_bytes(SEGMENT_BYTES, "big") for s in segs)


def contains(segments: int, bloom: bytes, token: str) -> bool:
    """Whether the filter may hold ``token`` (what the SQL of ``sql_condition`` answers)."""
    p = probe(token)
    start = (p.segment_hash % segments) * SEGMENT_BYTES
    seg = int.from_bytes(bloom[start : start + SEGMENT_BYTES], "big")
    return seg & p.mask == p.mask


def sql_condition(
    tokens: Iterable[str], name: str, *, bloom: str = "b.bloom", segments: str = "b.segments", any_of: bool = False
) -> tuple[str, dict[str, Any]]:
    """An SQL condition (and its parameters, named ``<name>N...``) true of every block whose
    filter may hold all of ``tokens`` (any of them with ``any_of``)."""
    conds: list[str] = []
    params: dict[str, Any] = {}
    for n, token in enumerate(tokens):
        p = probe(token)
        h, m = f"{name}{n}h", f"{name}{n}m"
        params[h], params[m] = p.segment_hash, p.mask_text
        offset = f"CAST(CAST(:{h} AS bigint) % {segments} AS integer) * {SEGMENT_BYTES} + 1"
        segment = (
            f"CAST('x' || encode(substring({bloom} FROM {offset} FOR {SEGMENT_BYTES}), 'hex') AS bit({SEGMENT_BITS}))"
        )
        mask = f"CAST(:{m} AS bit({SEGMENT_BITS}))"
        conds.append(f"({segment} & {mask}) = {mask}")
    if not conds:
        return "TRUE", {}
    return "(" + (" OR " if any_of else " AND ").join(conds) + ")", params
