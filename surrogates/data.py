"""Training data for surrogates: architectures of one space with measured metrics.

Sources: a benchmark store (every architecture, per-seed values, at one fidelity), a long-format
CSV/Parquet table (`arch`, optional `seed`, optional group column such as `strategy`, metric
columns), NAS-Bench-Suite-Zero's `zc_proxies_nb301.json` (725 DARTS architectures trained for
NAS-Bench-301), or the evaluations of searches (the architectures each strategy found, grouped by
strategy, for NB301's leave-one-optimizer-out split; `from_evaluations` takes them as plain arrays,
read from run results by the command line, because this package sits below the results reader).
Whatever the source, the data records where it came from (path, sha256), which a fitted surrogate
keeps as its provenance.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.spaces import SearchSpace, get_space
from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file
from tabular.store import BenchmarkStore

log = logging.getLogger(__name__)

_LOWER_IS_BETTER = ("loss", "err", "time", "latency", "cost", "energy", "runtime")
# Spaces whose architectures are a store's rows (harness.spaces.ids, harness.spaces.structured).
_STORE_BOUND = ("ids:", "structured:")


@dataclass
class MetricData:
    """One metric: seed-mean target per architecture and the per-seed values behind it."""

    mean: np.ndarray  # (n,), NaN where unmeasured
    per_seed: np.ndarray  # (n, seeds), NaN where a seed was not measured
    unit: str = ""
    higher_is_better: bool = True


@dataclass
class TrainingData:
    """Architectures of one space with their metrics; `roles` names the valid/test/cost metrics."""

    space: str
    archs: list[str]
    metrics: dict[str, MetricData]
    roles: dict[str, str]
    source: dict[str, Any]
    fidelity: float | None = None
    fidelity_name: str = "epochs"
    groups: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The space object when it must come bound to a store (a converted table's structured:/ids: space,
    # whose architectures are the table's rows); None: `get_space(space)` knows its architectures.
    space_object: SearchSpace | None = field(default=None, repr=False, compare=False)

    def search_space(self) -> SearchSpace:
        """The space that encodes `archs`: the bound one when given, else the named one."""
        return self.space_object if self.space_object is not None else get_space(self.space)

    @property
    def n(self) -> int:
        """Number of architectures (training points)."""
        return len(self.archs)

    def metric(self, name: str) -> MetricData:
        """One metric's data; a name the data lacks is a one-line error listing those it has."""
        if name not in self.metrics:
            raise NasHarnessError(
                f"training data {self.source.get('name', '')!r} has no metric {name!r}; "
                f"available: {', '.join(self.metrics)}"
            )
        return self.metrics[name]

    def subset(self, rows: np.ndarray) -> TrainingData:
        """The same data restricted to `rows` (in that order): how splits make training and test sets."""
        rows = np.asarray(rows, dtype=np.int64)
        return TrainingData(
            space=self.space,
            archs=[self.archs[i] for i in rows.tolist()],
            metrics={
                k: MetricData(m.mean[rows], m.per_seed[rows], m.unit, m.higher_is_better)
                for k, m in self.metrics.items()
            },
            roles=dict(self.roles),
            source=dict(self.source),
            fidelity=self.fidelity,
            fidelity_name=self.fidelity_name,
            groups=None if self.groups is None else self.groups[rows],
            space_object=self.space_object,
        )


