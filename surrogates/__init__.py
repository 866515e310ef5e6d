"""Surrogate models of NAS benchmarks: fit, judge, save, load, and run them as benchmarks.

* `surrogates.data`: training data from a store, a table, NB301's real evaluations or run results;
* `surrogates.splits`: random and leave-one-strategy-out splits;
* `surrogates.models`: XGBoost and scikit-learn regressors, alone or as a bagging ensemble;
* `surrogates.fitted`: `fit_surrogate`, `FittedSurrogate.save`, `load_surrogate` (with provenance);
* `surrogates.quality`: quality reports (R², RMSE, ρ, τ, sparse τ, top-k) beside the noise ceiling;
* `surrogates.benchmark`: a surrogate as a benchmark (a materialised store, or `SurrogateStore`);
* `surrogates.nb301_yahpo`, `surrogates.nb301_official`: the NAS-Bench-301 surrogates;
* `surrogates.cli`: the `nas-harness surrogate fit|judge|list` commands.

docs/SURROGATES.md explains the choices and gives the measured quality.
"""
from __future__ import annotations

from surrogates.benchmark import SurrogateStore, materialise, open_benchmark
from surrogates.fitted import FittedSurrogate, fit_surrogate, load_surrogate, saved_surrogates
from surrogates.quality import judge

__all__ = ["FittedSurrogate", "SurrogateStore", "fit_surrogate", "judge", "load_surrogate", "materialise", "open_benchmark", "saved_surrogates"]
