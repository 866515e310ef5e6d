"""What every search space offers to strategies, the engine and the benchmarks.

A strategy sees a space only through this interface: it can sample, mutate, enumerate neighbours and
encode architectures, all with an explicit numpy Generator, and never sees a benchmark table.
Architectures travel as strings; `index_of`/`arch_at` map them to the rows of the space's stores.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from tabular.errors import NasHarnessError


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

    def check_index(self, index: int) -> int:
        if not 0 <= int(index) < self.size:
            raise ArchitectureError(f"index {index} is out of range for space {self.name!r} (0..{self.size - 1})")
        return int(index)

    def _check_encoding(self, kind: str) -> None:
        if kind not in self.encodings:
            raise ArchitectureError(f"space {self.name!r} has no encoding {kind!r}; choose one of {', '.join(self.encodings)}")
