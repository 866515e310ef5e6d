"""A space seen as fixed-length categorical codes (its `index` encoding), both ways.

REINFORCE's policy, TPE's and BOHB's densities and NSGA-II's crossover work on independent
categorical positions; this table gives them the cardinalities and turns code vectors back into
architectures. It is built once from every architecture of the space, so decoding is a lookup and
a code vector that names no architecture (NAS-Bench-Graph's all-skip cell, say) is recognised as
such instead of being guessed.
"""
from __future__ import annotations

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace
from tabular.errors import NasHarnessError


class CodeTable:
    """Architectures <-> vectors of categorical codes for one space (use `CodeTable.of(space)`)."""

    @classmethod
    def of(cls, space: SearchSpace, user: str) -> CodeTable:
        """The space's table, built once per space object: a grid worker reuses its space across
        thousands of runs, and building the table encodes every architecture of the space."""
        table = space.__dict__.get("_code_table")
        if table is None:
            own = space.code_table()  # a space with its own (e.g. NB101), else the generic table
            table = own if own is not None else cls(space, user)
            space.__dict__["_code_table"] = table
        return table

    def __init__(self, space: SearchSpace, user: str):
        if "index" not in space.encodings:
            raise NasHarnessError(
                f"strategy {user!r} needs a space with a categorical 'index' encoding; "
                f"space {space.name!r} offers {', '.join(space.encodings)}"
            )
        self.space = space
        codes = np.asarray(space.encode([space.arch_at(i) for i in range(space.size)], "index"), dtype=np.int64)
        if codes.ndim != 2 or codes.size == 0 or codes.min() < 0:
            raise NasHarnessError(f"space {space.name!r} gave an index encoding {codes.shape} that is not "
                                  "non-negative codes")
        self.n_choices = codes.max(axis=0) + 1
        self.dim = codes.shape[1]
        self._radix = np.cumprod(np.concatenate([[1], self.n_choices[:0:-1]]))[::-1].astype(np.int64)
        self._lookup = np.full(int(np.prod(self.n_choices)), -1, dtype=np.int64)
        self._lookup[codes @ self._radix] = np.arange(space.size)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Number of choices at each position."""
        return tuple(int(c) for c in self.n_choices)

    def mask(self) -> np.ndarray:
        """(positions, max cardinality) True where a category exists (positions may differ in size)."""
        return np.arange(int(self.n_choices.max()))[None, :] < self.n_choices[:, None]

    def encode(self, archs: list[str]) -> np.ndarray:
        """The (len(archs), dim) categorical codes of architectures (the space's `index` encoding)."""
        return np.asarray(self.space.encode(list(archs), "index"), dtype=np.int64).reshape(len(archs), self.dim)

    def indices(self, codes: np.ndarray) -> np.ndarray:
        """Space index of each code row, -1 where the row is not an architecture of the space."""
        codes = np.asarray(codes, dtype=np.int64).reshape(-1, self.dim)
        inside = np.all((codes >= 0) & (codes < self.n_choices), axis=1)
        out = np.full(codes.shape[0], -1, dtype=np.int64)
        out[inside] = self._lookup[codes[inside] @ self._radix]
        return out

    def fast_lookup(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(lookup, radix) such that a code row within the choices is architecture `lookup[row @ radix]`
        (-1: none), for strategies that look rows up in a hot loop without `indices`' numpy calls (BOHB,
        REINFORCE); None for a space's own table, whose `indices` or `decode` do more (a structured
        space projects onto listed architectures, NB101 folds isomorphic cells)."""
        return (self._lookup, self._radix) if type(self) is CodeTable else None

    def decode(self, codes: np.ndarray) -> str:
        """The architecture of one code vector; ArchitectureError if it names none."""
        index = int(self.indices(codes)[0])
        if index < 0:
            raise ArchitectureError(f"codes {np.asarray(codes).tolist()} name no architecture of space "
                                    f"{self.space.name!r}")
        return self.space.arch_at(index)
