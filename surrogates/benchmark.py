"""A surrogate as a benchmark the engine and the grids use like a table.

Any *predictor* (a fitted surrogate, YAHPO's NB301 ONNX model, the official NB301 ensemble) gives,
per metric and fidelity, a mean and a spread for architecture strings of its space. Two ways to
turn one into a benchmark:

* `materialise` (spaces that can be enumerated, e.g. nb201, nbgraph): predict every architecture
  once and write an ordinary store with `VIRTUAL_SEEDS` seeds. Everything that works on a table
  works on it unchanged (engine, grids, `nas-harness query`, reports), regret included.
* `SurrogateStore` (spaces too large to tabulate, e.g. DARTS with 10^18 cells): an object with the
  store's query interface that predicts on demand from `space.arch_at(row)`; rows are the space's
  index. It implements tabular.protocol.Store with `tabulated = False`: the engine reads seed means
  through `row_means` (a lookup that predicts on demand) and the regret's optimum through
  `reference_optimum`. The catalogue (harness.catalog.nb301, harness.catalog.surrogate) opens it.

Noise, identical in both: virtual seed label s of architecture r reads
mean(r) + spread(r) * d_s(r), where d(r) are the `VIRTUAL_SEEDS` centred counter-based draws of
surrogates.noise (so the seed mean is exactly the surrogate's mean). `seed_policy=mean` is the
deterministic mean; `fixed` reads one label; `sample` draws the label from the run's Generator
(never a global RNG). A predictor without spread (one model, YAHPO) has a single seed.

A surrogate of a huge space has no known optimum. Its regret is measured against a *reference
optimum*: the best predicted mean found by a fixed procedure (the best of `n_sample` uniformly
sampled architectures, generator seed 0, then steepest-ascent hill climbing over `neighbours` from
the best `n_starts` of them), computed once and cached under `<data>/surrogates/.reference/`. A
search can beat it, so regret on such a benchmark may be negative.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from harness.spaces import SearchSpace, get_space
from surrogates.noise import centred_draws
from tabular.atomic import atomic_write_bytes
from tabular.data_dir import data_dir
from tabular.errors import NasHarnessError, StoreError
from tabular.protocol import MEAN_SEED, SeedPolicy, check_seed_policy
from tabular.writer import MetricArray, StoreData

log = logging.getLogger(__name__)

VIRTUAL_SEEDS = 10
MATERIALISE_MAX = 5_000_000  # spaces up to this size are written out as a store
REFERENCE_VERSION = 1


class Predictor(Protocol):
    """What a benchmark needs from a surrogate model."""

    name: str
    space: str
    roles: dict[str, str]
    fidelity_name: str
    sha256: str

    @property
    def fidelities(self) -> np.ndarray: ...

    @property
    def noisy(self) -> bool: ...

    @property
    def metric_info(self) -> dict[str, dict[str, Any]]: ...

    @property
    def provenance(self) -> dict[str, Any]: ...

    def predict(self, metric: str, archs: list[str],
                fidelity: float | None = None) -> tuple[np.ndarray, np.ndarray]: ...


def _noisy_values(mean: np.ndarray, spread: np.ndarray, labels: np.ndarray, rows: np.ndarray,
                  n_seeds: int) -> np.ndarray:
    draws = centred_draws(n_seeds, rows)  # (n, n_seeds)
    return mean + spread * draws[np.arange(rows.size), labels]


def _clip_cost(metric: str, roles: dict[str, str], values: np.ndarray) -> np.ndarray:
    """A predicted training time below zero would run the simulated clock backwards."""
    return np.maximum(values, 0.0) if metric and metric == roles.get("cost_metric") else values


def materialise(predictor: Predictor, *, name: str, n_seeds: int | None = None, batch: int = 50_000) -> StoreData:
    """A store of every architecture of an enumerable space, at each fidelity and virtual seed."""
    space = get_space(predictor.space)
    if space.size > MATERIALISE_MAX:
        raise NasHarnessError(f"space {space.name!r} has {space.size:,} architectures, too many to tabulate; use "
                              "SurrogateStore")
    n_seeds = n_seeds or (VIRTUAL_SEEDS if predictor.noisy else 1)
    n = space.size
    archs = [space.arch_at(i) for i in range(n)]
    fidelities = np.asarray(predictor.fidelities, dtype=np.float64)
    rows = np.arange(n)
    draws = centred_draws(n_seeds, rows)
    metrics = {}
    for metric, info in predictor.metric_info.items():
        values = np.empty((n, n_seeds, fidelities.size))
        for fi, fid in enumerate(fidelities):
            mean, spread = np.empty(n), np.empty(n)
            for start in range(0, n, batch):
                chunk = archs[start:start + batch]
                mean[start:start + batch], spread[start:start + batch] = predictor.predict(metric, chunk, float(fid))
            values[:, :, fi] = _clip_cost(metric, predictor.roles, mean[:, None] + spread[:, None] * draws)
        metrics[metric] = MetricArray(values, info.get("unit", ""), bool(info.get("higher_is_better", True)),
                                      info.get("description", "surrogate prediction"))
    encoding = space.encode(archs, "index") if "index" in space.encodings else np.arange(n)[:, None]
    return StoreData(
        name=name,
        search_space=space.name,
        arch_strings=archs,
        arch_encoding=np.asarray(encoding, dtype=np.int64),
        fidelities=fidelities,
        seeds=np.arange(n_seeds),
        metrics=metrics,
        fidelity_name=predictor.fidelity_name,
        valid_metric=predictor.roles.get("valid_metric", ""),
        test_metric=predictor.roles.get("test_metric", ""),
        cost_metric=predictor.roles.get("cost_metric", ""),
        provenance=predictor.provenance | {"virtual_seeds": n_seeds, "noise": "mean + spread * centred counter-based "
                                                                              "N(0,1) per (seed, row)"},
    )


# -- reference optimum -------------------------------------------------------------------------------
def reference_optimum(predictor: Predictor, space: SearchSpace, metric: str, *, fidelity: float | None = None,
                      n_sample: int = 2_000, n_starts: int = 3, max_steps: int = 50,
                      cache: bool = True) -> dict[str, Any]:
    """The reference optimum of a surrogate over a space too large to enumerate (module docstring).

    Returns {"arch", "index", "value", settings...}; cached on disk by predictor hash and settings.
    """
    maximize = bool(predictor.metric_info[metric].get("higher_is_better", True))
    fid = float(predictor.fidelities[-1] if fidelity is None else fidelity)
    settings = {"version": REFERENCE_VERSION, "predictor_sha256": predictor.sha256, "metric": metric, "fidelity": fid,
                "n_sample": n_sample, "n_starts": n_starts, "max_steps": max_steps, "sample_seed": 0}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:32]
    path = data_dir() / "surrogates" / ".reference" / f"{key}.json"
    if cache and path.is_file():
        try:
            found = json.loads(path.read_text())
            if found.get("settings") == settings:
                return found
        except (OSError, ValueError):
            pass
    sign = 1.0 if maximize else -1.0

    def score(archs: list[str]) -> np.ndarray:
        return sign * predictor.predict(metric, archs, fid)[0]

    rng = np.random.default_rng(0)
    archs = [space.arch_at(int(i)) for i in space.sample_indices(rng, n_sample, replace=False)]
    values = np.concatenate([score(archs[i:i + 2000]) for i in range(0, len(archs), 2000)])
    order = np.argsort(-values, kind="stable")[:n_starts]
    best_arch, best_value = archs[int(order[0])], float(values[order[0]])
    evaluations = len(archs)
    for start in order.tolist():
        arch, value = archs[start], float(values[start])
        for _ in range(max_steps):
            neighbours = space.neighbours(arch)
            scores = score(neighbours)
            evaluations += len(neighbours)
            j = int(np.argmax(scores))
            if scores[j] <= value:
                break
            arch, value = neighbours[j], float(scores[j])
        if value > best_value:
            best_arch, best_value = arch, value
    result = {"arch": best_arch, "index": int(space.index_of(best_arch)), "value": sign * best_value,
              "evaluations": evaluations, "settings": settings}
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(result, indent=2).encode())
    log.info("reference optimum of %s (%s): %.4f after %d predictions",
             predictor.name, metric, result["value"], evaluations)
    return result


# -- on-demand store --------------------------------------------------------------------------------
class RowMeans:
    """`means[row]` -> the surrogate's mean prediction for that row (what the engine reads)."""

    def __init__(self, store: SurrogateStore, metric: str):
        self.store, self.metric = store, metric

    def __getitem__(self, row: int) -> float:
        """The mean prediction of one row (NaN when the metric is "", e.g. no test metric)."""
        if not self.metric:
            return float("nan")
        return float(self.store.query(self.metric, [int(row)], seed_policy="mean")[0])


