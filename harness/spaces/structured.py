"""A search space declared by a user's table: a fixed number of positions, each with its choices.

Why: a table converted with `nas-harness convert table` that only lists `arch_id`s gives strategies
nothing to mutate, so regularized evolution, local search and BANANAS fall to random-search level.
A table whose architectures *are* vectors of choices (one op per layer, a kernel size per block)
can declare that structure in its sidecar, and then those strategies work as on NB201.

Declared in the sidecar (`tabular.converters.generic_table`) as ``"space"``::

    {"layers": 8, "choices": [0, 1, 2]}              # every position has the same choices
    {"choices": [[0, 1, 2], [0, 1], [3, 5, 7]]}      # one list of choices per position
    {"columns": ["op1", "op2", "k"], "choices": ...} # positions read from these table columns

A choice is an integer, a finite number or a string without '-', whitespace, '[' or ']'. An
architecture string is its positions' choices joined by '-' (``"2-0-5"``); a JSON list
(``"[2, 0, 5]"``) is accepted on input, and so is, when every choice is one character, the
unseparated ``"205"`` (NAS-Bench-Macro's keys). Numeric choices also match by value (``"5.0"`` is 5).

The space is the architectures the table lists (its store's rows, sorted by their codes), not the
whole product of the choices: a table of sampled architectures from a huge grid is the usual case,
and a row without any measurement would only waste a search's budget. A table that lists every
combination gives the full grid. Moves, over listed architectures only (so a mutation, a local-search
step or a BANANAS candidate never lands on a missing cell):

- the neighbourhood of a listed architecture is its one-edit ring (every listed architecture that
  differs in exactly one position) when that ring holds at least `wanted_neighbours` = half of a
  full ring, ceil(sum over positions of (choices - 1) / 2) and at least 1. Otherwise
  (a sparse table: NAS-Bench-Suite-Zero lists 711 of 4,096 cells, whose ring holds about 3) it is
  the smallest Hamming ball around it that holds that many listed architectures, every listed
  architecture at the ball's radius included (the whole table when it is smaller). On a full grid
  every ring is complete, so the neighbourhood is exactly "differs in one position", as in NB201;
- `neighbours`: the neighbourhood in a fixed order: a ring by position, then choice; a ball by
  Hamming distance, then row;
- `mutate`: on a ring a position drawn uniformly among those with a listed alternative, then one of
  those alternatives uniformly (NB201's rule on a full grid); on a ball a uniform draw over it;
- encodings `index` (the choice codes, one integer per position: REINFORCE, TPE, BOHB, NSGA-II) and
  `onehot` (one block per position: BANANAS with `encoding=onehot`, GP-BO);
- code vectors those strategies draw that the table does not list: `StructuredCodeTable.indices` gives
  -1 (BOHB skips such candidates, NSGA-II keeps the parent instead of such a crossover child) and
  `decode` refuses them (REINFORCE and TPE draw again), except on a table listing under 5 %
  (`PROJECT_BELOW`) of its product, where `decode` projects them onto the nearest listed architecture
  (smallest Hamming distance), since there nearly every draw would miss.

The declared choices travel in the store's provenance (`SPEC_KEY`) and `bind_store` rebuilds the
space from them, so a loaded benchmark has exactly the space it was converted with.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace
from harness.spaces.codes import CodeTable
from tabular.errors import NasHarnessError
from tabular.protocol import Store

PREFIX = "structured:"
SEPARATOR = "-"
SPEC_KEY = "structured_space"  # provenance key of the store that records the declared choices
SPEC_KEYS = ("layers", "choices", "columns")
PROJECT_BELOW = 0.05  # listed share of the product under which decoding projects (StructuredCodeTable)
_BAD_CHARACTERS = (SEPARATOR, "[", "]", ",")

Choice = int | float | str


def _token(value: Choice) -> str:
    return value if isinstance(value, str) else repr(value)


def _choice(value: Any, where: str) -> Choice:
    """One declared choice, checked: an int, a finite float or a safe non-empty string."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise NasHarnessError(f"{where}: choice {value!r} must be an integer, a number or a string")
    if isinstance(value, float) and not math.isfinite(value):
        raise NasHarnessError(f"{where}: choice {value!r} must be finite")
    token = _token(value)
    if (not token or token != token.strip() or any(c.isspace() for c in token)
            or any(c in token for c in _BAD_CHARACTERS)):
        raise NasHarnessError(f"{where}: choice {value!r} must not be empty or contain whitespace, "
                              f"'{SEPARATOR}', ',', '[' or ']' ('{SEPARATOR}' separates the positions of an arch "
                              "string)")
    return value