def _seed_mean(per_seed: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return np.nanmean(per_seed, axis=1)


def from_store(
    store: BenchmarkStore,
    *,
    metrics: list[str] | None = None,
    fidelity: float | None = None,
    space: SearchSpace | None = None,
) -> TrainingData:
    """Every architecture of a store at one fidelity (default: the highest), per seed.

    Default metrics: the store's validation, test and cost metrics (those it has). `space`: the
    store's space as its benchmark loaded it (bound to the store); needed for a converted table's
    structured or ids space, whose architectures exist only with their store. Without it, such a
    space is bound here to `store` (the same thing `load_benchmark` does).
    """
    roles = {"valid_metric": store.valid_metric, "test_metric": store.test_metric, "cost_metric": store.cost_metric}
    names = metrics or [m for m in roles.values() if m]
    if not names:
        raise NasHarnessError(f"store {store.name!r} names no validation metric; pass the metrics to fit")
    fi = store.fidelity_index(fidelity)
    data: dict[str, MetricData] = {}
    for name in names:
        per_seed = np.asarray(store.metric_array(name)[:, :, fi], dtype=np.float64)
        data[name] = MetricData(
            _seed_mean(per_seed), per_seed, str(store.metric_attrs(name).get("unit", "")), store.higher_is_better(name)
        )
    if roles["valid_metric"] not in data:
        roles["valid_metric"] = names[0]
    roles = {k: (v if v in data else "") for k, v in roles.items()}
    if space is None and store.search_space.startswith(_STORE_BOUND):
        space = get_space(store.search_space).bind_store(store)
    return TrainingData(
        space=store.search_space,
        archs=store.arch_strings.tolist(),
        metrics=data,
        roles=roles,
        source={"kind": "store", "name": store.name, "path": str(store.path), "sha256": store.sha256},
        fidelity=float(store.fidelities[fi]),
        fidelity_name=store.fidelity_name,
        space_object=space,
    )


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if not path.is_file():
        raise NasHarnessError(f"training table {path} does not exist")
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if ".csv" in name:
        return pd.read_csv(path)
    raise NasHarnessError(f"{path}: a training table must be .csv or .parquet (or zc_proxies_*.json)")


def from_table(
    path: str | Path,
    *,
    space: str,
    valid_metric: str | None = None,
    metrics: list[str] | None = None,
    group_column: str | None = None,
    fidelity: float | None = None,
    units: dict[str, str] | None = None,
) -> TrainingData:
    """A long-format table: one row per (architecture[, seed][, fidelity]); metric columns numeric.

    Every `arch` string is validated by the space (one bad string fails with its reason). Rows of
    the same architecture and seed are averaged; seeds become the per-seed columns.
    """
    path = Path(path)
    if path.suffix == ".json":
        return from_zc_json(path)
    df = _read_table(path)
    if "arch" not in df.columns:
        raise NasHarnessError(f"{path}: a training table needs an `arch` column of architecture strings")
    sp = get_space(space)
    chosen: float | None
    if "fidelity" in df.columns:
        levels = np.sort(df["fidelity"].dropna().unique())
        chosen = float(levels[-1]) if fidelity is None else float(fidelity)
        if chosen not in levels:
            raise NasHarnessError(f"{path}: no rows at fidelity {fidelity}; the table has {levels.tolist()}")
        df = df[df["fidelity"] == chosen]
    else:
        chosen = fidelity
    reserved = {"arch", "seed", "fidelity", group_column}
    numeric = [c for c in df.columns if c not in reserved and pd.api.types.is_numeric_dtype(df[c])]
    names = metrics or numeric
    if valid_metric:
        names = [valid_metric] + [m for m in names if m != valid_metric]
    missing = [m for m in names if m not in df.columns]
    if not names or missing:
        raise NasHarnessError(
            f"{path}: metric columns {missing or names} not found; numeric columns: {', '.join(numeric)}"
        )
    # Validate and normalise every architecture string through the space (canonical row order).
    strings = df["arch"].astype(str)
    unique = pd.unique(strings)
    normal = {a: sp.arch_at(sp.index_of(a)) for a in unique}
    df = df.assign(arch=strings.map(normal))
    seeds = df["seed"] if "seed" in df.columns else pd.Series(0, index=df.index)
    df = df.assign(seed=seeds)
    archs = list(pd.unique(df["arch"]))
    data: dict[str, MetricData] = {}
    for name in names:
        table = df.pivot_table(index="arch", columns="seed", values=name, aggfunc="mean", dropna=False).reindex(archs)
        per_seed = table.to_numpy(dtype=np.float64)
        lower = any(tok in name.lower() for tok in _LOWER_IS_BETTER)
        data[name] = MetricData(_seed_mean(per_seed), per_seed, (units or {}).get(name, ""), not lower)
    groups = None
    if group_column:
        if group_column not in df.columns:
            raise NasHarnessError(f"{path}: no group column {group_column!r}; columns: {', '.join(df.columns)}")
        first = df.groupby("arch", sort=False)[group_column].first().reindex(archs)
        groups = first.astype(str).to_numpy()
    roles = {"valid_metric": names[0], "test_metric": "", "cost_metric": ""}
    for role, candidates in (
        ("test_metric", ("test_acc", "test_accuracy")),
        ("cost_metric", ("train_time", "runtime")),
    ):
        roles[role] = next((c for c in candidates if c in data and c != names[0]), "")
    return TrainingData(
        space=space,
        archs=archs,
        metrics=data,
        roles=roles,
        source={"kind": "table", "name": path.stem, "path": str(path.resolve()), "sha256": sha256_file(path)},
        fidelity=chosen,
        groups=groups,
    )


def from_zc_json(path: str | Path, *, dataset: str = "cifar10") -> TrainingData:
    """NAS-Bench-Suite-Zero's `zc_proxies_nb301.json`: DARTS architectures (NASLib compact
    genotypes) with the validation accuracy (%) NB301 measured for them (one seed each)."""
    from harness.spaces.darts import from_compact

    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NasHarnessError(f"{path} is not a readable NAS-Bench-Suite-Zero JSON file ({exc})") from None
    if dataset not in raw:
        raise NasHarnessError(f"{path} has no dataset {dataset!r}; it has {', '.join(raw)}")
    entries = raw[dataset]
    archs, values = [], []
    for key, entry in entries.items():
        archs.append(from_compact(entry.get("arch", key)))
        values.append(float(entry["val_accuracy"]))
    if len(set(archs)) != len(archs):
        raise NasHarnessError(f"{path}: the same architecture is listed twice")
    y = np.asarray(values)
    return TrainingData(
        space="darts",
        archs=archs,
        metrics={"val_accuracy": MetricData(y, y[:, None], "%", True)},
        roles={"valid_metric": "val_accuracy", "test_metric": "", "cost_metric": ""},
        source={
            "kind": "zc-json",
            "name": f"{path.stem}/{dataset}",
            "path": str(path.resolve()),
            "sha256": sha256_file(path),
        },
        fidelity=100.0,
    )


def from_evaluations(
    space: SearchSpace,
    rows: np.ndarray,
    values: np.ndarray,
    groups: np.ndarray,
    *,
    source: dict[str, Any],
    metric: str = "valid",
) -> TrainingData:
    """Architectures some searches evaluated, with the value each got, grouped by who found them.

    Why plain arrays: the caller (the `surrogate fit --results` command) reads the runs through
    the one results reader and maps benchmarks to spaces through the catalogue; both sit above
    this package, so it hands down only rows of `space`, their values and their group labels.
    Rows without a finite value are dropped; an architecture found by several groups belongs to
    the first of them in name order, so every architecture is one training point. The single
    value is both the seed mean and the only per-seed column (a search sees one value per row).
    """
    rows = np.asarray(rows, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups).astype(str)
    if not rows.shape == values.shape == groups.shape or rows.ndim != 1:
        raise NasHarnessError(
            f"evaluations need equal-length 1-d rows, values and groups, got shapes "
            f"{rows.shape}, {values.shape} and {groups.shape}"
        )
    keep = np.isfinite(values)
    rows, values, groups = rows[keep], values[keep], groups[keep]
    if rows.size == 0:
        raise NasHarnessError(
            f"no evaluation with a finite {metric!r} in {source.get('path') or source.get('name', 'the runs')}"
        )
    order = np.argsort(groups, kind="stable")
    _, first = np.unique(rows[order], return_index=True)
    pick = order[np.sort(first)]
    y = values[pick]
    return TrainingData(
        space=space.name,
        archs=[space.arch_at(int(i)) for i in rows[pick]],
        metrics={metric: MetricData(y, y[:, None], "", True)},
        roles={"valid_metric": metric, "test_metric": "", "cost_metric": ""},
        source=dict(source),
        groups=groups[pick],
    )
