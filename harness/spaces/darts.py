"""The DARTS cell space of NAS-Bench-301 (about 10^18 architectures).

A genotype has a normal and a reduction cell. Each cell has 4 intermediate nodes t = 0..3; node t
takes exactly 2 *distinct* inputs among 0, 1 (the two cell inputs) and 2..t+1 (earlier nodes), each
through one of the 7 NB301 ops. The cell output concatenates the 4 nodes. Because a node sums its
two inputs, the order of a node's two (op, input) pairs carries no meaning: the string lists them by
input index, and that order is what `index_of`/`arch_at` encode.

String (NB201-like, one `|op~input|op~input|` group per node, nodes joined by `+`):
`normal=|sep_conv_3x3~0|sep_conv_3x3~1|+|...|+|...|+|...|;reduce=|...|+|...|+|...|+|...|`.

Index: a bijection between [0, size) and genotypes with each node's pairs ordered. Node t is coded
as (pair, op of the lower input, op of the higher input), with `pair` the position of its input pair
in NB301's choice list (`0_1, 0_2, 1_2, ...`: lexicographic), a cell as a mixed-radix number over
its nodes, and the genotype as normal * CELL_SIZE + reduce. Size = CELL_SIZE^2 = 1,076,746,950,
455,072,400 (fits an int64), so uniform sampling of an index is uniform sampling of a genotype, the
same distribution as NB301's and NASLib's random sampling (2 distinct inputs, then 2 ops, per node).

`canonical` also removes the relabelling of intermediate nodes: permuting nodes 2..5 (keeping
every input earlier than its node) gives the same network up to a permutation of the output
channels, which the next cell's 1x1 preprocessing absorbs. The canonical string is the one with the
lowest index among those relabellings (done per cell). NB301's surrogates do not apply this
reduction (their features differ between relabellings), so benchmarks query the architecture as
proposed.

The NB301 feature vector (`encode(..., "nb301")`) is ConfigSpace 0.4.12's `get_array()` of the
NB301 configuration with NaN -> -1, as the official XGB/LGB surrogates read it
(the NB301 configuration space's array form; tested against official feature vectors).
"""
from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import combinations, permutations
from typing import Any

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace

OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
N_OPS = len(OPS)
N_NODES = 4
CELLS = ("normal", "reduce")
_OP_INDEX = {op: i for i, op in enumerate(OPS)}
# Input pairs of node t in NB301's choice order (`0_1, 0_2, 0_3, 1_2, ...`): lexicographic.
PAIRS: tuple[tuple[tuple[int, int], ...], ...] = tuple(tuple(combinations(range(t + 2), 2)) for t in range(N_NODES))
_PAIR_INDEX = tuple({p: i for i, p in enumerate(pairs)} for pairs in PAIRS)
NODE_RADIX = tuple(len(p) * N_OPS * N_OPS for p in PAIRS)  # 49, 147, 294, 490
CELL_SIZE = int(np.prod(NODE_RADIX))  # 1,037,664,180
SIZE = CELL_SIZE * CELL_SIZE
EDGE_START = (0, 2, 5, 9)  # NB301 edge id of node t's input j is EDGE_START[t] + j
N_EDGES = 14

# A node is ((input_lo, op_lo), (input_hi, op_hi)) with input_lo < input_hi; a cell is 4 nodes.
Node = tuple[tuple[int, int], tuple[int, int]]
Cell = tuple[Node, Node, Node, Node]
Genotype = tuple[Cell, Cell]