def normalise_spec(spec: Any, where: str) -> dict[str, Any]:
    """The sidecar's (or a store's) space declaration, checked: {"choices": [[...], ...]} per position,
    plus "columns" when the positions are table columns. Every mistake is a one-line error."""
    if not isinstance(spec, dict):
        raise NasHarnessError(f"{where}: space must be an object like {{\"layers\": 8, \"choices\": [0, 1, 2]}}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise NasHarnessError(f"{where}: unknown space key(s) {unknown}; allowed: {', '.join(SPEC_KEYS)}")
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise NasHarnessError(f"{where}: space.choices must be a non-empty list (one list for every position, or a "
                              "list per position)")
    columns = spec.get("columns")
    if columns is not None:
        if (not isinstance(columns, list) or not columns or not all(isinstance(c, str) and c for c in columns)
                or len(set(columns)) != len(columns)):
            raise NasHarnessError(f"{where}: space.columns must be a list of distinct column names")
    layers = spec.get("layers")
    if layers is not None and (isinstance(layers, bool) or not isinstance(layers, int) or layers < 1):
        raise NasHarnessError(f"{where}: space.layers must be a positive integer, got {layers!r}")
    per_position = all(isinstance(c, list) for c in choices)
    if per_position:
        n = len(choices)
        if layers is not None and layers != n:
            raise NasHarnessError(f"{where}: space.layers is {layers} but space.choices lists {n} positions")
        lists = choices
    elif any(isinstance(c, list) for c in choices):
        raise NasHarnessError(f"{where}: space.choices mixes lists and single choices; give one list, or one list per "
                              "position")
    else:
        given = layers if layers is not None else (len(columns) if columns is not None else None)
        if given is None:
            raise NasHarnessError(f"{where}: with one list of choices for every position, give space.layers (the "
                                  "number of positions)")
        n = given
        lists = [choices] * n
    if columns is not None and len(columns) != n:
        raise NasHarnessError(f"{where}: space.columns names {len(columns)} columns for {n} positions")
    out: list[list[Choice]] = []
    for pos, values in enumerate(lists):
        here = f"{where}: space position {pos}"
        if not values:
            raise NasHarnessError(f"{here} has no choices")
        checked = [_choice(v, here) for v in values]
        tokens = [_token(v) for v in checked]
        numbers = [float(v) for v in checked if not isinstance(v, str)]
        if len(set(tokens)) != len(tokens) or len(set(numbers)) != len(numbers):
            raise NasHarnessError(f"{here} lists a choice twice: {values}")
        out.append(checked)
    result: dict[str, Any] = {"choices": out}
    if columns is not None:
        result["columns"] = list(columns)
    return result


class StructuredSpace(SearchSpace):
    """Listed architectures of a declared positions x choices space (see the module docstring).

    Unbound (`get_space("structured:<name>")`) it knows only its name; `bind_store` gives it the
    choices and rows of its store. With choices but no codes it can only parse (`codes_of`).
    """

    encodings = ("onehot", "index")

    def __init__(self, name: str, choices: Sequence[Sequence[Choice]] | None = None, codes: np.ndarray | None = None):
        self.name = name
        self._choices = None if choices is None else tuple(tuple(c) for c in choices)
        self._codes: np.ndarray | None = None
        if codes is not None:
            if self._choices is None:
                raise ArchitectureError(f"space {name!r}: listed architectures without their choices")
            codes = np.asarray(codes, dtype=np.int64).reshape(-1, len(self._choices))
            if codes.shape[0] == 0:
                raise ArchitectureError(f"space {name!r} lists no architecture")
            codes = codes[np.lexsort(codes.T[::-1])]
            if np.any(np.all(codes[1:] == codes[:-1], axis=1)):
                raise ArchitectureError(f"space {name!r} lists an architecture twice")
            if np.any(codes < 0) or np.any(codes >= np.asarray([len(c) for c in self._choices])):
                raise ArchitectureError(f"space {name!r}: a code is outside its position's choices")
            codes.flags.writeable = False
            self._codes = codes

    # -- construction ----------------------------------------------------------------------------
    def bind_store(self, store: Store) -> StructuredSpace:
        """The space of `store`: its recorded choices and its rows (which must be sorted codes)."""
        table = self._table_of(store)
        spec = table.provenance.get(SPEC_KEY)
        if spec is None:
            raise ArchitectureError(f"store {table.name!r} ({table.path}) records no {SPEC_KEY!r}; convert its table "
                                    "again")
        choices = normalise_spec(spec, f"store {table.name!r}")["choices"]
        parser = StructuredSpace(self.name, choices)
        codes = np.asarray([parser.codes_of(a) for a in table.arch_strings.tolist()], dtype=np.int64)
        space = StructuredSpace(self.name, choices, codes)
        if space.strings != table.arch_strings.tolist():
            raise ArchitectureError(f"store {table.name!r} ({table.path}): its rows are not the sorted canonical "
                                    "architectures of its space; convert its table again")
        return space

    def _unbound(self) -> ArchitectureError:
        return ArchitectureError(f"space {self.name!r} has no architectures until it is loaded with its benchmark "
                                 "(load_benchmark)")

    # -- tables built on first use ---------------------------------------------------------------
    @property
    def choices(self) -> tuple[tuple[Choice, ...], ...]:
        """The declared choices per position (from the bound store's provenance)."""
        if self._choices is None:
            raise self._unbound()
        return self._choices

    @property
    def codes(self) -> np.ndarray:
        """(size, positions) choice codes of the listed architectures, in index order."""
        if self._codes is None:
            raise self._unbound()
        return self._codes

    @cached_property
    def cardinalities(self) -> tuple[int, ...]:
        """Number of choices at each position."""
        return tuple(len(c) for c in self.choices)

    @cached_property
    def _tokens(self) -> tuple[dict[str, int], ...]:
        return tuple({_token(v): i for i, v in enumerate(c)} for c in self.choices)

    @cached_property
    def _one_character(self) -> bool:
        """Whether every choice is written with one character, so an unseparated string splits per character."""
        return all(len(t) == 1 for tokens in self._tokens for t in tokens)

    @cached_property
    def _numbers(self) -> tuple[dict[float, int], ...]:
        return tuple({float(v): i for i, v in enumerate(c) if not isinstance(v, str)} for c in self.choices)

    @cached_property
    def strings(self) -> list[str]:
        """The listed architectures' canonical strings, in row order."""
        return [self.format_codes(row) for row in self.codes.tolist()]

    @cached_property
    def _row_of_codes(self) -> dict[tuple[int, ...], int]:
        return {tuple(row): i for i, row in enumerate(self.codes.tolist())}

    @cached_property
    def _row_of_string(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.strings)}

    # -- parsing ---------------------------------------------------------------------------------
    def format_codes(self, codes: Sequence[int]) -> str:
        """The canonical string of a code vector (one token per position)."""
        return SEPARATOR.join(_token(self.choices[p][int(c)]) for p, c in enumerate(codes))

    def codes_of(self, arch: Any) -> tuple[int, ...]:
        """Choice codes of an architecture in the declared space (listed or not): a '-'-joined
        string, a JSON list string, or a sequence of values; ArchitectureError says what is wrong."""
        choices = self.choices
        if isinstance(arch, str):
            text = arch.strip()
            if text.startswith("[") and text.endswith("]"):
                try:
                    values = json.loads(text)
                except ValueError:
                    raise ArchitectureError(f"{arch!r} is not a JSON list of choices") from None
            else:
                values = [t.strip() for t in text.split(SEPARATOR)]
                if len(values) == 1 < len(choices) == len(text) and self._one_character:
                    values = list(text)  # a compact key (NAS-Bench-Macro's "01201120"): one character per position
        elif isinstance(arch, (list, tuple, np.ndarray)):
            values = list(arch)
        else:
            raise ArchitectureError(f"an architecture of space {self.name!r} is a string like "
                                    f"{self.format_codes([0] * len(choices))!r}, got {type(arch).__name__}")
        if len(values) != len(choices):
            raise ArchitectureError(f"{arch!r} has {len(values)} positions; space {self.name!r} has {len(choices)}")
        out = []
        for pos, value in enumerate(values):
            code = self._code(pos, value)
            if code is None:
                allowed = ", ".join(_token(v) for v in choices[pos])
                raise ArchitectureError(f"{arch!r}: position {pos} is {value!r}, not one of the declared choices "
                                        f"{allowed}")
            out.append(code)
        return tuple(out)

    def _code(self, pos: int, value: Any) -> int | None:
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, str):
            hit = self._tokens[pos].get(value.strip())
            if hit is not None or not self._numbers[pos]:
                return hit
            try:
                value = float(value)
            except ValueError:
                return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return self._numbers[pos].get(float(value))

    # -- interface -------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of listed architectures (rows of the bound store)."""
        return int(self.codes.shape[0])

    def index_of(self, arch: str) -> int:
        """Row of an architecture given as a string or a sequence of choices."""
        hit = self._row_of_string.get(arch) if isinstance(arch, str) else None
        if hit is not None:
            return hit
        codes = self.codes_of(arch)
        try:
            return self._row_of_codes[codes]
        except KeyError:
            raise ArchitectureError(f"{arch!r} is in the declared space of {self.name!r} but its table does not "
                                    "list it") from None

    def arch_at(self, index: int) -> str:
        """The canonical string at a row."""
        return self.strings[self.check_index(index)]

    def canonical(self, arch: str) -> str:
        """The canonical spelling of any accepted spelling."""
        return self.arch_at(self.index_of(arch))

    def _alternatives(self, own: int) -> list[list[int]]:
        """Per position, the listed architectures that differ from `own` in that position only."""
        row = list(self.codes[own])
        out = []
        for pos, card in enumerate(self.cardinalities):
            here = []
            for code in range(card):
                if code != row[pos]:
                    hit = self._row_of_codes.get(tuple(row[:pos] + [code] + row[pos + 1:]))
                    if hit is not None:
                        here.append(hit)
            out.append(here)
        return out

    @cached_property
    def wanted_neighbours(self) -> int:
        """How many neighbours a listed architecture should have: half of a full one-edit neighbourhood
        (sum of (choices - 1) over positions), rounded up, and at least 1 (see the module docstring)."""
        return max(1, math.ceil(sum(c - 1 for c in self.cardinalities) / 2))

    def _neighbourhood(self, own: int) -> tuple[list[list[int]] | None, list[int]]:
        """`own`'s neighbourhood: (the one-edit groups, []) when they hold enough architectures, else
        (None, the rows of the smallest Hamming ball around `own` that does, ordered by distance then row).

        Why a ball and not only the nearest ring: on a sparse table (NAS-Bench-Suite-Zero lists 711 of
        4,096 cells) the one-edit ring holds about 3 listed cells, so evolution kept proposing the same
        few architectures (about 31 distinct in 100 evaluations); the ball keeps moves local yet gives
        each architecture at least half as many choices as a full grid would. Why half and not a full
        ring: a nearly complete table (a few cells missing) keeps one-edit moves, instead of jumping
        to a radius-2 ball of a hundred cells because one neighbour is absent. On a full grid the ring
        is always enough, so the moves (and seeded trajectories) are unchanged.
        """
        groups = self._alternatives(own)
        if sum(len(g) for g in groups) >= min(self.wanted_neighbours, self.size - 1):
            return groups, []
        return None, self._ball(own)

    def _ball(self, own: int) -> list[int]:
        """Rows of the smallest Hamming ball around `own` holding `wanted_neighbours` listed ones (cached:
        local search and BANANAS ask for the same architectures' neighbourhoods again and again)."""
        hit = self._balls.get(own)
        if hit is None:
            distance = np.count_nonzero(self.codes != self.codes[own], axis=1)
            counts = np.bincount(distance, minlength=len(self.cardinalities) + 1)
            counts[0] = 0  # `own` itself
            radius = int(np.searchsorted(np.cumsum(counts), min(self.wanted_neighbours, self.size - 1)))
            inside = np.flatnonzero((distance > 0) & (distance <= radius))
            hit = self._balls[own] = inside[np.argsort(distance[inside], kind="stable")].tolist()
        return hit

    @cached_property
    def _balls(self) -> dict[int, list[int]]:
        return {}

    def neighbours(self, arch: str) -> list[str]:
        """The neighbourhood (module docstring): listed architectures differing in one position (fixed
        order: position, then choice), or where those are too few, the smallest Hamming ball that has
        enough (ordered by distance, then row)."""
        groups, ball = self._neighbourhood(self.index_of(arch))
        rows = ball if groups is None else [i for group in groups for i in group]
        return [self.arch_at(i) for i in rows]

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        """A draw from the neighbourhood: on the one-edit ring a position first, then one of its listed
        choices (NB201's rule); on a Hamming ball (sparse table) a uniform draw over the ball."""
        own = self.index_of(arch)
        if self.size < 2:
            return self.arch_at(own)
        groups, ball = self._neighbourhood(own)
        if groups is None:
            return self.arch_at(ball[int(rng.integers(len(ball)))])
        groups = [g for g in groups if g]
        group = groups[int(rng.integers(len(groups)))]
        return self.arch_at(group[int(rng.integers(len(group)))])

    def indices_of_codes(self, codes: np.ndarray) -> np.ndarray:
        """Index of every row of choice codes, -1 where the table does not list that architecture."""
        rows = np.asarray(codes, dtype=np.int64).reshape(-1, len(self.choices)).tolist()
        lookup = self._row_of_codes
        return np.fromiter((lookup.get(tuple(r), -1) for r in rows), dtype=np.int64, count=len(rows))

    def encode(self, archs: list[str], kind: str = "onehot") -> np.ndarray:
        """`index`: the choice code of every position; `onehot`: one block of each position's size."""
        self._check_encoding(kind)
        codes = self.codes[np.fromiter((self.index_of(a) for a in archs), dtype=np.int64, count=len(archs))]
        if kind == "index":
            return np.array(codes, dtype=np.int64)
        cards = np.asarray(self.cardinalities, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(cards)[:-1]])
        out = np.zeros((codes.shape[0], int(cards.sum())), dtype=np.float64)
        out[np.repeat(np.arange(codes.shape[0]), cards.size), (codes + offsets).reshape(-1)] = 1.0
        return out

    def code_table(self) -> StructuredCodeTable:
        """Categorical codes for REINFORCE, TPE, BOHB and NSGA-II (used by CodeTable.of): the declared
        cardinalities, and a lookup over listed architectures only (the product may be huge)."""
        return StructuredCodeTable(self)