class SurrogateStore:
    """tabular.protocol.Store answered by a predictor on demand (`tabulated` is False).

    Rows are indices of `space` (for DARTS the genotype code), so `space.index_of` keeps mapping
    architectures to rows as for a table.
    """

    tabulated: ClassVar[bool] = False  # rows are predicted on demand, never all stored

    def __init__(self, predictor: Predictor, *, name: str, space: SearchSpace | None = None, n_seeds: int | None = None,
                 reference: dict[str, Any] | None = None, path: Path | None = None):
        self.predictor = predictor
        self.space = space or get_space(predictor.space)
        if self.space.name != predictor.space:
            raise NasHarnessError(f"surrogate {predictor.name!r} was trained on space {predictor.space!r} and cannot "
                                  f"answer space {self.space.name!r}")
        self.name = name
        self.search_space = self.space.name
        self.n_archs = int(self.space.size)
        self.fidelity_name = predictor.fidelity_name
        self.valid_metric = predictor.roles.get("valid_metric", "")
        self.test_metric = predictor.roles.get("test_metric", "")
        self.cost_metric = predictor.roles.get("cost_metric", "")
        self.format_version = 1
        self.fidelities = np.asarray(predictor.fidelities, dtype=np.float64)
        self.seeds = np.arange(n_seeds or (VIRTUAL_SEEDS if predictor.noisy else 1))
        self.metric_names = sorted(predictor.metric_info)
        self.static_names: list[str] = []
        self.path = Path(path) if path is not None else Path(getattr(predictor, "path", "") or ".")
        self.sha256 = predictor.sha256
        self._reference_settings = reference or {}
        self._reference: dict[str, dict[str, Any]] = {}
        self._cache: dict[tuple[str, float], dict[int, tuple[float, float]]] = {}

    # -- metadata (as BenchmarkStore) -----------------------------------------------------------
    def close(self) -> None:
        """Drop the prediction cache (the predictor holds no file open)."""
        self._cache.clear()

    def __enter__(self) -> SurrogateStore:
        """Use as a context manager, like a BenchmarkStore."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()

    def __repr__(self) -> str:
        """Name, space and metrics, for logs."""
        return f"SurrogateStore({self.name!r}, space={self.search_space!r}, metrics={self.metric_names})"

    @property
    def provenance(self) -> dict[str, Any]:
        """The predictor's provenance, the number of virtual seeds and any reference optimum computed."""
        prov = dict(self.predictor.provenance) | {"virtual_seeds": int(self.seeds.size)}
        if self._reference:
            prov["reference_optimum"] = {m: {k: v for k, v in r.items() if k != "settings"} | r["settings"]
                                         for m, r in self._reference.items()}
        return prov

    def metric_attrs(self, name: str) -> dict[str, Any]:
        """The predictor's description of a metric (unit, higher_is_better, description)."""
        self._check_metric(name)
        return dict(self.predictor.metric_info[name])

    def higher_is_better(self, metric: str) -> bool:
        """Whether larger values of `metric` are better."""
        return bool(self.metric_attrs(metric).get("higher_is_better", True))

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary, as BenchmarkStore.describe, naming the surrogate."""
        return {"name": self.name, "search_space": self.search_space, "n_archs": self.n_archs,
                "metrics": self.metric_names, "static": [], "fidelities": self.fidelities.tolist(),
                "seeds": self.seeds.tolist(), "surrogate": self.predictor.name}

    def _check_metric(self, name: str) -> None:
        if name not in self.metric_names:
            raise StoreError(f"benchmark {self.name!r} has no metric {name!r}; available: "
                             f"{', '.join(self.metric_names)}")

    def static(self, name: str, archs: Any = None) -> np.ndarray:
        """A surrogate predicts no static metrics: always refuses, naming none available."""
        raise StoreError(f"benchmark {self.name!r} has no static metric {name!r}; available: none")

    def fidelity_index(self, fidelity: float | None) -> int:
        """Position of a fidelity (None: the highest); refuses one the predictor does not answer."""
        if fidelity is None:
            return len(self.fidelities) - 1
        hits = np.flatnonzero(self.fidelities == float(fidelity))
        if hits.size == 0:
            raise StoreError(f"benchmark {self.name!r} has no {self.fidelity_name} {fidelity}; available: "
                             f"{self.fidelities.tolist()}")
        return int(hits[0])

    def seed_index(self, seed: int) -> int:
        """Position of a virtual seed label (labels are 0..n-1); refuses any other."""
        try:
            s = int(seed)
        except (TypeError, ValueError):
            s = -1
        if not 0 <= s < self.seeds.size:
            raise StoreError(f"benchmark {self.name!r} has no seed {seed}; available seeds: {self.seeds.tolist()}")
        return s

    def _rows(self, archs: Any) -> np.ndarray:
        rows = np.asarray(archs)
        integers = rows.dtype == object and all(isinstance(r, (int, np.integer)) for r in rows.ravel())
        if rows.dtype.kind not in "iu" and not integers:
            raise StoreError(f"architecture indices must be integers, got dtype {rows.dtype}")
        rows = rows.astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_archs):
            raise StoreError(f"architecture index out of range [0, {self.n_archs}) in benchmark {self.name!r}")
        return rows

    # -- predictions ----------------------------------------------------------------------------
    def _predict(self, metric: str, rows: np.ndarray, fidelity: float) -> tuple[np.ndarray, np.ndarray]:
        self._check_metric(metric)
        cache = self._cache.setdefault((metric, fidelity), {})
        flat = rows.ravel().tolist()
        missing = sorted({r for r in flat if r not in cache})
        if missing:
            mean, spread = self.predictor.predict(metric, [self.space.arch_at(r) for r in missing], fidelity)
            if len(cache) > 1_000_000:
                cache.clear()
            predicted = zip(np.asarray(mean, dtype=np.float64).tolist(), np.asarray(spread, dtype=np.float64).tolist(),
                            strict=False)
            cache.update(zip(missing, predicted, strict=False))
        pairs = np.asarray([cache[r] for r in flat], dtype=np.float64).reshape(-1, 2)
        return pairs[:, 0].reshape(rows.shape), pairs[:, 1].reshape(rows.shape)

    def query(self, metric: str, archs: Any, *, fidelity: float | None = None, seed_policy: SeedPolicy = "mean",
              seed: int | None = None, rng: np.random.Generator | None = None,
              return_seed: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """As BenchmarkStore.query, with virtual seeds (module docstring)."""
        policy = check_seed_policy(seed_policy, seed, rng, available=self.seeds)
        rows = self._rows(archs)
        fid = float(self.fidelities[self.fidelity_index(fidelity)])
        mean, spread = self._predict(metric, rows, fid)
        if policy == "mean":
            values, used = mean, np.full(rows.shape, MEAN_SEED, dtype=np.int64)
        elif policy == "fixed":
            assert seed is not None  # check_seed_policy refused a fixed query without a seed
            label = self.seed_index(seed)
            used = np.full(rows.shape, label, dtype=np.int64)
            values = _noisy_values(mean.ravel(), spread.ravel(), used.ravel(), rows.ravel(), self.seeds.size)
            values = values.reshape(rows.shape)
        else:
            assert isinstance(rng, np.random.Generator)  # checked by check_seed_policy
            used = rng.integers(self.seeds.size, size=rows.shape).astype(np.int64)
            values = _noisy_values(mean.ravel(), spread.ravel(), used.ravel(), rows.ravel(), self.seeds.size)
            values = values.reshape(rows.shape)
        values = _clip_cost(metric, self.predictor.roles, np.asarray(values, dtype=np.float64))
        return (values, used) if return_seed else values

    def seed_mean(self, metric: str, fidelity: float | None = None) -> np.ndarray:
        """Seed means of every row: only for spaces small enough to predict in full."""
        if self.n_archs > MATERIALISE_MAX:
            raise NasHarnessError(
                f"benchmark {self.name!r} spans {self.n_archs:,} architectures and has no table of seed means; "
                "read rows through store.row_means(metric) instead (tabulated is False)"
            )
        return self.query(metric, np.arange(self.n_archs), fidelity=fidelity, seed_policy="mean")  # type: ignore[return-value]

    # -- what tabular.protocol.Store asks of a store that is not tabulated --------------------------
    def row_archs(self) -> None:
        """None: the rows are a space's index, not a stored list of architectures."""
        return None

    def row_means(self, metric: str) -> RowMeans:
        """Seed means by row, predicted on demand when a row is read."""
        if metric:
            self._check_metric(metric)
        return RowMeans(self, metric)

    def reference(self, metric: str | None = None) -> dict[str, Any]:
        """The reference optimum's record (arch, index, value, settings), computed once per metric."""
        metric = metric or self.valid_metric
        self._check_metric(metric)
        if metric not in self._reference:
            self._reference[metric] = reference_optimum(self.predictor, self.space, metric, **self._reference_settings)
        return self._reference[metric]

    def reference_optimum(self, metric: str | None = None) -> float:
        """The value regret is measured against (see the module docstring)."""
        return float(self.reference(metric)["value"])

    def best(self, metric: str | None = None, fidelity: float | None = None) -> tuple[int, float]:
        """Row and mean of the reference optimum (as BenchmarkStore.best)."""
        ref = self.reference(metric)
        return int(ref["index"]), float(ref["value"])

