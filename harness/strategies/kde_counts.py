"""BOHB's good/bad product-kernel KDEs kept incrementally, so a model costs the same at any history length.

Why (issue 20): BOHB refits l(x) and g(x) after every result, and a KDE's density at a candidate is
a mean over all of its data, so each proposal cost O(N d) and a run O(N^2). For categorical codes
the Aitchison-Aitken product kernel has only two values per position (`a_j = 1 - lambda_j` on a
match, `o_j` otherwise), so

    sum_i prod_j K_j(x_j, X_ij) = sum over subsets S of positions of
        prod_{j in S} (a_j - o_j) * prod_{j not in S} o_j * #{i : X_iS = x_S},

and the counts #{i : X_iS = x_S} of every partial pattern can be kept in one integer table (each
code row adds one to its 2^d partial patterns, a wildcard digit standing for "any value"). A density
is then 2^d gathers per candidate, whatever N; the bandwidth's standard deviation comes from the
per-position value counts (the patterns with one position set). Exact up to rounding. It applies to
the `bounded` kernel rule when the table is small (NB201: 6 positions of 5 choices, 6^6 cells);
`IncrementalSplit.usable` says when, and BOHB otherwise uses its direct KDE.

`IncrementalSplit` keeps, for one budget, the observations sorted by loss (stable: ties by time, as
numpy's stable argsort) and which of them form the good set (the best n_good) and the bad set (the
next n_bad): an insertion moves at most a few observations across the two boundaries.
"""
from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

MAX_CELLS = 1 << 22  # largest pattern table (int64 cells per group) kept incrementally
MAX_POSITIONS = 12  # 2^12 gathers per candidate at most


class PatternCounts:
    """Counts of every partial pattern of the code rows added (module docstring)."""

    def __init__(self, n_choices: np.ndarray):
        self.n_choices = np.asarray(n_choices, dtype=np.int64)
        d = self.n_choices.size
        radix = self.n_choices + 1  # digit n_choices[j] is the wildcard
        self.place = np.concatenate([[1], np.cumprod(radix[:-1])]).astype(np.int64)
        self.counts = np.zeros(int(np.prod(radix)), dtype=np.int64)
        subsets = np.arange(1 << d)
        self.masks = ((subsets[:, None] >> np.arange(d)[None, :]) & 1).astype(bool)  # (2^d, d)
        self._wild = (self.n_choices * self.place)[None, :]
        self.n = 0

    def keys(self, rows: np.ndarray) -> np.ndarray:
        """(m, 2^d) table cells of the partial patterns of each row."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1, self.n_choices.size)
        digits = rows * self.place[None, :]  # (m, d)
        cells = np.where(self.masks[None, :, :], digits[:, None, :], self._wild[:, None, :])
        return cells.sum(axis=2)

    def add(self, row: np.ndarray, sign: int = 1) -> None:
        """Add (sign=1) or remove (sign=-1) one code row."""
        self.counts[self.keys(row)[0]] += sign
        self.n += sign

    def std(self) -> np.ndarray:
        """Population standard deviation of each position's codes (numpy's `std(axis=0)`)."""
        d = self.n_choices.size
        out = np.zeros(d)
        if self.n == 0:
            return out
        for j in range(d):
            values = np.arange(self.n_choices[j])
            other = np.delete(np.arange(d), j)
            base = int((self.n_choices[other] * self.place[other]).sum())
            weights = self.counts[base + values * self.place[j]].astype(np.float64)
            mean = float((weights * values).sum()) / self.n
            out[j] = math.sqrt(float((weights * (values - mean) ** 2).sum()) / self.n)
        return out

    def bandwidth(self, min_bandwidth: float) -> np.ndarray:
        """The `bounded` rule's lambda: normal reference, floored, capped at (c - 1) / c (bohb.CategoricalKDE)."""
        d = self.n_choices.size
        bw = np.maximum(1.06 * self.std() * self.n ** (-1.0 / (4 + d)), min_bandwidth)
        return np.minimum(bw, (self.n_choices - 1) / np.maximum(self.n_choices, 1))

    def pdf(self, points: np.ndarray, bw: np.ndarray) -> np.ndarray:
        """Mean product-kernel density of the rows added, at each point, for bandwidths `bw`."""
        levels = self.n_choices
        other = np.where(levels > 1, bw / np.maximum(levels - 1, 1), 0.0)
        diff = (1.0 - bw) - other
        coef = np.where(self.masks, diff[None, :], other[None, :]).prod(axis=1)  # (2^d,)
        return (self.counts[self.keys(points)] * coef[None, :]).sum(axis=1) / self.n


