"""The NAS-Bench-Graph cell space (PyPI `nas-bench-graph`, Qin et al., NeurIPS 2022).

A cell has 4 computing nodes. `link[i]` names the input of computing node i+1 (0 = the raw input,
j = computing node j), so `link[i]` is in 0..i; nodes without successors feed the output. Each node
carries one of 9 ops: gat, gcn, gin, cheb, sage, arma, graph (k-GNN), fc, skip.

Many (link, ops) lists describe the same network. The package's `Arch(link, ops).valid_hash()`
folds them onto one table key whose decimal digits spell the canonical form:
`key = link_index * 10^4 + op0 * 10^3 + op1 * 10^2 + op2 * 10 + op3`, with `link_index` a position
in the 9 canonical link patterns. The space is the 26,206 keys of the benchmark tables (every
(link, ops) except the all-skip cell maps to one of them); index i is the position of a key in the
sorted key list, and so the row of the space's stores.

Architecture strings are `link=0,1,2,1;ops=gcn,gin,fc,cheb` (spaces around tokens are ignored).
`index_of` accepts any valid (link, ops) spelling and folds it with the package's own
`valid_hash`, so equivalent spellings share an index; `arch_at` and `canonical` return the spelling
that the key's digits give. Mutation and neighbours act on that canonical spelling, so they depend
on the architecture, not on how it was written.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace
from tabular.errors import SourceMissingError

OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
LINKS = (
    (0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1, 1),
    (0, 0, 1, 2),
    (0, 0, 1, 3),
    (0, 1, 1, 1),
    (0, 1, 1, 2),
    (0, 1, 2, 2),
    (0, 1, 2, 3),
)
N_NODES = 4
N_OPS = len(OPS)
N_LINKS = len(LINKS)
KEY_BASE = 10  # the package hashes with base len(ops) + 1
ONEHOT_DIM = N_LINKS + N_NODES * N_OPS
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
_EXAMPLE = "link=0,1,2,1;ops=gcn,gin,fc,cheb"
_KEYS_DATASET = "cora"  # every one of the 8 full tables has the same key set


def parse(arch: str) -> tuple[list[int], list[str]]:
    """(link, ops) of an architecture string; raises ArchitectureError naming what is wrong."""
    if not isinstance(arch, str):
        raise ArchitectureError(f"a NAS-Bench-Graph architecture must be a string like {_EXAMPLE}, got "
                                f"{type(arch).__name__}")
    fields = {}
    for part in arch.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in ("link", "ops") or name in fields:
            raise ArchitectureError(f"NAS-Bench-Graph arch string {arch!r} must look like {_EXAMPLE}")
        fields[name] = [tok.strip() for tok in value.split(",")]
    if set(fields) != {"link", "ops"}:
        raise ArchitectureError(f"NAS-Bench-Graph arch string {arch!r} must look like {_EXAMPLE}")
    link_tokens, ops = fields["link"], fields["ops"]
    if len(link_tokens) != N_NODES or len(ops) != N_NODES:
        raise ArchitectureError(f"NAS-Bench-Graph arch string {arch!r} needs exactly {N_NODES} link entries and "
                                f"{N_NODES} ops")
    try:
        link = [int(tok) for tok in link_tokens]
    except ValueError:
        raise ArchitectureError(f"NAS-Bench-Graph arch string {arch!r}: link entries must be integers") from None
    for i, src in enumerate(link):
        if not 0 <= src <= i:
            raise ArchitectureError(
                f"NAS-Bench-Graph arch string {arch!r}: link[{i}]={src} must be in 0..{i} (the input of node {i + 1} "
                "is 0 or an earlier node)"
            )
    for op in ops:
        if op not in _OP_INDEX:
            raise ArchitectureError(f"NAS-Bench-Graph arch string {arch!r}: unknown op {op!r}; ops are "
                                    f"{', '.join(OPS)}")
    return link, ops


def format_arch(link: Iterable[int], ops: Iterable[str]) -> str:
    """The string of a (link, ops) pair, exactly as given (no canonicalisation)."""
    return "link=" + ",".join(str(int(x)) for x in link) + ";ops=" + ",".join(ops)


def key_digits(keys: np.ndarray) -> np.ndarray:
    """(n, 5) [link_index, op0, op1, op2, op3] spelled by the decimal digits of table keys."""
    keys = np.asarray(keys, dtype=np.int64).reshape(-1)
    powers = KEY_BASE ** np.arange(N_NODES, -1, -1)
    return (keys[:, None] // powers[None, :]) % KEY_BASE


def _valid_hash_fn():
    """The package's key function; the package is a dependency, its code stays its own."""
    try:
        from nas_bench_graph.architecture import Arch
    except ImportError:
        raise SourceMissingError("the PyPI package nas-bench-graph is not installed; run `pip install "
                                 "nas-bench-graph==1.4.0`") from None

    def valid_hash(link: list[int], ops: list[str]) -> int:
        return int(Arch(list(link), list(ops)).valid_hash())

    return valid_hash


