"""The NAS-Bench-201 cell space (also NATS-Bench topology, HW-NAS-Bench, analog-nasbench).

A cell has 4 nodes; each of the 6 edges j->i (j < i) carries one of 5 ops. The official string is
`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` (edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2). The official
index order is the generator order (mixed radix, last edge fastest) shuffled by CPython's
`random.seed(88); random.shuffle`: CPython's Mersenne Twister is the same generator the benchmark
authors used, so regenerating it reproduces the official order exactly (checked against real tables
in the tests).
"""
from __future__ import annotations

import functools
import random
from collections.abc import Iterable
from functools import cached_property
from itertools import product

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
N_EDGES = 6
N_OPS = len(OPS)
SIZE = N_OPS**N_EDGES
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in string order
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_SHUFFLE_SEED = 88
# Input->output routes as edge positions; used by the path encoding.
_ROUTES = ((3,), (0, 4), (1, 5), (0, 2, 5))
_PATH_OPS = OPS[1:]  # a path through a `none` edge does not exist


def parse(arch: str) -> tuple[int, ...]:
    """Op indices of the 6 edges in string order; strict: exactly the official spelling."""
    if not isinstance(arch, str):
        raise ArchitectureError(f"an NB201 architecture must be a string, got {type(arch).__name__}")
    nodes = arch.split("+")
    if len(nodes) != 3:
        raise ArchitectureError(
            f"NB201 arch string {arch!r} must have 3 '+'-separated nodes like |op~0|+|op~0|op~1|+|op~0|op~1|op~2|"
        )
    codes: list[int] = []
    for node, text in enumerate(nodes, start=1):
        if len(text) < 2 or not (text.startswith("|") and text.endswith("|")):
            raise ArchitectureError(f"NB201 arch string {arch!r}: node {node} {text!r} must be written |op~j|...|")
        entries = text[1:-1].split("|")
        if len(entries) != node:
            raise ArchitectureError(f"NB201 arch string {arch!r}: node {node} needs {node} inputs, has {len(entries)}")
        for j, entry in enumerate(entries):
            op, sep, src = entry.partition("~")
            if not sep or src != str(j):
                raise ArchitectureError(f"NB201 arch string {arch!r}: entry {entry!r} of node {node} must be op~{j}")
            if op not in _OP_INDEX:
                raise ArchitectureError(f"NB201 arch string {arch!r}: unknown op {op!r}; ops are {', '.join(OPS)}")
            codes.append(_OP_INDEX[op])
    return tuple(codes)


def format_arch(codes: tuple[int, ...] | list[int] | np.ndarray) -> str:
    """The official string of 6 op indices in string order."""
    ops = [OPS[int(c)] for c in codes]
    return f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"


def generator_number(codes: tuple[int, ...]) -> int:
    """Position in `CellStructure.gen_all` order: mixed radix, last edge varying fastest."""
    g = 0
    for c in codes:
        g = g * N_OPS + c
    return g


def official_order() -> np.ndarray:
    """Generator numbers in official index order (index i -> generator number)."""
    order = list(range(SIZE))
    random.Random(_SHUFFLE_SEED).shuffle(order)
    return np.asarray(order, dtype=np.int64)


def unique_str(codes: tuple[int, ...]) -> str:
    """NATS-Bench's isomorphism-class string (`to_unique_str(consider_zero=True)` semantics).

    Node 0 is "0". Each input term of a node is "#" (zero) for a `none` edge or a zero input node,
    the input node's own string for `skip_connect`, and "(input)@op" otherwise; a node's string is
    its terms sorted and joined by "+". The output node's string identifies the class; this
    reproduces the 6,466 classes of NAS-Bench-201 and the `UniqueString` column of NATS tables.
    """
    nodes = ["0"]
    for node in (1, 2, 3):
        nodes.append(_node_str(node, codes, nodes))
    return nodes[3]


def _node_str(node: int, codes: tuple[int, ...] | list[int], nodes: list[str]) -> str:
    """One node's string in `unique_str`, from its input edges' ops and its input nodes' strings."""
    terms = []
    for pos, (to, src) in enumerate(EDGES):
        if to != node:
            continue
        op = OPS[codes[pos]]
        if op == "none" or nodes[src] == "#":
            terms.append("#")
        elif op == "skip_connect":
            terms.append(nodes[src])
        else:
            terms.append("(" + nodes[src] + ")@" + op)
    return "+".join(sorted(terms))


