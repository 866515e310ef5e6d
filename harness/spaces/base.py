"""What every search space offers to strategies, the engine and the benchmarks.

A strategy sees a space only through this interface: it can sample, mutate, enumerate neighbours and
encode architectures, all with an explicit numpy Generator, and never sees a benchmark table.
Architectures travel as strings; `index_of`/`arch_at` map them to the rows of the space's stores.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from tabular.errors import NasHarnessError

if TYPE_CHECKING:
    from harness.spaces.codes import CodeTable
    from tabular.protocol import Store
    from tabular.store import BenchmarkStore


class ArchitectureError(NasHarnessError):
    """An architecture string or structure that is not valid in its search space."""


class SearchSpace(ABC):
    """A finite, indexable search space. Indices are the row order of the space's tabular stores."""

    name: str
    encodings: tuple[str, ...] = ("onehot",)

    @property
    @abstractmethod
    def size(self) -> int:
        """Number of distinct architecture strings (not isomorphism classes)."""

    @abstractmethod
    def index_of(self, arch: str) -> int:
        """Index of an architecture string; raises ArchitectureError for a malformed string."""

    @abstractmethod
    def arch_at(self, index: int) -> str:
        """Architecture string at an index in [0, size)."""

    @abstractmethod
    def canonical(self, arch: str) -> str:
        """A representative string of the architecture's isomorphism class (equal iff isomorphic)."""

    def canonical_at(self, index: int) -> str:
        """`canonical(arch_at(index))`: for every string `a` of the space, `canonical_at(index_of(a))`
        equals `canonical(a)` (isomorphic spellings share their row's class). Spaces with a cheaper way
        override it; the engine's batched loop names each evaluated row this way."""
        return self.canonical(self.arch_at(index))

    def indices_of(self, archs: Iterable[str]) -> np.ndarray:
        """`index_of` of each architecture, as int64 (spaces may answer a batch faster; the same errors)."""
        return np.fromiter((self.index_of(arch) for arch in archs), dtype=np.int64)

    @abstractmethod
    def mutate(self, arch: str, rng: np.random.Generator) -> str:
        """One random single-edit change of `arch` (the space's mutation rule)."""

    @abstractmethod
    def neighbours(self, arch: str) -> list[str]:
        """Every architecture one edit away from `arch`, in a fixed order."""

    @abstractmethod
    def encode(self, archs: list[str], kind: str = "onehot") -> np.ndarray:
        """Feature matrix (len(archs), d) for model-based strategies; `kind` is one of `encodings`."""

    def sample(self, rng: np.random.Generator) -> str:
        """One architecture drawn uniformly over strings."""
        return self.arch_at(int(rng.integers(self.size)))

    def sample_indices(self, rng: np.random.Generator, n: int, replace: bool = True) -> np.ndarray:
        """`n` indices drawn uniformly, with or without replacement."""
        return rng.choice(self.size, size=n, replace=replace)

    def bind_store(self, store: Store) -> SearchSpace:
        """The space whose index is the rows of `store`, called by `load_benchmark` for every store.

        Spaces defined by formula (nb201, darts) index every store the same way and return
        themselves. Spaces known only through their table (NB101's 423,624 cells, a user's ids or
        declared choices) override this to take their rows from the store.
        """
        return self

    def code_table(self) -> CodeTable | None:
        """The space's own categorical-code table, or None for the generic one (harness.spaces.codes).

        Spaces whose codes cannot be a dense lookup (NB101's 2^21*3^5 spellings folded by isomorphism,
        a declared space listing only some products) override this; `CodeTable.of` asks every space.
        """
        return None

    def _table_of(self, store: Store) -> BenchmarkStore:
        """`store` as a stored table, for spaces whose rows are a table's rows; refuses any other."""
        from tabular.store import BenchmarkStore

        if not isinstance(store, BenchmarkStore):
            raise ArchitectureError(f"space {self.name!r} takes its architectures from a stored table, and benchmark "
                                    f"{store.name!r} is answered on demand; convert a table for it instead")
        return store

    def check_index(self, index: int) -> int:
        """`index` as an int, or ArchitectureError when it is outside [0, size)."""
        if not 0 <= int(index) < self.size:
            raise ArchitectureError(f"index {index} is out of range for space {self.name!r} (0..{self.size - 1})")
        return int(index)

    def _check_encoding(self, kind: str) -> None:
        if kind not in self.encodings:
            raise ArchitectureError(f"space {self.name!r} has no encoding {kind!r}; choose one of "
                                    f"{', '.join(self.encodings)}")
