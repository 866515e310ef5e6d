"""The NAS-Bench-101 cell space (Ying et al., ICML 2019; google-research/nasbench).

A cell is an upper-triangular 0/1 adjacency matrix of at most 7 vertices and 9 edges with one op
per vertex: `input` first, `output` last, and `conv3x3-bn-relu`, `conv1x1-bn-relu` or `maxpool3x3`
in between. As in the official `ModelSpec`, a spelling is first pruned (vertices not on an
input->output path are deleted) and then checked; isomorphic cells have the same official graph
hash (`graph_hash`, ../shared/docs/FORMATS.md §1.6) and are one architecture.

Architecture strings. The canonical spelling of a cell is the vertex order the official generator
(`nasbench/scripts/generate_graphs.py`) kept for its hash: the generator walks bitmasks in
increasing order and, inside each, labelings in `itertools.product` order, and keeps the first
spelling of every hash. So the kept spelling is the one minimising (edge bitmask, interior labels),
where edge (x, y) is bit `x + y*(y-1)/2`, over all orders of the interior vertices that keep the
matrix upper triangular. The string writes that matrix's strict upper triangle row by row and the
interior ops in short form::

    111010.00001.0001.100.01.1|c1,c3,c3,c3,mp      (rows 0..V-2 | ops 1..V-2; c3, c1, mp)

`parse` accepts any spelling in this form (also unpruned or non-canonical ones); `index_of`,
`canonical` and `hash_arch` fold every spelling of a cell to the same row / string / hash.

Index. NB101's 423,624 cells are found by search, not by a formula, so an unbound space has no
index: `size`, `index_of` and `arch_at` raise. `bind_store(store)` (called by `load_benchmark`)
returns a space whose index is the store's row order.
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace
from harness.spaces.codes import CodeTable

if TYPE_CHECKING:
    from tabular.store import BenchmarkStore

INPUT = "input"
OUTPUT = "output"
OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")  # official `available_ops`: labels 0, 1, 2
SHORT_OPS = ("c3", "c1", "mp")
MAX_VERTICES = 7
MAX_EDGES = 9
N_CELLS = 423_624  # unique cells of the official data set (README, generate_graphs.py)
INPUT_LABEL, OUTPUT_LABEL = -1, -2
_OP_LABEL = {op: i for i, op in enumerate(OPS)}
_SHORT_LABEL = {op: i for i, op in enumerate(SHORT_OPS)}

# The padded 7-vertex form used by mutation, neighbours and the onehot/index encodings: the 21
# upper-triangle slots in row-major order (as NASCifar10A's edge_0..edge_20) and 5 op slots.
EDGE_SLOTS = tuple(zip(*np.triu_indices(MAX_VERTICES, 1), strict=True))
N_EDGE_SLOTS = len(EDGE_SLOTS)
N_OP_SLOTS = MAX_VERTICES - 2
# Path encoding (BANANAS): one feature per sequence of interior ops along an input->output path;
# sequences of length k start at offset (3^k - 1) / 2 and are numbered in base 3, first op first.
PATH_DIM = sum(len(OPS) ** k for k in range(MAX_VERTICES - 1))  # 1 + 3 + 9 + 27 + 81 + 243 = 364

Cell = tuple[np.ndarray, tuple[int, ...]]  # pruned matrix (int8, V x V) and labels (-1, 0..2, -2)


def _edge_bit(x: int, y: int) -> int:
    return x + y * (y - 1) // 2


def _orders(v: int) -> np.ndarray:
    """Every vertex order that keeps input first and output last: (n!, V) indices."""
    inner = list(itertools.permutations(range(1, v - 1)))
    return np.asarray([(0, *p, v - 1) for p in inner], dtype=np.intp).reshape(len(inner), v)


_ORDERS = {v: _orders(v) for v in range(2, MAX_VERTICES + 1)}
_BIT_WEIGHTS = {
    v: np.asarray([[(1 << _edge_bit(x, y)) if x < y else 0 for y in range(v)] for x in range(v)], dtype=np.int64)
    for v in range(2, MAX_VERTICES + 1)
}
_LOWER = {v: np.tril(np.ones((v, v), dtype=bool)) for v in range(2, MAX_VERTICES + 1)}
# Flat indices that reorder a V x V matrix by each order, and the [bit weight, lower mask] columns.
_FLAT_GATHER = {v: (_ORDERS[v][:, :, None] * v + _ORDERS[v][:, None, :]).reshape(len(_ORDERS[v]), v * v) for v in _ORDERS}
_BITS_LOWER = {v: np.stack([_BIT_WEIGHTS[v].reshape(-1), _LOWER[v].reshape(-1).astype(np.int64)], axis=1) for v in _ORDERS}
_TRIU = np.triu_indices(MAX_VERTICES, 1)


# -- official rules -------------------------------------------------------------------------------
def check_spec(matrix: Any, ops: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The checks `ModelSpec.__init__` makes before pruning (square, one op per vertex, upper
    triangular), plus 0/1 entries; returns the matrix as int8 and the ops as a list."""
    try:
        m = np.asarray(matrix)
    except (TypeError, ValueError):
        raise ArchitectureError("NB101 cell: the matrix must be a square 0/1 array (a list of rows)") from None
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ArchitectureError(f"NB101 cell: the matrix must be square, got shape {m.shape}")
    if isinstance(ops, str) or len(ops) != m.shape[0]:
        got = "a string" if isinstance(ops, str) else f"{len(ops)} ops"
        raise ArchitectureError(f"NB101 cell: the ops must list one label per vertex ({m.shape[0]}), got {got}")
    if m.size and (m.dtype.kind not in "biu" or m.min() < 0 or m.max() > 1):
        raise ArchitectureError("NB101 cell: matrix entries must be 0 or 1")
    m = m.astype(np.int8)
    if np.tril(m).any():
        i, j = np.argwhere(np.tril(m) != 0)[0].tolist()
        raise ArchitectureError(f"NB101 cell: the matrix must be upper triangular (entry [{i}][{j}] is 1 on or below the diagonal)")
    return m, list(ops)


