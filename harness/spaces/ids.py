"""A space with no structure: the architecture ids of a user's table (`ids:<name>`).

Tables converted with `nas-harness convert table` keyed by plain `arch_id`s have no search space
that could relate two architectures, so this space only knows its rows: sampling is uniform,
mutation draws another id, and there are no neighbours (local search restarts at random), so
evolution and local search are no better than random search here. A table whose architectures are
vectors of choices should declare them (sidecar `space`, harness.spaces.structured) instead. It is
bound to its store's rows when the benchmark is loaded; ids are strings as the table wrote them
(`007` and `7` are two ids).
"""
from __future__ import annotations

import numpy as np

from harness.spaces.base import ArchitectureError, SearchSpace
from tabular.protocol import Store


class IdsSpace(SearchSpace):
    """The rows of a table keyed by plain ids: no structure, so no neighbours (module docstring)."""
    encodings = ("index",)

    def __init__(self, name: str, ids: list[str] | None = None):
        self.name = name
        self._ids = ids
        self._row = {a: i for i, a in enumerate(ids)} if ids is not None else None

    def bind_store(self, store: Store) -> IdsSpace:
        """The space of `store`'s rows: its architecture ids in row order."""
        return IdsSpace(self.name, self._table_of(store).arch_strings.tolist())

    def _bound(self) -> list[str]:
        if self._ids is None:
            raise ArchitectureError(f"space {self.name!r} has no ids until it is loaded with its benchmark "
                                    "(load_benchmark)")
        return self._ids

    @property
    def size(self) -> int:
        """Number of ids in the bound store."""
        return len(self._bound())

    def index_of(self, arch: str) -> int:
        """Row of an id exactly as the table wrote it."""
        self._bound()
        assert self._row is not None
        try:
            return self._row[arch]
        except (KeyError, TypeError):
            raise ArchitectureError(f"{arch!r} is not an id of space {self.name!r}") from None

    def arch_at(self, index: int) -> str:
        """The id at a row."""
        return self._bound()[self.check_index(index)]

    def canonical(self, arch: str) -> str:
        """The id itself: ids have no equivalent spellings."""
        return self.arch_at(self.index_of(arch))

    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        """A different id drawn uniformly (there is no edit to make); the id itself when it is alone."""
        index = self.index_of(arch)
        if self.size < 2:
            return arch
        other = int(rng.integers(self.size - 1))
        return self.arch_at(other + (other >= index))

    def neighbours(self, arch: str) -> list[str]:
        """No neighbours (an empty list): ids are unrelated to each other."""
        self.index_of(arch)
        return []

    def encode(self, archs: list[str], kind: str = "index") -> np.ndarray:
        """The row index as the only feature (`index` encoding)."""
        self._check_encoding(kind)
        return np.asarray([[self.index_of(a)] for a in archs], dtype=np.int64).reshape(-1, 1)