# --- NB301 feature vector (ConfigSpace array form) ----------------------------------------------
NB301_DIM = 56
# Non-architecture positions are NB301's fixed training settings, encoded by ConfigSpace 0.4.12 (the
# NB301 defaults: batch 96, cutout 1x16, init_channels 32, layers 8, lr 0.025,
# momentum 0.9, wd 3e-4, T_max 100, eta_min 1e-8, mixup alpha 0.2; every other fixed setting is 0).
_NB301_FIXED = {
    0: 0.5863451791322553,
    4: 0.16666444442962952,
    5: 0.3099999239999697,
    14: 0.003149999006299998,
    21: 0.000749999001499998,
    24: -3.6888794541139363,
    25: 0.8988764044943821,
    26: -8.111728083308073,
    27: 0.009949999019899998,
    28: 1e-12,
    31: 0.7051278400653053,
}
# Unconditional edges (ids 0 and 1 of each cell) sit at 10-13; input choices of nodes t = 1..3 at
# 15-17 (normal) and 18-20 (reduce); conditional edges 2..13 at 32-55, sorted by name as strings.
_NB301_EDGE_POS = {("normal", 0): 10, ("normal", 1): 11, ("reduce", 0): 12, ("reduce", 1): 13}
_NB301_INPUTS_POS = {"normal": 15, "reduce": 18}
_CONDITIONAL_ORDER = sorted(str(e) for e in range(2, N_EDGES))  # '10','11','12','13','2',...,'9'
for _c, _cell in enumerate(CELLS):
    for _k, _e in enumerate(_CONDITIONAL_ORDER):
        _NB301_EDGE_POS[(_cell, int(_e))] = 32 + 12 * _c + _k
CONFIG_PREFIX = "NetworkSelectorDatasetInfo:darts:"


def _check_node(cell: str, t: int, entries: Sequence[Any], arch: object) -> Node:
    if len(entries) != 2:
        raise ArchitectureError(
            f"DARTS architecture {arch!r}: node {t} of the {cell} cell has {len(entries)} inputs; every node takes "
            "exactly 2"
        )
    pairs = []
    for entry in entries:
        op, src = entry
        if op not in _OP_INDEX:
            raise ArchitectureError(f"DARTS architecture {arch!r}: unknown op {op!r} in the {cell} cell; ops are "
                                    f"{', '.join(OPS)}")
        if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not 0 <= int(src) <= t + 1:
            raise ArchitectureError(
                f"DARTS architecture {arch!r}: input {src!r} of node {t} of the {cell} cell is out of range (allowed "
                f"0..{t + 1})"
            )
        pairs.append((int(src), _OP_INDEX[op]))
    if pairs[0][0] == pairs[1][0]:
        raise ArchitectureError(
            f"DARTS architecture {arch!r}: node {t} of the {cell} cell takes input {pairs[0][0]} twice; its 2 inputs "
            "must differ"
        )
    lo, hi = sorted(pairs)
    return (lo, hi)


def parse(arch: str) -> Genotype:
    """The genotype of an architecture string; strict, one-line ArchitectureError on any fault."""
    if not isinstance(arch, str):
        raise ArchitectureError(f"a DARTS architecture must be a string, got {type(arch).__name__}")
    parts = arch.split(";")
    if len(parts) != 2 or not parts[0].startswith("normal=") or not parts[1].startswith("reduce="):
        raise ArchitectureError(
            f"DARTS architecture {arch!r} must read normal=|op~i|op~j|+...;reduce=|op~i|op~j|+... (4 nodes per cell)"
        )
    cells = []
    for cell, text in zip(CELLS, (parts[0][len("normal="):], parts[1][len("reduce="):]), strict=False):
        nodes = text.split("+")
        if len(nodes) != N_NODES:
            raise ArchitectureError(f"DARTS architecture {arch!r}: the {cell} cell has {len(nodes)} nodes; it needs "
                                    f"{N_NODES}")
        parsed = []
        for t, node in enumerate(nodes):
            if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
                raise ArchitectureError(f"DARTS architecture {arch!r}: node {t} of the {cell} cell {node!r} must be "
                                        "written |op~i|op~j|")
            entries = []
            for entry in node[1:-1].split("|"):
                op, sep, src = entry.partition("~")
                if not sep or not src.isdigit():
                    raise ArchitectureError(f"DARTS architecture {arch!r}: entry {entry!r} of the {cell} cell must be "
                                            "op~input")
                entries.append((op, int(src)))
            parsed.append(_check_node(cell, t, entries, arch))
        cells.append(tuple(parsed))
    return (cells[0], cells[1])  # type: ignore[return-value]


