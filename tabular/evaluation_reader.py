"""Reading one evaluation of a stored table at a time, as fast as Python allows (issue 20).

Why a module of its own: a run engine reads a handful of values per evaluation, thousands of times
per run; `BenchmarkStore.query` validates its arguments and builds arrays on every call. A reader
validates once and then indexes memoryviews of the store's cached arrays. `read_many` answers a
batch of evaluations with the same draws, for strategies whose proposals do not depend on results.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tabular.errors import StoreError
from tabular.protocol import MEAN_SEED, SeedPolicy, check_seed_policy

if TYPE_CHECKING:
    from tabular.store import BenchmarkStore


def _memory(array: np.ndarray) -> memoryview:
    """A memoryview of a 1-D array whose items are native Python numbers: memoryview cannot index a
    format with an explicit byte order ('<d', as arrays read from a store file are typed), so the
    bytes are viewed under the plain one-letter format (a foreign byte order is converted first)."""
    array = np.ascontiguousarray(array)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return memoryview(array).cast("B").cast(array.dtype.char)  # type: ignore[arg-type,return-value]


class EvaluationReader:
    """Reads one evaluation of a BenchmarkStore per call, bit for bit what `query` would answer.

    Why: a search engine reads a handful of values per evaluation, thousands of times per run; going
    through `query` costs argument checks, 1-element arrays and memmap indexing each time (about 70 us
    per evaluation, issue 20). Everything that can be checked is checked here, once: the seed policy,
    the seed label, the metric names. Rows come from the search space (checked against `n_archs`),
    fidelity positions from `BenchmarkStore.fidelity_index`. Arrays are plain ndarray views of the
    memory maps (indexing a memmap subclass is several times slower).
    """

    def __init__(self, store: BenchmarkStore, primary: str, same_seed: list[str] | tuple[str, ...], *,
                 seed_policy: SeedPolicy = "mean", seed: int | None = None, rng: np.random.Generator | None = None):
        self.policy = check_seed_policy(seed_policy, seed, rng, available=store.seeds)
        for metric in (primary, *same_seed):
            store._check_metric(metric)
        self.store = store
        self.primary = primary
        self.same_seed = tuple(same_seed)
        self.rng = rng
        self.n_archs = store.n_archs
        self.n_seeds = len(store.seeds)
        self.seed_labels = [int(s) for s in store.seeds.tolist()]
        self.seed = None if seed is None or self.policy != "fixed" else int(seed)
        self.seed_pos = store.seed_index(self.seed) if self.seed is not None else -1
        self._means: dict[tuple[str, int], np.ndarray] = {}
        self._sample = self.policy == "sample"
        self._fixed = self.policy == "fixed"
        self._views: dict[int, tuple[Any, ...]] = {}

    def _mean(self, metric: str, fi: int) -> np.ndarray:
        key = (metric, fi)
        means = self._means.get(key)
        if means is None:
            means = self._means[key] = self.store.seed_mean(metric, float(self.store.fidelities[fi]))
        return means

    def _views_at(self, fi: int) -> tuple[Any, ...]:
        """What one fidelity position's reads index, as memoryviews of the store's cached arrays:
        indexing a memoryview gives a Python float or int directly, where indexing an ndarray builds
        a numpy scalar first (several times slower, and a run reads a few values per evaluation).
        `sample`: (values, seed order, seed counts, [other metrics]); `fixed`: every metric flat
        over (row, seed); `mean`: every metric's seed means."""
        store = self.store
        names = (self.primary, *self.same_seed)
        views: tuple[Any, ...]
        if self._sample:
            values, order, counts = store._sampling_tables(self.primary, fi)
            views = (_memory(values), _memory(order), _memory(counts),
                     [_memory(store._flat_values(m, fi)) for m in self.same_seed])
        elif self._fixed:
            views = tuple(_memory(store._flat_values(m, fi)) for m in names)
        else:
            views = tuple(_memory(self._mean(m, fi)) for m in names)
        self._views[fi] = views
        return views

    def read_function(self) -> Callable[[int, int], tuple[int, list[float]]]:
        """`read` itself, or for the `sample` policy the method it would call (same answers, one call
        less per evaluation: a run engine binds this once)."""
        return self._read_sample if self._sample else self.read

    def read(self, row: int, fi: int) -> tuple[int, list[float]]:
        """(seed label used, [primary, *same_seed]) for architecture row `row` at fidelity position `fi`.

        The seed label is MEAN_SEED for the `mean` policy and for a `sample` row with no measured seed.
        """
        if self._sample:
            return self._read_sample(row, fi)
        if not 0 <= row < self.n_archs:
            raise StoreError(f"architecture index out of range [0, {self.n_archs}) in store {self.store.name!r}")
        views = self._views.get(fi) or self._views_at(fi)
        if self._fixed:
            at = row * self.n_seeds + self.seed_pos
            return self.seed_labels[self.seed_pos], [view[at] for view in views]
        return MEAN_SEED, [view[row] for view in views]

    def _read_sample(self, row: int, fi: int) -> tuple[int, list[float]]:
        """The `sample` policy, exactly as BenchmarkStore._sample draws it (one double per evaluation)."""
        if not 0 <= row < self.n_archs:
            raise StoreError(f"architecture index out of range [0, {self.n_archs}) in store {self.store.name!r}")
        values, order, counts, same = self._views.get(fi) or self._views_at(fi)
        count = counts[row]
        # floor(u * max(count, 1)) with u from the same stream: rng.random() is the double rng.random(1) holds
        rank = int(self.rng.random() * (count if count > 1 else 1))  # type: ignore[union-attr]
        base = row * self.n_seeds
        col = order[base + rank]
        at = base + col
        out = [values[at]]
        if count > 0:
            for view in same:
                out.append(view[at])
            return self.seed_labels[col], out
        for metric in self.same_seed:  # no measured seed: NaN value, the other metrics' seed means
            out.append(float(self._mean(metric, fi)[row]))
        return MEAN_SEED, out

    def read_many(self, rows: np.ndarray, fis: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """What `read(rows[k], fis[k])` would answer for k = 0, 1, ... in turn, as arrays: the seed labels
        used (int64) and one float64 array per metric, primary first.

        The `sample` policy draws one double per evaluation from the same stream and in the same order
        (rng.random(n) holds the doubles n calls of rng.random() give), so a batch leaves the stream,
        and every value, exactly where the one-at-a-time reads would.
        """
        rows = np.asarray(rows, dtype=np.int64)
        fis = np.asarray(fis, dtype=np.int64)
        if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= self.n_archs):
            raise StoreError(f"architecture index out of range [0, {self.n_archs}) in store {self.store.name!r}")
        n_metrics = 1 + len(self.same_seed)
        out = [np.empty(rows.size, dtype=np.float64) for _ in range(n_metrics)]
        seeds = np.empty(rows.size, dtype=np.int64)
        draws = self.rng.random(rows.size) if self._sample else None  # type: ignore[union-attr]
        positions = np.unique(fis).tolist()
        for fi in positions:
            at = slice(None) if len(positions) == 1 else np.flatnonzero(fis == fi)  # one fidelity: no gather
            self._read_block(rows[at], int(fi), None if draws is None else draws[at], seeds, out, at)
        return seeds, out

    def _read_block(self, rows: np.ndarray, fi: int, draws: np.ndarray | None, seeds: np.ndarray,
                    out: list[np.ndarray], at: Any) -> None:
        """read_many for rows at one fidelity position, written into seeds[at] and out[k][at]."""
        store = self.store
        if draws is not None:  # sample: floor(u * max(count, 1)) as _read_sample computes it, per row
            values, order, counts = store._sampling_tables(self.primary, fi)
            count = counts[rows].astype(np.int64)
            rank = (draws * np.maximum(count, 1)).astype(np.int64)
            base = rows * self.n_seeds
            col = order[base + rank].astype(np.int64)
            flat = base + col
            measured = count > 0
            seeds[at] = np.where(measured, np.asarray(self.seed_labels, dtype=np.int64)[col], MEAN_SEED)
            out[0][at] = values[flat]
            for k, metric in enumerate(self.same_seed, start=1):
                picked = store._flat_values(metric, fi)[flat]
                out[k][at] = picked if measured.all() else np.where(measured, picked, self._mean(metric, fi)[rows])
        elif self._fixed:
            seeds[at] = self.seed_labels[self.seed_pos]
            for k, metric in enumerate((self.primary, *self.same_seed)):
                out[k][at] = store._flat_values(metric, fi)[rows * self.n_seeds + self.seed_pos]
        else:
            seeds[at] = MEAN_SEED
            for k, metric in enumerate((self.primary, *self.same_seed)):
                out[k][at] = self._mean(metric, fi)[rows]
