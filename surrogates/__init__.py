"""Surrogate models of NAS benchmarks: fit, judge, save, load, and run them as benchmarks.

* `surrogates.data`: training data from a store, a table, NB301's real evaluations or run results;
* `surrogates.splits`: random and leave-one-strategy-out splits;
* `surrogates.models`: XGBoost and scikit-learn regressors, alone or as a bagging ensemble;
* `surrogates.fitted`: `fit_surrogate`, `FittedSurrogate.save`, `load_surrogate` (with provenance);
* `surrogates.quality`: quality reports (R², RMSE, ρ, τ, sparse τ, top-k) beside the noise ceiling;
* `surrogates.benchmark`: a surrogate as a benchmark (a materialised store, or `SurrogateStore`;
  the catalogue, harness.catalog.surrogate.open_benchmark, opens those by name);
* `surrogates.nb301_yahpo`, `surrogates.nb301_official`: the NAS-Bench-301 surrogates;
* (the `nas-harness surrogate fit|judge|list` commands are `harness.surrogate_cli`, above this package).

docs/SURROGATES.md explains the choices and gives the measured quality.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from surrogates.benchmark import SurrogateStore, materialise
    from surrogates.fitted import FittedSurrogate, fit_surrogate, load_surrogate, saved_surrogates
    from surrogates.quality import judge

# The names below are imported on first use (PEP 562), not with the package: `harness.surrogate_cli` and
# the benchmark catalogue import submodules of this package, and the submodules these names live
# in import scipy and scikit-learn, which `nas-harness --help` and table-only runs never need.
_LAZY = {
    "SurrogateStore": "surrogates.benchmark",
    "materialise": "surrogates.benchmark",
    "FittedSurrogate": "surrogates.fitted",
    "fit_surrogate": "surrogates.fitted",
    "load_surrogate": "surrogates.fitted",
    "saved_surrogates": "surrogates.fitted",
    "judge": "surrogates.quality",
}

__all__ = ["FittedSurrogate", "SurrogateStore", "fit_surrogate", "judge", "load_surrogate", "materialise",
           "saved_surrogates"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'surrogates' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