class StructuredCodeTable(CodeTable):
    """CodeTable over a structured space: `indices` gives -1 for a code vector the table does not list;
    `decode` refuses such a vector (REINFORCE and TPE then draw again, as on any space) unless the
    table lists under `PROJECT_BELOW` of its product, where it projects it onto the nearest listed one.

    Why project there: REINFORCE and TPE draw code vectors position by position and redraw those that
    `decode` refuses; on a table listing a tiny part of its product (300 cells of 7^10, the usual
    "sampled from a huge grid" case) nearly every draw misses, and they gave up with an error after
    1000 redraws. Why not everywhere: where a draw lands on a listed cell often enough (711 of 4,096)
    TPE's choice of the best *listed* candidate found better architectures than projecting its best
    candidate (mean regret 0.55 vs 0.78 over 20 seeds of the test table in tests/test_sparse_tables.py).
    A full grid lists every vector, so nothing changes there.
    """

    def __init__(self, space: StructuredSpace):
        self.space = space
        self.n_choices = np.asarray(space.cardinalities, dtype=np.int64)
        self.dim = int(self.n_choices.size)
        self.projects = space.size < PROJECT_BELOW * math.prod(space.cardinalities)

    def indices(self, codes: np.ndarray) -> np.ndarray:
        """Rows of code vectors, -1 where a vector is not a listed architecture."""
        return self.space.indices_of_codes(codes)  # type: ignore[attr-defined]

    def nearest(self, codes: np.ndarray) -> int:
        """The listed row nearest to one code vector: itself when listed, else the smallest Hamming
        distance; among equally near rows one picked by the vector's own codes (a fixed mix of them
        modulo the number of ties), so equal vectors project alike and no row order is favoured."""
        vector = np.asarray(codes, dtype=np.int64).reshape(-1)
        space: StructuredSpace = self.space  # type: ignore[assignment]
        hit = int(space.indices_of_codes(vector)[0])
        if hit >= 0:
            return hit
        distance = np.count_nonzero(space.codes != vector, axis=1)
        ties = np.flatnonzero(distance == distance.min())
        mix = int(vector @ (2 * np.arange(vector.size, dtype=np.int64) + 1)) + 7919 * int(vector.sum())
        return int(ties[mix % ties.size])

    def decode(self, codes: np.ndarray) -> str:
        """The listed architecture of one code vector; an unlisted one is refused (ArchitectureError), or
        on a table listing under `PROJECT_BELOW` of its product projected (`nearest`)."""
        if self.projects:
            return self.space.arch_at(self.nearest(codes))
        return super().decode(codes)
