"""The store interface: what the engine, the catalogue and the reports may ask of any benchmark store.

Two kinds of store answer it: `tabular.store.BenchmarkStore` (an HDF5 table, every row stored) and
`surrogates.benchmark.SurrogateStore` (a surrogate model answering rows of a space too large to
tabulate, on demand). Callers type against `Store` and read what a store can do from its declared
capability `tabulated`, never by probing for attributes: a store that forgot a method is then a
type error, not a silently different code path.

The seed policy (which training seed's measurement a query reads) is checked in one place,
`check_seed_policy`, so that every store and the engine refuse the same requests with the same words.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import numpy as np

from tabular.errors import StoreError

SeedPolicy = Literal["fixed", "mean", "sample"]
SEED_POLICIES: tuple[SeedPolicy, ...] = ("fixed", "mean", "sample")
MEAN_SEED = -1  # seed label reported for values that are a mean over seeds


def check_seed_policy(policy: object, seed: object = None, rng: object = None, *,
                      available: Sequence[int] | np.ndarray | None = None) -> SeedPolicy:
    """Refuse, in one line, a seed-policy request a store cannot answer; return the policy.

    With `available` None only the policy's name is checked (a run's configuration, before any
    query). With `available` (the store's seed labels) the arguments a query under the policy needs
    are checked too: `fixed` needs a seed label (the error lists the labels), `sample` a
    numpy Generator, so that sampled queries are reproducible and never touch a global RNG.
    """
    if not isinstance(policy, str) or policy not in SEED_POLICIES:
        raise StoreError(f"unknown seed policy {policy!r}; choose one of {', '.join(SEED_POLICIES)}")
    if available is not None:
        if policy == "fixed" and seed is None:
            labels = np.asarray(available).tolist()
            raise StoreError(f"seed_policy='fixed' needs a seed label; available: {labels}")
        if policy == "sample" and not isinstance(rng, np.random.Generator):
            raise StoreError("seed_policy='sample' needs rng=numpy.random.Generator so that queries are reproducible")
    return cast(SeedPolicy, policy)


class RowValues(Protocol):
    """Values indexed by row: a numpy array for a table, a lookup that predicts on demand otherwise."""

    def __getitem__(self, row: Any) -> Any:
        """The value of one row (a float, or NaN where nothing was measured)."""
        ...


class Store(Protocol):
    """A benchmark store, read-only. Rows are the search space's indices (`SearchSpace.index_of`).

    `tabulated` is the one declared capability: True when every row is stored (seed means of all rows
    are cheap, an exact random-search reference can be computed, `row_archs()` lists the rows);
    False when rows are answered on demand (a surrogate over the DARTS space, 10^18 rows): then
    `row_means` is a lazy lookup and `reference_optimum` gives the value regret is measured against.
    """

    @property
    def name(self) -> str:
        """The benchmark's name (e.g. nb201/cifar10)."""
        ...

    @property
    def search_space(self) -> str:
        """Name of the search space whose indices are the rows."""
        ...

    @property
    def n_archs(self) -> int:
        """Number of rows (architectures)."""
        ...

    @property
    def fidelity_name(self) -> str:
        """What the fidelity counts (e.g. epochs)."""
        ...

    @property
    def valid_metric(self) -> str:
        """The metric searches select on ("" when none)."""
        ...

    @property
    def test_metric(self) -> str:
        """The held-out metric reported beside it ("" when none)."""
        ...

    @property
    def cost_metric(self) -> str:
        """The per-evaluation training time the simulated clock charges ("" when none)."""
        ...

    @property
    def format_version(self) -> int:
        """The store format version (docs/FORMAT.md)."""
        ...

    @property
    def fidelities(self) -> np.ndarray:
        """The fidelities, increasing; the last is the default."""
        ...

    @property
    def seeds(self) -> np.ndarray:
        """The seed labels (virtual 0..n-1 for a surrogate)."""
        ...

    @property
    def metric_names(self) -> list[str]:
        """Per-evaluation metrics, sorted."""
        ...

    @property
    def static_names(self) -> list[str]:
        """Static per-architecture metrics (parameters, latency), sorted."""
        ...

    @property
    def path(self) -> Path:
        """The file the values come from (a surrogate's model folder or file)."""
        ...

    @property
    def sha256(self) -> str:
        """Hash of that file: what run manifests record as the data version."""
        ...

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the data came from (a JSON object)."""
        ...

    @property
    def tabulated(self) -> bool:
        """True when every row is stored (see the class docstring)."""
        ...

    def query(self, metric: str, archs: Any, *, fidelity: float | None = None, seed_policy: SeedPolicy = "mean",
              seed: int | None = None, rng: np.random.Generator | None = None,
              return_seed: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Values of `metric` for rows `archs` at one fidelity under a seed policy (check_seed_policy)."""
        ...

    def seed_mean(self, metric: str, fidelity: float | None = None) -> np.ndarray:
        """Seed means of every row at one fidelity; may refuse when the store is not tabulated."""
        ...

    def row_means(self, metric: str) -> RowValues:
        """Seed means by row at the highest fidelity (all NaN for metric ""), as cheap as the store allows."""
        ...

    def reference_optimum(self, metric: str) -> float | None:
        """The value regret is measured against, or None: the best of `row_means(metric)`."""
        ...

    def best(self, metric: str | None = None, fidelity: float | None = None) -> tuple[int, float]:
        """Row and value of the best architecture by seed mean (or the reference optimum)."""
        ...

    def row_archs(self) -> np.ndarray | None:
        """Architecture strings in row order where the store holds them (a table); None otherwise."""
        ...

    def static(self, name: str, archs: Any = None) -> np.ndarray:
        """A static per-architecture metric (parameters, latency), optionally for some rows."""
        ...

    def metric_attrs(self, name: str) -> dict[str, Any]:
        """A metric's attributes (unit, higher_is_better, description)."""
        ...

    def higher_is_better(self, metric: str) -> bool:
        """Whether larger values of `metric` are better."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: name, space, size, metrics, fidelities, seeds."""
        ...

    def fidelity_index(self, fidelity: float | None) -> int:
        """Position of a fidelity (None: the highest); refuses one the store does not have."""
        ...

    def seed_index(self, seed: int) -> int:
        """Position of a seed label; refuses one the store does not have, naming those it has."""
        ...

    def close(self) -> None:
        """Release the file or model; the store is unusable afterwards."""
        ...