def prune(matrix: np.ndarray, ops: list[str]) -> tuple[np.ndarray, list[str]] | None:
    """Delete the vertices that are not on an input->output path (ModelSpec._prune); None when
    fewer than 2 vertices survive (input not connected to output)."""
    v = matrix.shape[0]
    if v == 0:
        return None
    out = [sum(1 << j for j, x in enumerate(row) if x) for row in matrix.tolist()]
    seen = 1  # reachable from the input; the matrix is upper triangular, so one pass in order
    for i in range(v):
        if seen >> i & 1:
            seen |= out[i]
    back = 1 << (v - 1)  # reaching the output
    for i in range(v - 1, -1, -1):
        if out[i] & back:
            back |= 1 << i
    keep = [i for i in range(v) if (seen & back) >> i & 1]
    if len(keep) < 2:
        return None
    if len(keep) == v:
        return matrix, ops
    return matrix[np.ix_(keep, keep)], [ops[i] for i in keep]


def labels_of(matrix: np.ndarray, ops: list[str]) -> tuple[int, ...]:
    """The checks `NASBench._check_spec` makes after pruning, in its order; returns the labels."""
    v = matrix.shape[0]
    if v > MAX_VERTICES:
        raise ArchitectureError(f"NB101 cell: too many vertices after pruning: {v} (at most {MAX_VERTICES})")
    edges = int(matrix.sum())
    if edges > MAX_EDGES:
        raise ArchitectureError(f"NB101 cell: too many edges after pruning: {edges} (at most {MAX_EDGES})")
    if ops[0] != INPUT:
        raise ArchitectureError(f"NB101 cell: the first op must be 'input', got {ops[0]!r}")
    if ops[-1] != OUTPUT:
        raise ArchitectureError(f"NB101 cell: the last op must be 'output', got {ops[-1]!r}")
    labels = [INPUT_LABEL]
    for i, op in enumerate(ops[1:-1], start=1):
        if op not in _OP_LABEL:
            raise ArchitectureError(f"NB101 cell: unknown op {op!r} at vertex {i}; interior ops are {', '.join(OPS)}")
        labels.append(_OP_LABEL[op])
    return (*labels, OUTPUT_LABEL)


def to_cell(matrix: Any, ops: Sequence[str]) -> Cell:
    """Check, prune and validate a spelling exactly as the official API; the pruned cell."""
    m, op_list = check_spec(matrix, ops)
    pruned = prune(m, op_list)
    if pruned is None:
        raise ArchitectureError("NB101 cell: the input is not connected to the output (no input->output path)")
    return pruned[0], labels_of(*pruned)


