"""Pairs of submissions that share what their authors wrote, per function, ranked.

Each unit (a function of a submission) keeps its winnowed fingerprints. Masked, and never
evidence: any k-gram that occurs in the stub or in the staff's boilerplate folder (all its
k-grams, not only the winnowed ones), and any fingerprint found in more than
`common_fraction` of the submissions (and more than `common_floor` of them, so that a small
class keeps its evidence). A unit's *own* tokens are those no masked k-gram covers: what the
student wrote that is not everybody's.

Candidate pairs come from an inverted index (fingerprint -> submissions), so a pair that
shares nothing costs nothing; every candidate pair is then scored exactly:
covered(a) + covered(b) over own(a) + own(b), summed over the units both wrote something in
(a function one of them left as the stub says nothing either way), where covered counts the
own tokens inside k-grams whose fingerprint the two share. The same ratio on one unit is that
function's score. A pair (or a function of a pair) is flagged at `threshold` when it also
shares at least `min_tokens` tokens: a matching one-liner is not evidence.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from grader.similarity.normalize import Unit
from grader.similarity.winnow import kgram_hashes, winnow


@dataclass(frozen=True)
class Settings:
    """Every number the comparison uses (the report prints them)."""
    k: int = 10                     # tokens per k-gram
    window: int = 6                 # winnowing window: runs >= k + window - 1 tokens are seen
    common_fraction: float = 0.2    # a fingerprint in more of the class than this is ignored ...
    common_floor: int = 4           # ... when also in more than this many submissions
    threshold: float = 0.45         # flag a pair (or a function) from this score ...
    min_tokens: int = 40            # ... when it shares at least this many tokens
    min_shared: int = 2             # fingerprints a pair must share to be scored at all


@dataclass
class Doc:
    """One submission (or one of an earlier term) as units of tokens."""
    id: str
    units: dict[str, Unit]
    past: bool = False
    parsed: bool = True


@dataclass
class _Prepared:
    hashes: list[int]
    fingerprints: set[int] = field(default_factory=set)
    own_before: list[int] = field(default_factory=list)   # own tokens before each position
    positions: dict[int, list[int]] = field(default_factory=dict)

    @property
    def own_count(self) -> int:
        return self.own_before[-1] if self.own_before else 0

    def own_in(self, lo: int, hi: int) -> int:
        return self.own_before[hi] - self.own_before[lo]


@dataclass(frozen=True)
class UnitMatch:
    """One function of one pair: its score, shared tokens and the matched original lines."""
    unit: str
    score: float
    shared: int
    own_a: int
    own_b: int
    spans_a: tuple[tuple[int, int], ...]     # token ranges [lo, hi) inside shared k-grams
    spans_b: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float
    shared: int
    units: tuple[UnitMatch, ...]
    flagged: bool


def boilerplate_hashes(units: list[Unit], k: int) -> set[int]:
    """Every k-gram hash of the stub's and the staff boilerplate's units."""
    found: set[int] = set()
    for unit in units:
        found.update(kgram_hashes(unit.tokens, k))
    return found


def _prepare(doc: Doc, s: Settings, boiler: set[int]) -> dict[str, _Prepared]:
    out = {}
    for name, unit in doc.units.items():
        hashes = kgram_hashes(unit.tokens, s.k)
        prep = _Prepared(hashes)
        prep.fingerprints = {hashes[i] for i in winnow(hashes, s.window)} - boiler
        out[name] = prep
    return out


def _mask(prep: _Prepared, n_tokens: int, k: int, masked: set[int]) -> None:
    """Own tokens (not inside a masked k-gram) and the positions of the unmasked hashes."""
    own = [True] * n_tokens
    positions: dict[int, list[int]] = defaultdict(list)
    for i, h in enumerate(prep.hashes):
        if h in masked:
            own[i:i + k] = [False] * len(own[i:i + k])
        else:
            positions[h].append(i)
    before = [0]
    for flag in own:
        before.append(before[-1] + flag)
    prep.own_before, prep.positions = before, dict(positions)


def _spans(prep: _Prepared, shared: set[int], k: int) -> tuple[tuple[int, int], ...]:
    """The merged token ranges covered by the k-grams whose hash is shared."""
    starts = sorted(i for h in shared for i in prep.positions.get(h, ()))
    spans: list[tuple[int, int]] = []
    for i in starts:
        if spans and i <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], i + k))
        else:
            spans.append((i, i + k))
    return tuple(spans)


def span_lines(unit: Unit, spans: tuple[tuple[int, int], ...]) -> frozenset[int]:
    """The original lines of the tokens in `spans`."""
    return frozenset(unit.lines[j] for lo, hi in spans for j in range(lo, hi))


def _score(covered: int, own: int) -> float:
    return covered / own if own else 0.0


@dataclass
class Comparison:
    """The whole class compared: settings, the scored pairs (best first) and the facts."""
    settings: Settings
    pairs: list[Pair]
    ignored_common: int
    candidates: int
    docs: int


def compare(docs: list[Doc], boiler: set[int], s: Settings = Settings()) -> Comparison:
    """Score every pair that shares at least `min_shared` fingerprints (never two past
    submissions), best first."""
    prepared = [_prepare(d, s, boiler) for d in docs]
    df: dict[tuple[str, int], int] = defaultdict(int)
    for prep in prepared:
        for name, p in prep.items():
            for h in p.fingerprints:
                df[(name, h)] += 1
    limit = max(s.common_fraction * len(docs), s.common_floor)
    common = {key for key, n in df.items() if n > limit}
    common_by_unit: dict[str, set[int]] = defaultdict(set)
    for name, h in common:
        common_by_unit[name].add(h)
    masked = {name: boiler | hashes for name, hashes in common_by_unit.items()}
    postings: dict[tuple[str, int], list[int]] = defaultdict(list)
    for index, (doc, prep) in enumerate(zip(docs, prepared)):
        for name, p in prep.items():
            p.fingerprints -= common_by_unit.get(name, set())
            _mask(p, len(doc.units[name].tokens), s.k, masked.get(name, boiler))
            for h in p.fingerprints:
                postings[(name, h)].append(index)
    counts: dict[tuple[int, int], int] = defaultdict(int)
    for holders in postings.values():
        for i, j in combinations(holders, 2):
            if not (docs[i].past and docs[j].past):
                counts[(i, j)] += 1
    pairs = [_pair(docs[i], docs[j], prepared[i], prepared[j], s)
             for (i, j), n in counts.items() if n >= s.min_shared]
    pairs.sort(key=lambda p: (-p.score, -p.shared, p.a, p.b))
    return Comparison(s, pairs, len(common), len(counts), len(docs))


def _pair(da: Doc, db: Doc, pa: dict[str, _Prepared], pb: dict[str, _Prepared],
          s: Settings) -> Pair:
    matches, cov_total, own_total = [], 0, 0
    for name in sorted(set(pa) | set(pb)):
        a, b = pa.get(name), pb.get(name)
        own_a, own_b = (a.own_count if a else 0), (b.own_count if b else 0)
        if not own_a or not own_b:       # one of them wrote nothing here: no evidence either way
            continue
        own_total += own_a + own_b
        shared = a.fingerprints & b.fingerprints
        if not shared:
            continue
        spans_a, spans_b = _spans(a, shared, s.k), _spans(b, shared, s.k)
        hit_a = sum(a.own_in(lo, hi) for lo, hi in spans_a)
        hit_b = sum(b.own_in(lo, hi) for lo, hi in spans_b)
        cov_total += hit_a + hit_b
        matches.append(UnitMatch(name, _score(hit_a + hit_b, own_a + own_b), min(hit_a, hit_b),
                                 own_a, own_b, spans_a, spans_b))
    matches.sort(key=lambda m: (-m.score, m.unit))
    score = _score(cov_total, own_total)
    shared = sum(m.shared for m in matches)
    return Pair(da.id, db.id, score, shared, tuple(matches),
                score >= s.threshold and shared >= s.min_tokens)


def unit_flagged(m: UnitMatch, s: Settings) -> bool:
    """A function of a pair worth a look on its own."""
    return m.score >= s.threshold and m.shared >= s.min_tokens


def clusters(edges: list[tuple[str, str]]) -> list[list[str]]:
    """Connected components of the flagged pairs (two or more members each), largest first."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[str]] = defaultdict(list)
    for x in parent:
        groups[root(x)].append(x)
    return sorted((sorted(g) for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g))