def format_arch(genotype: Genotype) -> str:
    """The string of a genotype whose nodes are already ordered (input_lo < input_hi)."""
    texts = []
    for cell, nodes in zip(CELLS, genotype, strict=False):
        texts.append(cell + "=" + "+".join(f"|{OPS[a[1]]}~{a[0]}|{OPS[b[1]]}~{b[0]}|" for a, b in nodes))
    return ";".join(texts)


def cell_code(nodes: Cell) -> int:
    """The mixed-radix index of one cell (node by node: input pair, then both ops)."""
    code = 0
    for t, ((ia, oa), (ib, ob)) in enumerate(nodes):
        code = code * NODE_RADIX[t] + (_PAIR_INDEX[t][(ia, ib)] * N_OPS + oa) * N_OPS + ob
    return code


def cell_of_code(code: int) -> Cell:
    """The cell at a mixed-radix index (inverse of `cell_code`)."""
    nodes: list[Node] = []
    for t in range(N_NODES - 1, -1, -1):
        code, digit = divmod(code, NODE_RADIX[t])
        pair, rest = divmod(digit, N_OPS * N_OPS)
        oa, ob = divmod(rest, N_OPS)
        ia, ib = PAIRS[t][pair]
        nodes.append(((ia, oa), (ib, ob)))
    return tuple(reversed(nodes))  # type: ignore[return-value]


@lru_cache(maxsize=1)
def _relabellings() -> tuple[tuple[int, ...], ...]:
    """Permutations of the 4 intermediate nodes as maps old node id (2..5) -> new node id."""
    return tuple(tuple(perm) for perm in permutations(range(2, 2 + N_NODES)))


def canonical_cell(nodes: Cell) -> Cell:
    """The relabelling of intermediate nodes with the lowest cell code (inputs stay earlier)."""
    best: tuple[int, Cell] | None = None
    for perm in _relabellings():
        new_of = {0: 0, 1: 1, **{old: new for old, new in zip(range(2, 2 + N_NODES), perm, strict=False)}}
        relabelled: list[Node | None] = [None] * N_NODES
        valid = True
        for t, node in enumerate(nodes):
            target = new_of[t + 2] - 2
            pairs = sorted((new_of[src], op) for src, op in node)
            if pairs[1][0] > target + 1:  # an input would come from a later node
                valid = False
                break
            relabelled[target] = (pairs[0], pairs[1])
        if not valid:
            continue
        cell = tuple(relabelled)  # type: ignore[arg-type]
        code = cell_code(cell)  # type: ignore[arg-type]
        if best is None or code < best[0]:
            best = (code, cell)  # type: ignore[assignment]
    assert best is not None  # the identity relabelling is always valid
    return best[1]


def _from_pairs(normal: Sequence[Any], reduce: Sequence[Any], source: object) -> Genotype:
    cells = []
    for cell, entries in zip(CELLS, (normal, reduce), strict=False):
        entries = list(entries)
        if len(entries) != 2 * N_NODES:
            raise ArchitectureError(
                f"DARTS genotype {source!r}: the {cell} cell lists {len(entries)} (op, input) pairs; it needs "
                f"{2 * N_NODES} (2 per node)"
            )
        cells.append(tuple(_check_node(cell, t, entries[2 * t:2 * t + 2], source) for t in range(N_NODES)))
    return (cells[0], cells[1])  # type: ignore[return-value]


def from_genotype(genotype: Any) -> str:
    """The string of a DARTS `Genotype` (namedtuple or mapping with `normal`/`reduce` lists of
    (op, input) pairs, optional `*_concat` which must be [2, 3, 4, 5])."""
    get = genotype.get if isinstance(genotype, Mapping) else (lambda k, d=None: getattr(genotype, k, d))
    normal, reduce = get("normal"), get("reduce")
    if normal is None or reduce is None:
        raise ArchitectureError(f"DARTS genotype {genotype!r} needs `normal` and `reduce` lists of (op, input) pairs")
    for key in ("normal_concat", "reduce_concat"):
        concat = get(key)
        if concat is not None and list(concat) != list(range(2, 2 + N_NODES)):
            raise ArchitectureError(f"DARTS genotype: {key}={list(concat)} is not supported; NB301 cells concatenate "
                                    "nodes [2, 3, 4, 5]")
    return format_arch(_from_pairs([(op, src) for op, src in normal], [(op, src) for op, src in reduce], genotype))


