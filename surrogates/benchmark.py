"""A surrogate as a benchmark the engine and the grids use like a table.

Any *predictor* (a fitted surrogate, YAHPO's NB301 ONNX model, the official NB301 ensemble) gives,
per metric and fidelity, a mean and a spread for architecture strings of its space. Two ways to
turn one into a benchmark:

* `materialise` (spaces that can be enumerated, e.g. nb201, nbgraph): predict every architecture
  once and write an ordinary store with `VIRTUAL_SEEDS` seeds. Everything that works on a table
  works on it unchanged (engine, grids, `nas-harness query`, reports), regret included.
* `SurrogateStore` (spaces too large to tabulate, e.g. DARTS with 10^18 cells): an object with the
  store's query interface that predicts on demand from `space.arch_at(row)`; rows are the space's
  index. The engine reads seed means through `row_means` and the regret's optimum through
  `reference_optimum` (the engine hook of /work/notes/engine_patch_surrogates.diff).

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
from typing import Any, Protocol

import numpy as np

from harness.data_dir import data_dir
from harness.spaces import SearchSpace, get_space
from surrogates.noise import centred_draws
from tabular.atomic import atomic_write_bytes
from tabular.errors import NasHarnessError, StoreError
from tabular.store import MEAN_SEED, SEED_POLICIES
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

    def predict(self, metric: str, archs: list[str], fidelity: float | None = None) -> tuple[np.ndarray, np.ndarray]: ...


def _noisy_values(mean: np.ndarray, spread: np.ndarray, labels: np.ndarray, rows: np.ndarray, n_seeds: int) -> np.ndarray:
    draws = centred_draws(n_seeds, rows)  # (n, n_seeds)
    return mean + spread * draws[np.arange(rows.size), labels]


def _clip_cost(metric: str, roles: dict[str, str], values: np.ndarray) -> np.ndarray:
    """A predicted training time below zero would run the simulated clock backwards."""
    return np.maximum(values, 0.0) if metric and metric == roles.get("cost_metric") else values


def materialise(predictor: Predictor, *, name: str, n_seeds: int | None = None, batch: int = 50_000) -> StoreData:
    """A store of every architecture of an enumerable space, at each fidelity and virtual seed."""
    space = get_space(predictor.space)
    if space.size > MATERIALISE_MAX:
        raise NasHarnessError(f"space {space.name!r} has {space.size:,} architectures, too many to tabulate; use SurrogateStore")
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
                mean[start:start + batch], spread[start:start + batch] = predictor.predict(metric, archs[start:start + batch], float(fid))
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
        provenance=predictor.provenance | {"virtual_seeds": n_seeds, "noise": "mean + spread * centred counter-based N(0,1) per (seed, row)"},
    )


# -- reference optimum -------------------------------------------------------------------------------
def reference_optimum(predictor: Predictor, space: SearchSpace, metric: str, *, fidelity: float | None = None,
                      n_sample: int = 2_000, n_starts: int = 3, max_steps: int = 50, cache: bool = True) -> dict[str, Any]:
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
    log.info("reference optimum of %s (%s): %.4f after %d predictions", predictor.name, metric, result["value"], evaluations)
    return result


# -- on-demand store --------------------------------------------------------------------------------
class RowMeans:
    """`means[row]` -> the surrogate's mean prediction for that row (what the engine reads)."""

    def __init__(self, store: SurrogateStore, metric: str):
        self.store, self.metric = store, metric

    def __getitem__(self, row: int) -> float:
        if not self.metric:
            return float("nan")
        return float(self.store.query(self.metric, [int(row)], seed_policy="mean")[0])


