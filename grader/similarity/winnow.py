"""k-gram hashes over normalised tokens and winnowing (Schleimer, Wilkerson and Aiken, 2003).

Winnowing keeps, from every window of `window` consecutive k-gram hashes, the smallest (the
rightmost on a tie). Two texts that share a run of at least `k + window - 1` tokens are
guaranteed to share a kept hash; a shorter run below `k` tokens never shares one. Hashes are
deterministic (tuples of CRC-32s of the tokens; Python does not salt integer hashing), so a
report is the same from run to run.
"""
from __future__ import annotations

import zlib
from functools import lru_cache


@lru_cache(maxsize=65536)
def token_hash(token: str) -> int:
    return zlib.crc32(token.encode("utf-8", "surrogatepass"))


def kgram_hashes(tokens: tuple[str, ...] | list[str], k: int) -> list[int]:
    """The hash of every run of `k` consecutive tokens (empty when there are fewer)."""
    ids = [token_hash(t) for t in tokens]
    return [hash(tuple(ids[i:i + k])) for i in range(len(ids) - k + 1)]


def winnow(hashes: list[int], window: int) -> set[int]:
    """The positions winnowing keeps from `hashes` (every position when there are fewer
    hashes than one window)."""
    if len(hashes) <= window:
        return set(range(len(hashes)))
    kept = set()
    for start in range(len(hashes) - window + 1):
        block = hashes[start:start + window]
        low = min(block)
        kept.add(start + window - 1 - block[::-1].index(low))
    return kept