def to_genotype(arch: str) -> dict[str, Any]:
    """DARTS genotype fields of an architecture (pairs in string order)."""
    g = parse(arch)
    out: dict[str, Any] = {}
    for cell, nodes in zip(CELLS, g, strict=False):
        out[cell] = [(OPS[op], src) for node in nodes for src, op in node]
        out[cell + "_concat"] = list(range(2, 2 + N_NODES))
    return out


def from_compact(compact: Any) -> str:
    """The string of NASLib's compact genotype `[[(input, op_index) x 8], [x 8]]` (op indices in
    NB301 order, as in NAS-Bench-Suite-Zero's `zc_proxies_nb301.json`); accepts its text too."""
    value = compact
    if isinstance(compact, str):
        try:
            value = ast.literal_eval(compact)
        except (ValueError, SyntaxError):
            raise ArchitectureError(f"{compact!r} is not a NASLib compact DARTS genotype [[(input, op) x 8], [(input, "
                                    "op) x 8]]") from None
    try:
        normal, reduce = value
        cells = [[(OPS[int(op)] if 0 <= int(op) < N_OPS else f"op index {op}", int(src)) for src, op in cell]
                 for cell in (normal, reduce)]
    except (TypeError, ValueError):
        raise ArchitectureError(f"{compact!r} is not a NASLib compact DARTS genotype [[(input, op) x 8], [(input, op) "
                                "x 8]]") from None
    return format_arch(_from_pairs(cells[0], cells[1], compact))


def nb301_config(arch: str) -> dict[str, str]:
    """The architecture part of NB301's configuration dict (`convert_genotype_to_config`)."""
    config: dict[str, str] = {}
    for cell, nodes in zip(CELLS, parse(arch), strict=False):
        for t, node in enumerate(nodes):
            for src, op in node:
                config[f"{CONFIG_PREFIX}edge_{cell}_{EDGE_START[t] + src}"] = OPS[op]
            if t > 0:
                config[f"{CONFIG_PREFIX}inputs_node_{cell}_{t + 2}"] = f"{node[0][0]}_{node[1][0]}"
    return config


def nb301_features(genotypes: Sequence[Genotype]) -> np.ndarray:
    """(n, 56) NB301 XGB/LGB feature vectors (ConfigSpace 0.4.12 get_array, NaN -> -1)."""
    out = np.full((len(genotypes), NB301_DIM), -1.0)
    base = np.zeros(32)
    for pos, value in _NB301_FIXED.items():
        base[pos] = value
    out[:, :32] = base
    for i, g in enumerate(genotypes):
        for cell, nodes in zip(CELLS, g, strict=False):
            for t, node in enumerate(nodes):
                for src, op in node:
                    out[i, _NB301_EDGE_POS[(cell, EDGE_START[t] + src)]] = op
                if t > 0:
                    out[i, _NB301_INPUTS_POS[cell] + t - 1] = _PAIR_INDEX[t][(node[0][0], node[1][0])]
    return out


def onehot_features(genotypes: Sequence[Genotype]) -> np.ndarray:
    """(n, 2 * 14 * 7): per cell and NB301 edge id, a one-hot of its op (all zero when inactive)."""
    out = np.zeros((len(genotypes), 2 * N_EDGES * N_OPS))
    for i, g in enumerate(genotypes):
        for c, nodes in enumerate(g):
            for t, node in enumerate(nodes):
                for src, op in node:
                    out[i, (c * N_EDGES + EDGE_START[t] + src) * N_OPS + op] = 1.0
    return out


