"""The NAS-Bench-101 cell space (Ying et al., ICML 2019; google-research/nasbench).

Cells, their pruning, hashing and canonical architecture strings are the pure functions of
harness.spaces.nb101_cells (re-exported here, where they were defined before). `parse` accepts any
spelling; `index_of`, `canonical` and `hash_arch` fold every spelling of a cell to the same row /
string / hash.

Index. NB101's 423,624 cells are found by search, not by a formula, so an unbound space has no
index: `size`, `index_of` and `arch_at` raise. `bind_store(store)` (called by `load_benchmark`)
returns a space whose index is the store's row order.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace
from harness.spaces.codes import CodeTable
from harness.spaces.nb101_cells import (  # re-exported: the cell functions were defined here before
    EDGE_SLOTS,
    INPUT,
    INPUT_LABEL,
    MAX_EDGES,
    MAX_VERTICES,
    N_CELLS,
    N_EDGE_SLOTS,
    N_OP_SLOTS,
    OPS,
    OUTPUT,
    OUTPUT_LABEL,
    PATH_DIM,
    SHORT_OPS,
    Cell,
    arch_from_codes,
    canonical_cell,
    cell_from_codes,
    check_spec,
    format_cell,
    graph_hash,
    labels_of,
    padded,
    parse,
    path_features,
    prune,
    to_cell,
    unpadded_spec,
)

if TYPE_CHECKING:
    from tabular.protocol import Store
    from tabular.store import BenchmarkStore

__all__ = [
    "Cell", "EDGE_SLOTS", "INPUT", "INPUT_LABEL", "MAX_EDGES", "MAX_VERTICES", "N_CELLS", "N_EDGE_SLOTS",
    "N_OP_SLOTS", "OPS", "OUTPUT", "OUTPUT_LABEL", "PATH_DIM", "SHORT_OPS", "arch_from_codes", "canonical_cell",
    "cell_from_codes", "check_spec", "format_cell", "graph_hash", "labels_of", "padded", "parse", "path_features",
    "prune", "to_cell", "unpadded_spec", "NB101Space", "NB101CodeTable", "hash_id",
]


class NB101Space(SearchSpace):
    """NAS-Bench-101 cells. Unbound it checks, hashes, samples, mutates and encodes cells;
    `bind_store(store)` gives the space whose index is that store's rows."""

    name = "nb101"
    encodings = ("onehot", "path", "index")

    _MEMO_LIMIT = 1 << 18  # entries per cache below; a full cache is dropped and refilled

    def __init__(self, store: BenchmarkStore | None = None):
        self._store = store
        # Caches of pure functions (a search re-derives the same cells again and again).
        self._memo_codes: dict[bytes, str | None] = {}
        self._memo_canonical: dict[str, str] = {}
        self._memo_neighbours: dict[str, list[str]] = {}

    def code_table(self) -> NB101CodeTable:
        """Categorical codes for REINFORCE, TPE, BOHB and NSGA-II (used by CodeTable.of): a dense
        lookup table would need 2^21*3^5 entries, and a code vector must be folded through pruning
        and isomorphism anyway."""
        self._need_store("categorical code table")
        return NB101CodeTable(self)

    # -- binding and index ----------------------------------------------------------------------
    def bind_store(self, store: Store) -> NB101Space:
        """A space whose index is the rows of `store` (an NB101 store: canonical arch strings)."""
        table = self._table_of(store)
        if table.search_space != self.name:
            raise ArchitectureError(f"store {table.name!r} is for space {table.search_space!r}, not nb101")
        return NB101Space(table)

    @property
    def bound(self) -> bool:
        """Whether the space has a store's rows as its index."""
        return self._store is not None

    def _need_store(self, what: str) -> BenchmarkStore:
        if self._store is None:
            raise ArchitectureError(
                f"the NB101 space has no {what} until it is bound to a store (its cells are the store's rows); "
                "load a benchmark, e.g. harness.benchmarks.load_benchmark('nb101/sample')"
            )
        return self._store

    @property
    def size(self) -> int:
        """Number of cells in the bound store (423,624 for the full data set)."""
        return self._need_store("size").n_archs

    @property
    def complete(self) -> bool:
        """True when the bound store holds every NB101 cell (so every valid cell has a row)."""
        return self._need_store("index").n_archs >= N_CELLS

    @cached_property
    def _strings(self) -> list[str]:
        return self._need_store("index").arch_strings.tolist()

    @cached_property
    def _rows(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self._strings)}

    @cached_property
    def _rows_by_id(self) -> dict[int, int]:
        return {int(h): i for i, h in enumerate(self._need_store("index").arch_ids.tolist())}

    def index_of(self, arch: str) -> int:
        """Row of any spelling of a cell in the bound store (folded by pruning and isomorphism)."""
        self._need_store("index")  # an unbound space has no index
        rows = self._rows
        row = rows.get(arch) if isinstance(arch, str) else None
        if row is not None:
            return row
        canonical = self.canonical(arch)
        row = rows.get(canonical)
        if row is None:
            # A store whose strings are spelled otherwise (another tool, an older spelling rule)
            # still folds by the official hash: its ids are the hashes' first 64 bits.
            module_hash = self.hash_arch(canonical)
            row = self._rows_by_id.get(hash_id(module_hash))
            if row is None or self.hash_arch(self._strings[row]) != module_hash:
                assert self._store is not None
                raise ArchitectureError(
                    f"NB101 cell {canonical!r} (hash {module_hash}) is valid but not in store "
                    f"{self._store.name!r} ({self._store.n_archs} cells)"
                )
        return row

    def index_of_hash(self, module_hash: str) -> int:
        """Row of an official module hash (the store's ids are its first 64 bits)."""
        row = self._rows_by_id.get(hash_id(module_hash))
        if row is None or self.hash_arch(self.arch_at(row)) != module_hash:
            raise ArchitectureError(f"no cell with hash {module_hash!r} in store {self._need_store('index').name!r}")
        return row

    def arch_at(self, index: int) -> str:
        """The canonical string of the cell at a row of the bound store."""
        return self._strings[self.check_index(index)]

    # -- cells ------------------------------------------------------------------------------------
    def cell(self, arch: str) -> Cell:
        """The pruned, validated cell of any spelling."""
        return to_cell(*parse(arch))

    def arch_of(self, matrix: Any, ops: Sequence[str]) -> str:
        """The canonical string of an official spec (matrix + op names), pruned and validated."""
        return format_cell(*canonical_cell(*to_cell(matrix, ops)))

    def spec(self, arch: str) -> tuple[list[list[int]], list[str]]:
        """The official (matrix, ops) of the canonical spelling, ready for api.ModelSpec."""
        matrix, labels = canonical_cell(*self.cell(arch))
        return matrix.astype(int).tolist(), [_label_name(x) for x in labels]

    def hash(self, matrix: Any, ops: Sequence[str]) -> str:
        """The official graph hash of a spec (ModelSpec.hash_spec after pruning)."""
        return graph_hash(*to_cell(matrix, ops))

    def hash_arch(self, arch: str) -> str:
        """The official NASBench graph hash of any spelling of a cell."""
        return graph_hash(*self.cell(arch))

    def validate(self, arch: str) -> str:
        """The canonical string; ArchitectureError with the failed rule for an invalid spelling."""
        return self.canonical(arch)

    def canonical(self, arch: str) -> str:
        """The canonical spelling of a cell (module docstring), memoised."""
        if self._store is not None and isinstance(arch, str) and arch in self._rows:
            return arch  # stored strings are canonical
        hit = self._memo_canonical.get(arch) if isinstance(arch, str) else None
        if hit is None:
            hit = format_cell(*canonical_cell(*self.cell(arch)))
            _remember(self._memo_canonical, arch, hit, self._MEMO_LIMIT)
        return hit

    def _from_codes(self, edges: np.ndarray, ops: np.ndarray) -> str | None:
        """arch_from_codes, memoised on the 26 codes."""
        key = np.concatenate([edges, ops]).astype(np.int8).tobytes()
        if key in self._memo_codes:
            return self._memo_codes[key]
        arch = arch_from_codes(edges, ops)
        _remember(self._memo_codes, key, arch, self._MEMO_LIMIT)
        return arch

    # -- sampling and edits -----------------------------------------------------------------------
    def random_cell(self, rng: np.random.Generator) -> str:
        """The official random spec (NASBench colab `random_spec`): 21 fair edge bits and 5 uniform
        ops, redrawn until valid after pruning."""
        while True:
            edges = rng.integers(0, 2, size=N_EDGE_SLOTS)
            ops = rng.integers(0, len(OPS), size=N_OP_SLOTS)
            arch = arch_from_codes(edges, ops)
            if arch is not None:
                return arch

    def sample(self, rng: np.random.Generator) -> str:
        """Unbound or bound to a complete store: the official random spec (NB101 colab; a cell's
        chance is proportional to its number of valid 7-vertex spellings, as in the paper's random
        search, whose script also rejected spellings with more than 9 edges before pruning).
        Bound to a partial store (e.g. nb101/sample): uniform over its rows."""
        if self._store is not None and not self.complete:
            return self.arch_at(int(rng.integers(self.size)))
        while True:
            arch = self.random_cell(rng)
            if self._store is None or arch in self._rows:
                return arch

    def _edits(self, arch: str) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
        """The canonical parent and its one-edit spellings in slot order: 21 edge flips of the
        padded 7-vertex form, then for each op slot the two other ops."""
        canonical = self.canonical(arch)
        edges, ops, _ = padded(*self.cell(canonical))
        out = []
        for slot in range(N_EDGE_SLOTS):
            e = edges.copy()
            e[slot] ^= 1
            out.append((e, ops))
        for slot in range(N_OP_SLOTS):
            for shift in (1, 2):
                o = ops.copy()
                o[slot] = (o[slot] + shift) % len(OPS)
                out.append((edges, o))
        return canonical, out

    def _one_edit(self, arch: str) -> list[str]:
        parent, edits = self._edits(arch)
        seen: dict[str, None] = {}
        for edges, ops in edits:
            child = self._from_codes(edges, ops)
            if child is not None and child != parent:
                seen.setdefault(child, None)
        return list(seen)

    def neighbours(self, arch: str) -> list[str]:
        """Valid cells one edit (edge flip or op change of the 7-vertex form) away, without
        isomorphic duplicates, in slot order. Bound to a partial store: those it holds, or, when it
        holds none, its cells nearest in path encoding (Hamming distance)."""
        key = self.canonical(arch)
        hit = self._memo_neighbours.get(key)
        if hit is None:
            hit = self._one_edit(key)
            if self._store is not None and not self.complete:
                hit = [c for c in hit if c in self._rows] or self._nearest(key)
            _remember(self._memo_neighbours, key, hit, self._MEMO_LIMIT // 16)
        return list(hit)

    def _nearest(self, arch: str) -> list[str]:
        enc = self._store_paths
        me = self.encode([arch], "path")[0].astype(bool)
        dist = (enc != me).sum(axis=1)
        own = self._rows.get(arch)
        if own is not None:
            dist[own] = np.iinfo(dist.dtype).max
        if len(dist) == 0 or (own is not None and len(dist) == 1):
            return []
        return [self._strings[i] for i in np.flatnonzero(dist == dist.min())]

    @cached_property
    def _store_paths(self) -> np.ndarray:
        return self.encode(self._strings, "path").astype(bool)

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        """The NB101 paper's mutation (nas_benchmarks run_regularized_evolution.py, used for the
        paper's RE): one of the 26 variables of the 7-vertex form drawn uniformly (an edge flip with
        probability 21/26, else an op changed to one of the other two), redrawn until the child is a
        valid cell different from the parent. Bound to a partial store: a uniform neighbour."""
        if self._store is not None and not self.complete:
            options = self.neighbours(arch)
            return options[int(rng.integers(len(options)))] if options else self.canonical(arch)
        parent = self.canonical(arch)
        edges, ops, _ = padded(*self.cell(parent))
        for _ in range(10_000):
            slot = int(rng.integers(N_EDGE_SLOTS + N_OP_SLOTS))
            e, o = edges.copy(), ops.copy()
            if slot < N_EDGE_SLOTS:
                e[slot] ^= 1
            else:
                o[slot - N_EDGE_SLOTS] = (o[slot - N_EDGE_SLOTS] + int(rng.integers(1, len(OPS)))) % len(OPS)
            child = self._from_codes(e, o)
            if child is not None and child != parent and (self._store is None or child in self._rows):
                return child
        raise ArchitectureError(f"NB101 cell {parent!r} has no valid one-edit mutation")

    # -- encodings --------------------------------------------------------------------------------
    def encode(self, archs: list[str], kind: str = "onehot") -> np.ndarray:
        """onehot: 21 edge bits of the padded 7-vertex form + 5x3 one-hot ops (zeros for padding);
        index: 21 edge bits + 5 op labels (26 categorical codes); path: BANANAS path encoding."""
        self._check_encoding(kind)
        cells = [canonical_cell(*self.cell(a)) for a in archs]
        if kind == "path":
            out = np.zeros((len(cells), PATH_DIM), dtype=np.float64)
            for row, cell in enumerate(cells):
                out[row, path_features(*cell)] = 1.0
            return out
        pads = [padded(*c) for c in cells]
        if kind == "index":
            codes = np.asarray([np.concatenate([e, o]) for e, o, _ in pads], dtype=np.int64)
            return codes.reshape(len(cells), N_EDGE_SLOTS + N_OP_SLOTS)
        out = np.zeros((len(cells), N_EDGE_SLOTS + N_OP_SLOTS * len(OPS)), dtype=np.float64)
        for row, (e, o, real) in enumerate(pads):
            out[row, :N_EDGE_SLOTS] = e
            slots = np.flatnonzero(real)
            out[row, N_EDGE_SLOTS + slots * len(OPS) + o[slots]] = 1.0
        return out

    def codes_to_indices(self, codes: np.ndarray) -> np.ndarray:
        """Row of each index-encoding vector (21 edge bits + 5 op labels; any spelling, pruned and
        folded by isomorphism), -1 where it is no valid cell or not in the bound store."""
        codes = np.asarray(codes, dtype=np.int64).reshape(-1, N_EDGE_SLOTS + N_OP_SLOTS)
        self._need_store("index")  # an unbound space has no rows
        rows = self._rows
        out = np.full(codes.shape[0], -1, dtype=np.int64)
        for k, row in enumerate(codes):
            if np.any(row < 0) or np.any(row[:N_EDGE_SLOTS] > 1) or np.any(row[N_EDGE_SLOTS:] >= len(OPS)):
                continue
            arch = self._from_codes(row[:N_EDGE_SLOTS], row[N_EDGE_SLOTS:])
            if arch is not None:
                out[k] = rows.get(arch, -1)
        return out


def _remember(cache: dict, key: Any, value: Any, limit: int) -> None:
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value


def _label_name(label: int) -> str:
    return INPUT if label == INPUT_LABEL else OUTPUT if label == OUTPUT_LABEL else OPS[label]


def hash_id(module_hash: str) -> int:
    """The store id of an official hash: its first 64 bits as a signed int64."""
    value = int(module_hash[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


class NB101CodeTable(CodeTable):
    """The `index` encoding as categorical codes (harness.spaces.codes.CodeTable's interface), but
    decoding through pruning and isomorphism against the bound store instead of a lookup table over
    every code vector (there are 2^21 * 3^5 of them)."""

    def __init__(self, space: NB101Space):
        self.space = space
        self._nb101 = space
        self.n_choices = np.asarray([2] * N_EDGE_SLOTS + [len(OPS)] * N_OP_SLOTS, dtype=np.int64)
        self.dim = int(self.n_choices.size)

    def indices(self, codes: np.ndarray) -> np.ndarray:
        """Rows of code vectors in the bound store (-1 where invalid or not in it)."""
        return self._nb101.codes_to_indices(codes)