def graph_hash(matrix: np.ndarray, labels: Sequence[int]) -> str:
    """The official module hash (graph_util.hash_module) of a pruned matrix and its labels."""
    m = np.asarray(matrix).tolist()
    v = len(m)
    ins = [[w for w in range(v) if m[w][i]] for i in range(v)]
    outs = [[w for w in range(v) if m[i][w]] for i in range(v)]
    md5 = hashlib.md5
    hashes = [md5(str((len(outs[i]), len(ins[i]), int(labels[i]))).encode()).hexdigest() for i in range(v)]
    for _ in range(v):
        hashes = [
            md5(("".join(sorted([hashes[w] for w in ins[i]])) + "|" + "".join(sorted([hashes[w] for w in outs[i]])) + "|" + hashes[i]).encode()).hexdigest()
            for i in range(v)
        ]
    return md5(str(sorted(hashes)).encode()).hexdigest()


def canonical_cell(matrix: np.ndarray, labels: Sequence[int]) -> Cell:
    """The generator's spelling of a pruned cell: the interior vertex order that minimises
    (edge bitmask, interior labels) among those keeping the matrix upper triangular."""
    v = matrix.shape[0]
    if v <= 2:
        return matrix, tuple(labels)
    orders = _ORDERS[v]
    flat = matrix.reshape(-1).astype(np.int64)[_FLAT_GATHER[v]]  # (n!, V*V): every reordering
    bits_lower = flat @ _BITS_LOWER[v]  # column 0: edge bitmask; column 1: entries on/below the diagonal
    lab = np.asarray(labels, dtype=np.int64)[orders[:, 1:-1]]
    n = v - 2
    key = bits_lower[:, 0] * 3**n + lab @ (3 ** np.arange(n - 1, -1, -1, dtype=np.int64))
    key[bits_lower[:, 1] != 0] = np.iinfo(np.int64).max
    best = int(np.argmin(key))
    return flat[best].reshape(v, v).astype(np.int8), tuple(int(x) for x in np.asarray(labels)[orders[best]])


# -- strings --------------------------------------------------------------------------------------
def format_cell(matrix: np.ndarray, labels: Sequence[int]) -> str:
    """The string of a cell spelling (rows of the strict upper triangle | short interior ops)."""
    v = matrix.shape[0]
    rows = ".".join("".join("1" if matrix[i, j] else "0" for j in range(i + 1, v)) for i in range(v - 1))
    return rows + "|" + ",".join(SHORT_OPS[int(x)] for x in labels[1:-1])


def parse(arch: str) -> tuple[np.ndarray, list[str]]:
    """A spelling's matrix and official op names; strict about the string form only (the cell's
    validity is checked by `to_cell`)."""
    if not isinstance(arch, str):
        raise ArchitectureError(f"an NB101 architecture must be a string, got {type(arch).__name__}")
    rows_text, sep, ops_text = arch.partition("|")
    if not sep or "|" in ops_text:
        raise ArchitectureError(f"NB101 arch string {arch!r} must be '<upper-triangle rows joined by .>|<ops>', e.g. '1.1|c3'")
    rows = rows_text.split(".")
    v = len(rows) + 1
    if v > 64:
        raise ArchitectureError(f"NB101 arch string {arch!r} has {v} vertices; a cell has at most {MAX_VERTICES}")
    matrix = np.zeros((v, v), dtype=np.int8)
    for i, row in enumerate(rows):
        if len(row) != v - 1 - i or set(row) - {"0", "1"}:
            raise ArchitectureError(f"NB101 arch string {arch!r}: row {i} must be {v - 1 - i} characters of 0/1, got {row!r}")
        matrix[i, i + 1:] = [c == "1" for c in row]
    names = ops_text.split(",") if ops_text else []
    if len(names) != v - 2:
        raise ArchitectureError(f"NB101 arch string {arch!r}: {v} vertices need {v - 2} interior ops, got {len(names)}")
    ops = [INPUT]
    for name in names:
        if name not in _SHORT_LABEL:
            raise ArchitectureError(f"NB101 arch string {arch!r}: unknown op {name!r}; write c3 (conv3x3-bn-relu), c1 (conv1x1-bn-relu) or mp (maxpool3x3)")
        ops.append(OPS[_SHORT_LABEL[name]])
    return matrix, [*ops, OUTPUT]