class DartsSpace(SearchSpace):
    """NAS-Bench-301's DARTS space; index = mixed-radix genotype code (see module docstring)."""

    name = "darts"
    # No `index` encoding on purpose: strategies that enumerate a space through it (TPE, REINFORCE,
    # BOHB, NSGA-II's CodeTable) cannot enumerate 10^18 architectures, and refuse with a message.
    encodings = ("onehot", "nb301")
    enumerable = False

    @property
    def size(self) -> int:
        """Number of (normal, reduction) genotypes: CELL_SIZE squared."""
        return SIZE

    def genotype(self, arch: str) -> Genotype:
        """The parsed (normal, reduction) cells of an architecture string."""
        return parse(arch)

    def index_of(self, arch: str) -> int:
        """The genotype's code: normal cell code * CELL_SIZE + reduction cell code."""
        normal, reduce = parse(arch)
        return cell_code(normal) * CELL_SIZE + cell_code(reduce)

    def arch_at(self, index: int) -> str:
        """The architecture string of a genotype code."""
        index = self.check_index(index)
        normal, reduce = divmod(index, CELL_SIZE)
        return format_arch((cell_of_code(normal), cell_of_code(reduce)))

    def canonical(self, arch: str) -> str:
        """Both cells relabelled to their lowest code (`canonical_cell`): equal for equivalent genotypes."""
        normal, reduce = parse(arch)
        return format_arch((canonical_cell(normal), canonical_cell(reduce)))

    def sample_indices(self, rng: np.random.Generator, n: int, replace: bool = True) -> np.ndarray:
        """Uniform indices; without replacement by rejection (collisions are ~1e-18 per pair)."""
        if replace:
            return rng.integers(SIZE, size=n, dtype=np.int64)
        seen: set[int] = set()
        out: list[int] = []
        while len(out) < n:
            i = int(rng.integers(SIZE, dtype=np.int64))
            if i not in seen:
                seen.add(i)
                out.append(i)
        return np.asarray(out, dtype=np.int64)

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        """NASLib's DARTS mutation: one cell, one of its 8 (op, input) pairs, then with probability
        1/2 a different op, else a different input (one not used by the node; node 0 has none, so
        it changes its op)."""
        g = [[list(map(list, node)) for node in cell] for cell in parse(arch)]
        c = int(rng.integers(2))
        t, k = divmod(int(rng.integers(2 * N_NODES)), 2)
        node = g[c][t]
        change_input = bool(rng.random() < 0.5)
        free = [i for i in range(t + 2) if i not in (node[0][0], node[1][0])]
        if change_input and free:
            node[k][0] = free[int(rng.integers(len(free)))]
        else:
            node[k][1] = (node[k][1] + int(rng.integers(1, N_OPS))) % N_OPS
        return self._format_lists(g)

    @staticmethod
    def _format_lists(g: list[list[list[list[int]]]]) -> str:
        cells = tuple(tuple(tuple(sorted(tuple(e) for e in node)) for node in cell) for cell in g)
        return format_arch(cells)  # type: ignore[arg-type]

    def neighbours(self, arch: str) -> list[str]:
        """Every single-pair edit (another op, or another unused input), in a fixed order."""
        base = [[list(map(list, node)) for node in cell] for cell in parse(arch)]
        out: dict[str, None] = {}
        for c in range(2):
            for t in range(N_NODES):
                for k in range(2):
                    node = base[c][t]
                    for op in range(N_OPS):
                        if op != node[k][1]:
                            g = [[[list(e) for e in n] for n in cell] for cell in base]
                            g[c][t][k][1] = op
                            out.setdefault(self._format_lists(g), None)
                    for src in range(t + 2):
                        if src not in (node[0][0], node[1][0]):
                            g = [[[list(e) for e in n] for n in cell] for cell in base]
                            g[c][t][k][0] = src
                            out.setdefault(self._format_lists(g), None)
        out.pop(arch, None)
        return list(out)

    def encode(self, archs: list[str], kind: str = "onehot") -> np.ndarray:
        """Feature matrix of genotypes: NB301's own features (`nb301`) or the one-hot encoding."""
        self._check_encoding(kind)
        genotypes = [parse(a) for a in archs]
        return nb301_features(genotypes) if kind == "nb301" else onehot_features(genotypes)
