"""NAS-Bench-101 cells (Ying et al., ICML 2019; google-research/nasbench): parse, prune, hash, spell.

Pure functions on one cell, used by the space (harness.spaces.nb101) and the converter.

A cell is an upper-triangular 0/1 adjacency matrix of at most 7 vertices and 9 edges with one op
per vertex: `input` first, `output` last, and `conv3x3-bn-relu`, `conv1x1-bn-relu` or `maxpool3x3`
in between. As in the official `ModelSpec`, a spelling is first pruned (vertices not on an
input->output path are deleted) and then checked; isomorphic cells have the same official graph
hash (`graph_hash`) and are one architecture.

Architecture strings. The canonical spelling of a cell is the vertex order the official generator
(`nasbench/scripts/generate_graphs.py`) kept for its hash: the generator walks bitmasks in
increasing order and, inside each, labelings in `itertools.product` order, and keeps the first
spelling of every hash. So the kept spelling is the one minimising (edge bitmask, interior labels),
where edge (x, y) is bit `x + y*(y-1)/2`, over all orders of the interior vertices that keep the
matrix upper triangular. The string writes that matrix's strict upper triangle row by row and the
interior ops in short form::

    111010.00001.0001.100.01.1|c1,c3,c3,c3,mp      (rows 0..V-2 | ops 1..V-2; c3, c1, mp)

`parse` accepts any spelling in this form (also unpruned or non-canonical ones); `canonical_cell`
and `format_cell` give the canonical string of any spelling.
"""
from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.spaces.base import ArchitectureError

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
_FLAT_GATHER = {v: (_ORDERS[v][:, :, None] * v + _ORDERS[v][:, None, :]).reshape(len(_ORDERS[v]), v * v)
                for v in _ORDERS}
_BITS_LOWER = {v: np.stack([_BIT_WEIGHTS[v].reshape(-1), _LOWER[v].reshape(-1).astype(np.int64)], axis=1)
               for v in _ORDERS}
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
        raise ArchitectureError(f"NB101 cell: the matrix must be upper triangular (entry [{i}][{j}] is 1 on or below "
                                "the diagonal)")
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
            md5(("".join(sorted([hashes[w] for w in ins[i]])) + "|"
                 + "".join(sorted([hashes[w] for w in outs[i]])) + "|" + hashes[i]).encode()).hexdigest()
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
        raise ArchitectureError(f"NB101 arch string {arch!r} must be '<upper-triangle rows joined by .>|<ops>', e.g. "
                                "'1.1|c3'")
    rows = rows_text.split(".")
    v = len(rows) + 1
    if v > 64:
        raise ArchitectureError(f"NB101 arch string {arch!r} has {v} vertices; a cell has at most {MAX_VERTICES}")
    matrix = np.zeros((v, v), dtype=np.int8)
    for i, row in enumerate(rows):
        if len(row) != v - 1 - i or set(row) - {"0", "1"}:
            raise ArchitectureError(f"NB101 arch string {arch!r}: row {i} must be {v - 1 - i} characters of 0/1, got "
                                    f"{row!r}")
        matrix[i, i + 1:] = [c == "1" for c in row]
    names = ops_text.split(",") if ops_text else []
    if len(names) != v - 2:
        raise ArchitectureError(f"NB101 arch string {arch!r}: {v} vertices need {v - 2} interior ops, got {len(names)}")
    ops = [INPUT]
    for name in names:
        if name not in _SHORT_LABEL:
            raise ArchitectureError(f"NB101 arch string {arch!r}: unknown op {name!r}; write c3 (conv3x3-bn-relu), c1 "
                                    "(conv1x1-bn-relu) or mp (maxpool3x3)")
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


def cell_from_codes(edges: Sequence[int] | np.ndarray, ops: Sequence[int] | np.ndarray) -> Cell | None:
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


def arch_from_codes(edges: Sequence[int] | np.ndarray, ops: Sequence[int] | np.ndarray) -> str | None:
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