class NBGraphSpace(SearchSpace):
    """NAS-Bench-Graph cells; index = position of the table key in the sorted key list."""

    name = "nbgraph"
    encodings = ("onehot", "index")

    # -- tables built on first use ---------------------------------------------------------------
    @cached_property
    def keys(self) -> np.ndarray:
        """Sorted table keys (int64): the architectures of the space, in index order."""
        # Downward (spaces -> tabular): the package's light table is read by its converter's reader.
        from tabular.converters.nbgraph import read_light_table
        from tabular.sources import nbgraph_light_file

        keys = np.sort(np.fromiter(read_light_table(nbgraph_light_file(_KEYS_DATASET)).keys(), dtype=np.int64))
        keys.flags.writeable = False
        return keys

    @cached_property
    def codes(self) -> np.ndarray:
        """(size, 5) [link_index, op0..op3] of every architecture's canonical form, in index order."""
        codes = key_digits(self.keys)
        codes.flags.writeable = False
        return codes

    @cached_property
    def _index_of_key(self) -> dict[int, int]:
        return {int(k): i for i, k in enumerate(self.keys.tolist())}

    @cached_property
    def _index_of_string(self) -> dict[str, int]:
        """Canonical strings -> index: the fast path that skips parsing and hashing."""
        return {self.arch_at(i): i for i in range(self.size)}

    @cached_property
    def _valid_hash(self):
        return _valid_hash_fn()

    # -- interface -------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """26,206: the table keys, not the (link, ops) spellings, since equivalent spellings share a row."""
        return int(self.keys.size)

    def key_of(self, link: list[int], ops: list[str]) -> int:
        """The package's table key of a validated (link, ops) pair."""
        return self._valid_hash(link, ops)

    def index_of_key(self, key: int) -> int:
        """Index of a package table key, so rows read by key (converters, stores) land on the space's order."""
        try:
            return self._index_of_key[int(key)]
        except KeyError:
            raise ArchitectureError(f"key {key} is not an architecture of NAS-Bench-Graph (the all-skip cell, key "
                                    "88888, is excluded)") from None

    def index_of(self, arch: str) -> int:
        """Index of any valid spelling, folded with the package's own `valid_hash` so equivalent cells agree.

        Canonical strings take a dict lookup first: strategies mostly pass back what `arch_at` gave them.
        """
        hit = self._index_of_string.get(arch) if isinstance(arch, str) else None
        if hit is not None:
            return hit
        link, ops = parse(arch)
        key = self.key_of(link, ops)
        if key not in self._index_of_key:
            raise ArchitectureError(f"NAS-Bench-Graph arch {arch!r} (key {key}) is not in the space; the all-skip "
                                    "cell has no GNN layer and is excluded")
        return self._index_of_key[key]

    def indices_of(self, archs: Iterable[str]) -> np.ndarray:
        """Indices of many architecture strings at once (canonical strings take a dict lookup)."""
        return np.fromiter((self.index_of(a) for a in archs), dtype=np.int64)

    def arch_at(self, index: int) -> str:
        """The canonical spelling of an index, read from its key's digits (so it round-trips through `index_of`)."""
        row = self.codes[self.check_index(index)]
        return format_arch(LINKS[row[0]], (OPS[c] for c in row[1:]))

    def link_ops_at(self, index: int) -> tuple[list[int], list[str]]:
        """Canonical (link, ops) lists of an index."""
        row = self.codes[self.check_index(index)]
        return list(LINKS[row[0]]), [OPS[c] for c in row[1:]]

    def canonical(self, arch: str) -> str:
        """The key's spelling of any valid spelling: equal iff the package folds both onto one table key."""
        return self.arch_at(self.index_of(arch))

    # -- local moves -----------------------------------------------------------------------------
    @staticmethod
    def _edits(link: list[int], ops: list[str]) -> Iterator[tuple[list[int], list[str]]]:
        """Every single op change, then every single link-entry change, in a fixed order."""
        for pos in range(N_NODES):
            for op in OPS:
                if op != ops[pos]:
                    yield link, ops[:pos] + [op] + ops[pos + 1 :]
        for pos in range(1, N_NODES):  # link[0] can only be 0
            for src in range(pos + 1):
                if src != link[pos]:
                    yield link[:pos] + [src] + link[pos + 1 :], ops

    def _edit_results(self, arch: str) -> list[int]:
        """Index reached by each edit of the canonical form that lands on another architecture."""
        own = self.index_of(arch)
        link, ops = self.link_ops_at(own)
        out = []
        for new_link, new_ops in self._edits(link, ops):
            index = self._index_of_key.get(self.key_of(new_link, new_ops))
            if index is not None and index != own:
                out.append(index)
        return out

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        """One uniformly drawn edit among those that change the architecture (= resampling edits
        that fold back onto the same key or leave the space), returned canonical."""
        results = self._edit_results(arch)
        if not results:
            raise ArchitectureError(f"NAS-Bench-Graph arch {arch!r} has no single-edit neighbour")
        return self.arch_at(results[int(rng.integers(len(results)))])

    def neighbours(self, arch: str) -> list[str]:
        """Distinct canonical architectures one op or link-entry edit away, in edit order."""
        return [self.arch_at(i) for i in dict.fromkeys(self._edit_results(arch))]

    # -- features --------------------------------------------------------------------------------
    def encode(self, archs: list[str], kind: str = "onehot") -> np.ndarray:
        """`index`: canonical [link_index, op0..op3]; `onehot`: 9 link patterns + 4 x 9 ops."""
        self._check_encoding(kind)
        codes = self.codes[self.indices_of(archs)]
        if kind == "index":
            return np.array(codes, dtype=np.int64)
        return onehot(codes)


def onehot(codes: np.ndarray) -> np.ndarray:
    """One-hot features of (n, 5) [link_index, op0..op3] rows: link pattern, then each node's op."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, 1 + N_NODES)
    n = codes.shape[0]
    out = np.zeros((n, ONEHOT_DIM), dtype=np.float64)
    out[np.arange(n), codes[:, 0]] = 1.0
    cols = N_LINKS + np.arange(N_NODES) * N_OPS + codes[:, 1:]
    out[np.repeat(np.arange(n), N_NODES), cols.reshape(-1)] = 1.0
    return out