class SurrogateStore:
    """The query interface of tabular.store.BenchmarkStore, answered by a predictor on demand.

    Rows are indices of `space` (for DARTS the genotype code), so `space.index_of` keeps mapping
    architectures to rows as for a table.
    """

    def __init__(self, predictor: Predictor, *, name: str, space: SearchSpace | None = None, n_seeds: int | None = None,
                 reference: dict[str, Any] | None = None, path: Path | None = None):
        self.predictor = predictor
        self.space = space or get_space(predictor.space)
        if self.space.name != predictor.space:
            raise NasHarnessError(f"surrogate {predictor.name!r} was trained on space {predictor.space!r} and cannot answer space {self.space.name!r}")
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
        self._cache.clear()

    def __enter__(self) -> SurrogateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SurrogateStore({self.name!r}, space={self.search_space!r}, metrics={self.metric_names})"

    @property
    def provenance(self) -> dict[str, Any]:
        prov = dict(self.predictor.provenance) | {"virtual_seeds": int(self.seeds.size)}
        if self._reference:
            prov["reference_optimum"] = {m: {k: v for k, v in r.items() if k != "settings"} | r["settings"] for m, r in self._reference.items()}
        return prov

    def metric_attrs(self, name: str) -> dict[str, Any]:
        self._check_metric(name)
        return dict(self.predictor.metric_info[name])

    def higher_is_better(self, metric: str) -> bool:
        return bool(self.metric_attrs(metric).get("higher_is_better", True))

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "search_space": self.search_space, "n_archs": self.n_archs, "metrics": self.metric_names,
                "static": [], "fidelities": self.fidelities.tolist(), "seeds": self.seeds.tolist(), "surrogate": self.predictor.name}

    def _check_metric(self, name: str) -> None:
        if name not in self.metric_names:
            raise StoreError(f"benchmark {self.name!r} has no metric {name!r}; available: {', '.join(self.metric_names)}")

    def static(self, name: str, archs: Any = None) -> np.ndarray:
        raise StoreError(f"benchmark {self.name!r} has no static metric {name!r}; available: none")

    def fidelity_index(self, fidelity: float | None) -> int:
        if fidelity is None:
            return len(self.fidelities) - 1
        hits = np.flatnonzero(self.fidelities == float(fidelity))
        if hits.size == 0:
            raise StoreError(f"benchmark {self.name!r} has no {self.fidelity_name} {fidelity}; available: {self.fidelities.tolist()}")
        return int(hits[0])

    def seed_index(self, seed: int) -> int:
        try:
            s = int(seed)
        except (TypeError, ValueError):
            s = -1
        if not 0 <= s < self.seeds.size:
            raise StoreError(f"benchmark {self.name!r} has no seed {seed}; available seeds: {self.seeds.tolist()}")
        return s

    def _rows(self, archs: Any) -> np.ndarray:
        rows = np.asarray(archs)
        if rows.dtype.kind not in "iu" and not (rows.dtype == object and all(isinstance(r, (int, np.integer)) for r in rows.ravel())):
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
            cache.update(zip(missing, zip(np.asarray(mean, dtype=np.float64).tolist(), np.asarray(spread, dtype=np.float64).tolist())))
        pairs = np.asarray([cache[r] for r in flat], dtype=np.float64).reshape(-1, 2)
        return pairs[:, 0].reshape(rows.shape), pairs[:, 1].reshape(rows.shape)

    def query(self, metric: str, archs: Any, *, fidelity: float | None = None, seed_policy: str = "mean",
              seed: int | None = None, rng: np.random.Generator | None = None,
              return_seed: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """As BenchmarkStore.query, with virtual seeds (module docstring)."""
        rows = self._rows(archs)
        fid = float(self.fidelities[self.fidelity_index(fidelity)])
        mean, spread = self._predict(metric, rows, fid)
        if seed_policy == "mean":
            values, used = mean, np.full(rows.shape, MEAN_SEED, dtype=np.int64)
        elif seed_policy == "fixed":
            if seed is None:
                raise StoreError("seed_policy='fixed' needs a seed label; available: " + str(self.seeds.tolist()))
            label = self.seed_index(seed)
            used = np.full(rows.shape, label, dtype=np.int64)
            values = _noisy_values(mean.ravel(), spread.ravel(), used.ravel(), rows.ravel(), self.seeds.size).reshape(rows.shape)
        elif seed_policy == "sample":
            if not isinstance(rng, np.random.Generator):
                raise StoreError("seed_policy='sample' needs rng=numpy.random.Generator so that queries are reproducible")
            used = rng.integers(self.seeds.size, size=rows.shape).astype(np.int64)
            values = _noisy_values(mean.ravel(), spread.ravel(), used.ravel(), rows.ravel(), self.seeds.size).reshape(rows.shape)
        else:
            raise StoreError(f"unknown seed policy {seed_policy!r}; choose one of {', '.join(SEED_POLICIES)}")
        values = _clip_cost(metric, self.predictor.roles, np.asarray(values, dtype=np.float64))
        return (values, used) if return_seed else values

    def seed_mean(self, metric: str, fidelity: float | None = None) -> np.ndarray:
        """Seed means of every row: only for spaces small enough to predict in full."""
        if self.n_archs > MATERIALISE_MAX:
            raise NasHarnessError(
                f"benchmark {self.name!r} spans {self.n_archs:,} architectures and has no table of seed means; "
                "running it needs the engine's row-less benchmark support (store.row_means / store.reference_optimum)"
            )
        return self.query(metric, np.arange(self.n_archs), fidelity=fidelity, seed_policy="mean")  # type: ignore[return-value]

    # -- engine hooks for row-less benchmarks ---------------------------------------------------
    def row_means(self, metric: str) -> RowMeans:
        """Seed means by row, computed on demand (engine hook)."""
        if metric:
            self._check_metric(metric)
        return RowMeans(self, metric)

    def reference(self, metric: str | None = None) -> dict[str, Any]:
        metric = metric or self.valid_metric
        self._check_metric(metric)
        if metric not in self._reference:
            self._reference[metric] = reference_optimum(self.predictor, self.space, metric, **self._reference_settings)
        return self._reference[metric]

    def reference_optimum(self, metric: str | None = None) -> float:
        """The value regret is measured against (engine hook; see the module docstring)."""
        return float(self.reference(metric)["value"])

    def best(self, metric: str | None = None, fidelity: float | None = None) -> tuple[int, float]:
        """Row and mean of the reference optimum (as BenchmarkStore.best)."""
        ref = self.reference(metric)
        return int(ref["index"]), float(ref["value"])


# -- catalogue helpers --------------------------------------------------------------------------------
def rowless_spec(name: str, space: str, source: str, check_source: Any, open_benchmark: Any) -> Any:
    """A BenchmarkSpec for a benchmark without a store (a surrogate over a huge space).

    With the engine patch (BenchmarkSpec.open) `load_benchmark` opens it; without, loading it says
    in one line what is missing instead of trying to write a store of 10^18 rows.
    """
    from harness.benchmarks import BenchmarkSpec

    def build() -> StoreData:
        raise NasHarnessError(
            f"benchmark {name!r} is a surrogate over space {space!r} and has no store to build; this nas-harness "
            "lacks row-less benchmark support (BenchmarkSpec.open, docs/SURROGATES.md); use surrogates.open_benchmark"
        )

    extra = {"open": open_benchmark} if "open" in getattr(BenchmarkSpec, "__dataclass_fields__", {}) else {}
    return BenchmarkSpec(name=name, space=space, source=source, build=build, check_source=check_source, **extra)


def open_benchmark(name: str) -> Any:
    """A surrogate benchmark by catalogue name, without going through a store: nb301/yahpo,
    nb301/official and surrogate/<name> (works with or without the engine patch)."""
    if name.startswith("nb301/"):
        from harness.catalog import nb301

        return nb301.open_benchmark(name)
    if name.startswith("surrogate/"):
        from harness.catalog import surrogate

        return surrogate.open_benchmark(name)
    raise NasHarnessError(f"{name!r} is not a surrogate benchmark (nb301/... or surrogate/<name>)")