class IncrementalSplit:
    """One budget's observations, sorted by loss, split into good and bad pattern counts."""

    def __init__(self, n_choices: np.ndarray, min_points: int, top_n_percent: int):
        self.min_points, self.top = min_points, top_n_percent
        self.good = PatternCounts(n_choices)
        self.bad = PatternCounts(n_choices)
        self.ranked: list[tuple[float, int]] = []  # (loss, time), sorted
        self.codes: list[np.ndarray] = []
        self._group: list[int] = []  # per time: 0 none, 1 good, 2 bad

    @staticmethod
    def usable(n_choices: np.ndarray) -> bool:
        """Whether the pattern table is small enough to keep (else the direct KDE is used)."""
        n_choices = np.asarray(n_choices, dtype=np.int64)
        return n_choices.size <= MAX_POSITIONS and float(np.prod(n_choices + 1.0)) <= MAX_CELLS

    def sizes(self, n: int) -> tuple[int, int]:
        """(n_good, end of the bad set) in rank order, as bohb.BOHB._split."""
        n_good = max(self.min_points, (self.top * n) // 100)
        n_bad = max(self.min_points, ((100 - self.top) * n) // 100)
        return min(n_good, n), min(n_good + n_bad, n)

    def add(self, code: np.ndarray, loss: float) -> None:
        """Record one observation and move the few that cross a boundary."""
        t = len(self.codes)
        self.codes.append(np.asarray(code, dtype=np.int64))
        self._group.append(0)
        position = bisect.bisect_right(self.ranked, (loss, t))
        self.ranked.insert(position, (loss, t))
        n = len(self.ranked)
        n_good, end = self.sizes(n)
        touched = {position}
        for boundary in (n_good, end):
            touched.update(range(max(0, boundary - 3), min(n, boundary + 3)))
        for p in touched:
            want = 1 if p < n_good else 2 if p < end else 0
            self._move(self.ranked[p][1], want)

    def _move(self, t: int, want: int) -> None:
        have = self._group[t]
        if have == want:
            return
        if have:
            (self.good if have == 1 else self.bad).add(self.codes[t], -1)
        if want:
            (self.good if want == 1 else self.bad).add(self.codes[t], 1)
        self._group[t] = want

    def good_rows(self, ranks: np.ndarray) -> np.ndarray:
        """Code rows of the observations at these overall ranks (rank 0 = best; the good set first)."""
        return np.stack([self.codes[self.ranked[int(r)][1]] for r in ranks])


class _GroupRows:
    """`data` of a CountsKDE: a group's observations in rank order, read by rank without building the
    whole array (which `numpy.asarray(data)` or iterating still gives, for inspection)."""

    def __init__(self, split: IncrementalSplit, start: int, n: int, d: int):
        self._split, self._start, self.shape = split, start, (n, d)

    def __getitem__(self, ranks: np.ndarray) -> np.ndarray:
        return self._split.good_rows(np.asarray(ranks) + self._start)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        rows = self[np.arange(self.shape[0])] if self.shape[0] else np.zeros(self.shape, dtype=np.int64)
        return rows if dtype is None else rows.astype(dtype)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(np.asarray(self))

    def __len__(self) -> int:
        return self.shape[0]


class CountsKDE:
    """What bohb.BOHB.model_sample reads of a fitted KDE (`data`, `bw`, `pdf`), from pattern counts.

    The bandwidths are computed once per fit (the model is refitted only when its budget's data grew).
    """

    def __init__(self, split: IncrementalSplit, counts: PatternCounts, min_bandwidth: float, good: bool):
        self.counts = counts
        self.bw = counts.bandwidth(min_bandwidth)
        d = counts.n_choices.size
        self.data = _GroupRows(split, 0 if good else split.good.n, counts.n, d)

    def pdf(self, points: np.ndarray) -> np.ndarray:
        """Density at each row of `points`, as bohb.CategoricalKDE.pdf (`bounded` rule)."""
        return self.counts.pdf(points, self.bw)