def _unique_strs(rows: list[list[int]]) -> list[str]:
    """`unique_str` of every row: node 1 depends on edge 0 alone and node 2 on edges 0-2, so their
    strings are built once per distinct prefix (5 and 125 of them) instead of once per row."""
    first: dict[int, list[str]] = {}
    second: dict[tuple[int, int, int], list[str]] = {}
    out = []
    for row in rows:
        nodes = first.get(row[0])
        if nodes is None:
            nodes = first[row[0]] = ["0", _node_str(1, row, ["0"])]
        prefix = (row[0], row[1], row[2])
        three = second.get(prefix)
        if three is None:
            three = second[prefix] = [*nodes, _node_str(2, row, nodes)]
        out.append(_node_str(3, row, three))
    return out


@functools.cache
def _official_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], dict[str, int]]:
    """(generator number of each index, index of each generator number, op codes, strings, index by string),
    built once per process: every NB201 space (one per loaded benchmark) shares them, read-only."""
    gen = official_order()
    inverse = np.empty(SIZE, dtype=np.int64)
    inverse[gen] = np.arange(SIZE)
    codes = np.stack([(gen // N_OPS ** (N_EDGES - 1 - k)) % N_OPS for k in range(N_EDGES)], axis=1)
    for array in (gen, inverse, codes):
        array.setflags(write=False)
    strings = [format_arch(row) for row in codes.tolist()]
    return gen, inverse, codes, strings, {text: i for i, text in enumerate(strings)}


@functools.cache
def _class_tables() -> tuple[np.ndarray, list[str]]:
    """(lowest official index of each index's isomorphism class, that representative's string), once per process."""
    _, _, codes, strings, _ = _official_tables()
    keys = _unique_strs(codes.tolist())
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    representative = [first[key] for key in keys]
    array = np.asarray(representative, dtype=np.int64)
    array.setflags(write=False)
    return array, [strings[r] for r in representative]


class NB201Space(SearchSpace):
    """NAS-Bench-201 cells; index = official NB201 index."""

    name = "nb201"
    encodings = ("onehot", "path", "index")

    @property
    def size(self) -> int:
        """15,625: five ops on each of six edges."""
        return SIZE

    @cached_property
    def _gen_of_index(self) -> np.ndarray:
        return _official_tables()[0]

    @cached_property
    def _index_of_gen(self) -> np.ndarray:
        return _official_tables()[1]

    @cached_property
    def op_codes(self) -> np.ndarray:
        """(15625, 6) op indices of every architecture, in official index order (read-only)."""
        return _official_tables()[2]

    @cached_property
    def _strings(self) -> list[str]:
        return _official_tables()[3]

    @cached_property
    def _index_by_string(self) -> dict[str, int]:
        return _official_tables()[4]

    def index_of(self, arch: str) -> int:
        # A dict hit is the hot path of every evaluation; parse() only runs to explain a bad string.
        """The official NB201 index of an architecture string (base-5 op codes)."""
        index = self._index_by_string.get(arch) if isinstance(arch, str) else None
        if index is None:
            return int(self._index_of_gen[generator_number(parse(arch))])
        return index

    def indices_of_codes(self, codes: np.ndarray) -> np.ndarray:
        """Official indices of many (n, 6) op-code rows at once."""
        codes = np.asarray(codes, dtype=np.int64)
        gen = codes @ (N_OPS ** np.arange(N_EDGES - 1, -1, -1))
        return self._index_of_gen[gen]

    def arch_at(self, index: int) -> str:
        """The architecture string at an official NB201 index."""
        if type(index) is int and 0 <= index < SIZE:  # the hot path: a valid Python int
            return self._strings[index]
        return self._strings[self.check_index(index)]

    @cached_property
    def _class_representative(self) -> np.ndarray:
        """For every index, the lowest official index with the same isomorphism class."""
        return _class_tables()[0]

    @cached_property
    def _canonical_strings(self) -> list[str]:
        """For every index, the string of its class representative (a run asks once per evaluation)."""
        return _class_tables()[1]

    def canonical(self, arch: str) -> str:
        """The representative of the architecture's isomorphism class (its lowest index)."""
        return self._canonical_strings[self.index_of(arch)]

    def canonical_at(self, index: int) -> str:
        """The representative string of the class of the architecture at `index` (one list lookup)."""
        if type(index) is int and 0 <= index < SIZE:  # the hot path: a valid Python int
            return self._canonical_strings[index]
        return self._canonical_strings[self.check_index(index)]

    def indices_of(self, archs: Iterable[str]) -> np.ndarray:
        """Official indices of many strings: dictionary lookups, `index_of` only to explain a bad string."""
        archs = list(archs)
        get = self._index_by_string.get
        try:
            found = [get(arch) for arch in archs]
        except TypeError:  # an unhashable "architecture": index_of says what is wrong with it
            found = [None]
        if None in found:
            return np.asarray([self.index_of(arch) for arch in archs], dtype=np.int64)
        return np.asarray(found, dtype=np.int64)

    def canonical_index(self, index: int) -> int:
        """Index of the representative of an index's isomorphism class."""
        return int(self._class_representative[self.check_index(index)])

    @property
    def n_classes(self) -> int:
        """Number of isomorphism classes among the 15,625 strings."""
        return int(np.unique(self._class_representative).size)

    @cached_property
    def _code_lists(self) -> list[tuple[int, ...]]:
        return [tuple(row) for row in self.op_codes.tolist()]

    @cached_property
    def _index_of_gen_list(self) -> list[int]:
        return self._index_of_gen.tolist()

    @cached_property
    def _gen_of_index_list(self) -> list[int]:
        return self._gen_of_index.tolist()

    def _codes_of(self, arch: str) -> list[int]:
        return list(self._code_lists[self.index_of(arch)])

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        """Replace the op on one random edge by a different op (NB201's R-EA mutation)."""
        index = self.index_of(arch)
        edge = int(rng.integers(N_EDGES))
        shift = int(rng.integers(1, N_OPS))  # never the current op
        old = self._code_lists[index][edge]
        # The child's generator number differs from the parent's in one base-5 digit (edge 0 most significant).
        gen = self._gen_of_index_list[index] + ((old + shift) % N_OPS - old) * N_OPS ** (N_EDGES - 1 - edge)
        return self._strings[self._index_of_gen_list[gen]]

    def neighbours(self, arch: str) -> list[str]:
        """Every single-op change: 6 edges x 4 other ops, in edge-then-op order."""
        codes = self._codes_of(arch)
        out = []
        for edge in range(N_EDGES):
            for op in range(N_OPS):
                if op != codes[edge]:
                    new = list(codes)
                    new[edge] = op
                    out.append(format_arch(new))
        return out

    def encode(self, archs: list[str], kind: str = "onehot") -> np.ndarray:
        """Feature matrix: `onehot` (6 x 5), `index` op codes, or other encodings the space lists."""
        self._check_encoding(kind)
        codes = np.asarray([parse(a) for a in archs], dtype=np.int64).reshape(-1, N_EDGES)
        if kind == "index":
            return codes
        if kind == "onehot":
            out = np.zeros((codes.shape[0], N_EDGES * N_OPS), dtype=np.float64)
            rows = np.repeat(np.arange(codes.shape[0]), N_EDGES)
            out[rows, (np.arange(N_EDGES) * N_OPS + codes).reshape(-1)] = 1.0
            return out
        return path_encode(codes)


def _path_feature_offsets() -> dict[int, int]:
    offsets, start = {}, 0
    for length in (1, 2, 3):
        offsets[length] = start
        start += len(_PATH_OPS) ** length
    return offsets


_PATH_OFFSETS = _path_feature_offsets()
PATH_DIM = sum(len(_PATH_OPS) ** k for k in (1, 2, 3))


def path_encode(codes: np.ndarray) -> np.ndarray:
    """BANANAS path encoding: one binary feature per op sequence along an input->output path.

    A path follows one of the 4 routes through the cell; it exists when none of its edges is
    `none`, and is identified by its op sequence (4 ops, lengths 1-3: 4 + 16 + 64 = 84 features).
    """
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, N_EDGES)
    out = np.zeros((codes.shape[0], PATH_DIM), dtype=np.float64)
    n_path_ops = len(_PATH_OPS)
    for route in _ROUTES:
        ops = codes[:, route]  # (n, len)
        alive = np.all(ops > 0, axis=1)
        feature = np.zeros(codes.shape[0], dtype=np.int64)
        for k in range(len(route)):
            feature = feature * n_path_ops + (ops[:, k] - 1)
        rows = np.flatnonzero(alive)
        out[rows, _PATH_OFFSETS[len(route)] + feature[rows]] = 1.0
    return out


def all_codes_generator_order() -> np.ndarray:
    """All 15,625 op-code rows in generator order (for tests and converters)."""
    return np.asarray(list(product(range(N_OPS), repeat=N_EDGES)), dtype=np.int64)