def padded(matrix: np.ndarray, labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 7-vertex spelling of a pruned cell: its vertices, isolated extra vertices (pruned away
    again, op label 0) and the output last. Returns (21 edge bits, 5 op labels, 5 real-vertex flags)."""
    v = matrix.shape[0]
    where = np.asarray(list(range(v - 1)) + [MAX_VERTICES - 1])
    big = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int64)
    big[where[:, None], where[None, :]] = matrix
    ops = np.zeros(N_OP_SLOTS, dtype=np.int64)
    ops[: v - 2] = labels[1:-1]
    real = np.arange(N_OP_SLOTS) < v - 2
    return big[_TRIU], ops, real


def unpadded_spec(edges: Sequence[int], ops: Sequence[int]) -> tuple[np.ndarray, list[str]]:
    """The 7-vertex spelling of 21 edge bits and 5 op labels (the padded/index form)."""
    matrix = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
    matrix[_TRIU] = np.asarray(edges, dtype=np.int8)
    return matrix, [INPUT, *(OPS[int(o)] for o in ops), OUTPUT]


def cell_from_codes(edges: Sequence[int], ops: Sequence[int]) -> Cell | None:
    """`to_cell(*unpadded_spec(edges, ops))` for known-good labels, without the error messages:
    the pruned cell of a 7-vertex spelling, or None when it is no valid cell. Mutation,
    neighbours, sampling and code decoding call this thousands of times."""
    out = [0] * MAX_VERTICES
    for slot in np.flatnonzero(np.asarray(edges)).tolist():
        x, y = EDGE_SLOTS[slot]
        out[x] |= 1 << int(y)
    seen = 1
    for i in range(MAX_VERTICES):
        if seen >> i & 1:
            seen |= out[i]
    back = 1 << (MAX_VERTICES - 1)
    for i in range(MAX_VERTICES - 1, -1, -1):
        if out[i] & back:
            back |= 1 << i
    keep_mask = seen & back
    keep = [i for i in range(MAX_VERTICES) if keep_mask >> i & 1]
    if len(keep) < 2 or sum(bin(out[i] & keep_mask).count("1") for i in keep) > MAX_EDGES:
        return None
    v = len(keep)
    matrix = np.zeros((v, v), dtype=np.int8)
    for a, i in enumerate(keep):
        for b in range(a + 1, v):
            if out[i] >> keep[b] & 1:
                matrix[a, b] = 1
    return matrix, (INPUT_LABEL, *(int(ops[i - 1]) for i in keep[1:-1]), OUTPUT_LABEL)


def arch_from_codes(edges: Sequence[int], ops: Sequence[int]) -> str | None:
    """Canonical string of a 7-vertex spelling (21 edge bits, 5 op labels); None if invalid."""
    cell = cell_from_codes(edges, ops)
    return None if cell is None else format_cell(*canonical_cell(*cell))


def path_features(matrix: np.ndarray, labels: Sequence[int]) -> list[int]:
    """Feature numbers of the op sequences of all input->output paths (BANANAS path encoding)."""
    v = matrix.shape[0]
    outs = [np.flatnonzero(matrix[i]).tolist() for i in range(v)]
    found: set[int] = set()
    stack: list[tuple[int, int, int]] = [(0, 0, 0)]  # vertex, ops so far, number so far
    while stack:
        vertex, length, number = stack.pop()
        for nxt in outs[vertex]:
            if nxt == v - 1:
                found.add((3**length - 1) // 2 + number)
            else:
                stack.append((nxt, length + 1, number * 3 + int(labels[nxt])))
    return sorted(found)


# -- the space ------------------------------------------------------------------------------------
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
    def bind_store(self, store: BenchmarkStore) -> NB101Space:
        """A space whose index is the rows of `store` (an NB101 store: canonical arch strings)."""
        if store.search_space != self.name:
            raise ArchitectureError(f"store {store.name!r} is for space {store.search_space!r}, not nb101")
        return NB101Space(store)

    @property
    def bound(self) -> bool:
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
        rows = self._rows if self._store is not None else self._need_store("index")
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
        return graph_hash(*self.cell(arch))

    def validate(self, arch: str) -> str:
        """The canonical string; ArchitectureError with the failed rule for an invalid spelling."""
        return self.canonical(arch)

    def canonical(self, arch: str) -> str:
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
            return np.asarray([np.concatenate([e, o]) for e, o, _ in pads], dtype=np.int64).reshape(len(cells), N_EDGE_SLOTS + N_OP_SLOTS)
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
        rows = self._rows if self._store is not None else self._need_store("index")
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
        self.n_choices = np.asarray([2] * N_EDGE_SLOTS + [len(OPS)] * N_OP_SLOTS, dtype=np.int64)
        self.dim = int(self.n_choices.size)

    def indices(self, codes: np.ndarray) -> np.ndarray:
        return self.space.codes_to_indices(codes)
