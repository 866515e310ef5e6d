"""Shared logic of the official NAS-Bench-201 / NATS-Bench topology files: ArchResults -> store arrays.

Both the NB201 `.pth` files and the NATS-tss archives hold, per architecture index and training
schedule ("hp": '12' or '200' epochs), an *ArchResults state*: `dataset_seed` lists the seeds run on
each dataset and `all_results[(dataset, seed)]` is a *ResultsCount state* with per-epoch curves
(as the official API stores them). This module turns those states into one dense store per
(dataset, schedule), with the semantics of the official `get_more_info(is_random=False)`:

* fidelity f = epochs trained (epoch index e is stored at fidelity e + 1);
* seeds are the official labels (777/888/999 for 200 epochs, 111/777 for 12); an architecture that
  lacks a seed has NaN there, so the store's seed mean equals the official mean over its seeds;
* metric roles per dataset (as the official API assigns them): `valid_*` = x-valid, `test_*` = ori-test for
  cifar10-valid/cifar10 and x-test for cifar100/ImageNet16-120, `valtest_*` = ori-test of the latter
  two; an evaluation set not recorded at an epoch (e.g. 200-epoch x-valid before epoch 199 on
  cifar100) is NaN there;
* `train_time` is cumulative: the sum of `train_times[0..e]`, i.e. the official `train-all-time`,
  so that evaluating at fidelity f costs its real training time (NaN where times are None, as in
  NB201 v1_0); `valid_eval_time` is the time of one evaluation of x-valid after epoch e (the
  official `valid-all-time` is its sum over fidelities 1..e+1, and `simulate_train_eval` charges
  train_time + one such evaluation). Test-set evaluation times are left out: a search never pays
  them, and each 200-epoch metric costs 75 MB per store;
* static `params` (M), `flops` (MFLOPs) and `latency` (s) follow `get_cost_info`: means over the
  seeds, latency ignoring non-positive or missing values.

Tables are filled one architecture at a time (`ScheduleTable.add`), so a reader may stream the
per-architecture files of the NATS archive instead of holding the whole benchmark in memory.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tabular.errors import NasHarnessError, StoreError
from tabular.sources import NB201_LONG_SCHEDULE, NB201_OFFICIAL_DATASETS, nb201_schedule_suffix, nb201_store_name
from tabular.writer import MetricArray, StaticMetric, StoreData, write_store

log = logging.getLogger(__name__)

# Official dataset name -> the name used in our benchmark names.
DATASETS: dict[str, str] = NB201_OFFICIAL_DATASETS
# Which evaluation set plays which role on each dataset (as the official API assigns them).
SET_ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    "cifar10-valid": (("valid", "x-valid"), ("test", "ori-test")),
    "cifar10": (("test", "ori-test"),),
    "cifar100": (("valid", "x-valid"), ("test", "x-test"), ("valtest", "ori-test")),
    "ImageNet16-120": (("valid", "x-valid"), ("test", "x-test"), ("valtest", "ori-test")),
}
# Seed labels we expect per schedule; others are accepted (the seed axis grows) but logged.
EXPECTED_SEEDS: dict[str, tuple[int, ...]] = {"12": (111, 777), "200": (777, 888, 999)}
LONG_SCHEDULE = NB201_LONG_SCHEDULE
LICENCE = "MIT"
CITATION_NB201 = (
    "Xuanyi Dong and Yi Yang. NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture "
    "Search. ICLR 2020."
)
CITATION_NATS = (
    "Xuanyi Dong, Lu Liu, Katarzyna Musial and Bogdan Gabrys. NATS-Bench: Benchmarking NAS Algorithms "
    "for Architecture Topology and Size. IEEE TPAMI 2021."
)

Combo = tuple[str, str]  # (official dataset name, hp)


# Benchmark names (light, in tabular.sources, so that listing the catalogue imports no converter).
schedule_suffix = nb201_schedule_suffix
store_name = nb201_store_name


@dataclass(frozen=True)
class SourceInfo:
    """What every store converted from one official source records as provenance."""

    family: str
    files: tuple[tuple[str, str], ...]  # (file or folder name, sha256)
    format: str
    citation: str
    notes: str = ""


@dataclass(frozen=True)
class ArchOrder:
    """The NB201 space's architectures in index order and their op codes (store rows and encoding).

    Passed in by the catalogue (harness.catalog.official.nb201_order builds it from
    harness.spaces.nb201): tabular is the lowest layer and imports no search space.
    """

    strings: list[str]
    codes: np.ndarray


def official_arch_order(meta_archs: Any, source: Path, order: ArchOrder) -> tuple[list[str], np.ndarray]:
    """Check that `meta_archs` is the NB201 official order; return the strings and op codes.

    Store rows must be the index of the NB201 space (`order`); a file whose list differs would make
    every row silently belong to another architecture, so it is refused instead.
    """
    expected = order.strings
    if not isinstance(meta_archs, (list, tuple)) or len(meta_archs) != len(expected):
        got = len(meta_archs) if hasattr(meta_archs, "__len__") else type(meta_archs).__name__
        raise NasHarnessError(f"{source}: meta_archs must list {len(expected)} architecture strings, found {got}; "
                              "the file is not a NAS-Bench-201 topology benchmark")
    for i, (have, want) in enumerate(zip(meta_archs, expected, strict=True)):
        if have != want:
            raise NasHarnessError(f"{source}: meta_archs[{i}] is {have!r}, but NB201 index {i} is {want!r}; "
                                  "the file's architecture order is not the official one")
    return expected, order.codes


def _curve(values: Mapping[Any, Any] | None, keys: list[Any]) -> np.ndarray:
    """Values at `keys` as float64, NaN where a key (or the whole mapping) is missing or None."""
    if not values:
        return np.full(len(keys), np.nan)
    return np.array(list(map(values.get, keys)), dtype=np.float64)  # None -> NaN


def _seed_latency(latency: Any) -> float:
    """One run's latency as `get_latency` reads it: the mean of its list; -1 when absent."""
    if latency is None:
        return -1.0
    if isinstance(latency, (list, tuple)):
        return float(np.mean([float(x) for x in latency])) if latency else -1.0
    return float(latency)


class ScheduleTable:
    """The dense arrays of one (dataset, schedule), filled one architecture at a time."""

    def __init__(self, dataset: str, hp: str, n_archs: int):
        if dataset not in DATASETS:
            raise NasHarnessError(f"unknown NAS-Bench-201 dataset {dataset!r}; known: {', '.join(DATASETS)}")
        self.dataset = dataset
        self.hp = hp
        self.n_archs = n_archs
        self.epochs: int | None = None
        self.seed_labels: list[int] = []
        self.observed: set[int] = set()
        self.values: dict[str, np.ndarray] = {}
        self.flops = np.full(n_archs, np.nan)
        self.params = np.full(n_archs, np.nan)
        self.latency = np.full(n_archs, np.nan)
        self.n_evaluated = 0
        self.roles = SET_ROLES[dataset]

    # -- layout --------------------------------------------------------------------------------
    def metric_names(self) -> list[str]:
        names = ["train_acc", "train_loss", "train_time"]
        for role, _ in self.roles:
            names += [f"{role}_acc", f"{role}_loss"] + (["valid_eval_time"] if role == "valid" else [])
        return names

    def _allocate(self, epochs: int) -> None:
        self.epochs = epochs
        self.seed_labels = list(EXPECTED_SEEDS.get(self.hp, ()))
        shape = (self.n_archs, len(self.seed_labels), epochs)
        self.values = {name: np.full(shape, np.nan) for name in self.metric_names()}
        self._train_keys = list(range(epochs))
        self._eval_keys = {s: [f"{s}@{e}" for e in range(epochs)] for _, s in self.roles}

    def _slot(self, seed: int) -> int:
        if seed not in self.seed_labels:
            log.info("%s hp=%s: seed %d is not one of the expected %s; adding "
                     "it", self.dataset, self.hp, seed, self.seed_labels)
            self.seed_labels.append(seed)
            for name, arr in self.values.items():
                pad = np.full((arr.shape[0], 1, arr.shape[2]), np.nan)
                self.values[name] = np.concatenate([arr, pad], axis=1)
        return self.seed_labels.index(seed)

    # -- filling -------------------------------------------------------------------------------
    def add(self, row: int, state: Mapping[str, Any], where: str) -> None:
        """Copy one ArchResults state's runs on this dataset into row `row`; `where` names it in errors."""
        seeds = (state.get("dataset_seed") or {}).get(self.dataset)
        if not seeds:
            return
        results = state.get("all_results") or {}
        flops, params, latencies = [], [], []
        for seed in seeds:
            run = results.get((self.dataset, seed))
            if run is None:
                raise NasHarnessError(f"{where}: dataset_seed lists seed {seed} for {self.dataset} but all_results "
                                      f"has no ({self.dataset!r}, {seed}) entry; the file is corrupt")
            if not isinstance(run, Mapping) or not isinstance(run.get("epochs"), (int, np.integer)):
                raise NasHarnessError(f"{where}: the {self.dataset} seed {seed} results are not a ResultsCount dict "
                                      "with an integer 'epochs'; the file is corrupt")
            epochs = int(run["epochs"])
            if self.epochs is None:
                self._allocate(epochs)
            elif epochs != self.epochs:
                raise NasHarnessError(f"{where}: {self.dataset} seed {seed} ran {epochs} epochs, other runs of "
                                      f"schedule hp={self.hp} ran {self.epochs}; the file is inconsistent")
            self._add_run(row, self._slot(int(seed)), run)
            self.observed.add(int(seed))
            flops.append(float(run["flop"]) if run.get("flop") is not None else math.nan)
            params.append(float(run["params"]) if run.get("params") is not None else math.nan)
            latencies.append(_seed_latency(run.get("latency")))
        self.flops[row] = float(np.mean(flops))
        self.params[row] = float(np.mean(params))
        positive = [x for x in latencies if x > 0]
        self.latency[row] = float(np.mean(positive)) if positive else math.nan
        self.n_evaluated += 1

    def _add_run(self, row: int, slot: int, run: Mapping[str, Any]) -> None:
        v = self.values
        v["train_acc"][row, slot] = _curve(run.get("train_acc1es"), self._train_keys)
        v["train_loss"][row, slot] = _curve(run.get("train_losses"), self._train_keys)
        v["train_time"][row, slot] = np.cumsum(_curve(run.get("train_times"), self._train_keys))
        acc, loss, times = run.get("eval_acc1es"), run.get("eval_losses"), run.get("eval_times")
        for role, setname in self.roles:
            keys = self._eval_keys[setname]
            v[f"{role}_acc"][row, slot] = _curve(acc, keys)
            v[f"{role}_loss"][row, slot] = _curve(loss, keys)
            if role == "valid":
                v["valid_eval_time"][row, slot] = _curve(times, keys)

    # -- output --------------------------------------------------------------------------------
    def to_store_data(self, name: str, arch_strings: list[str], codes: np.ndarray, source: SourceInfo) -> StoreData:
        if self.epochs is None or not self.observed:
            raise NasHarnessError(f"{name}: no architecture has {self.dataset} results for schedule hp={self.hp}")
        keep = [i for i, s in enumerate(self.seed_labels) if s in self.observed]
        order = sorted(keep, key=lambda i: self.seed_labels[i])
        seeds = np.array([self.seed_labels[i] for i in order], dtype=np.int64)
        identity = order == list(range(len(self.seed_labels)))
        metrics: dict[str, MetricArray] = {}
        for metric in self.metric_names():
            values = self.values[metric] if identity else self.values[metric][:, order, :]
            if metric == "valid_eval_time" and np.isnan(values).all():
                continue  # no evaluation times in this file (NB201 v1_0): leave the metric out
            metrics[metric] = MetricArray(values, *_metric_meta(metric, self.dataset))
        has_time = not np.isnan(metrics["train_time"].values).all()
        valid = "valid_acc" if "valid_acc" in metrics else ""
        provenance = {
            "sources": [{"name": n, "sha256": h} for n, h in source.files],
            "format": source.format,
            "dataset": self.dataset,
            "schedule_epochs": self.epochs,
            "hp": self.hp,
            "evaluated_archs": self.n_evaluated,
            "licence": LICENCE,
            "citation": source.citation,
            "notes": "seed-mean values equal get_more_info(is_random=False); "
            + ("train_time is cumulative training seconds" if has_time else "this file records no training times "
                                                                            "(train_time is NaN)")
            + (f"; {source.notes}" if source.notes else "")
            + ("" if valid else "; cifar10 has no validation set (valid_metric is empty): search on cifar10-valid"),
        }
        static = {
            "params": StaticMetric(self.params, "M", "params", "", "parameters in millions (mean over seeds, as "
                                                                   "get_cost_info)"),
            "flops": StaticMetric(self.flops, "MFLOPs", "flops", "", "FLOPs in millions (mean over seeds, as "
                                                                     "get_cost_info)"),
            "latency": StaticMetric(self.latency, "s", "latency", "gpu", "inference latency recorded by the "
                                                                         "benchmark; mean over seeds of positive "
                                                                         "values, as get_cost_info"),
        }
        return StoreData(
            name=name,
            search_space="nb201",
            arch_strings=arch_strings,
            arch_encoding=codes,
            fidelities=np.arange(1, self.epochs + 1, dtype=np.float64),
            seeds=seeds,
            metrics=metrics,
            static=static,
            fidelity_name="epochs",
            valid_metric=valid,
            test_metric="test_acc",
            cost_metric="train_time" if has_time else "",
            provenance=provenance,
        )


def _metric_meta(metric: str, dataset: str) -> tuple[str, bool, str]:
    """(unit, higher_is_better, description) of one store metric."""
    role, _, field = metric.partition("_")
    if role == "train":
        setname = "the training set"
    else:
        setname = dict(SET_ROLES[dataset])[role] + f" of {dataset}"
    if field == "acc":
        return "%", True, f"top-1 accuracy on {setname} after this many epochs"
    if field == "loss":
        return "", False, f"cross-entropy loss on {setname} after this many epochs"
    if field == "time":
        return "s", False, "cumulative training seconds up to and including this epoch (official train-all-time)"
    return (
        "s",
        False,
        f"seconds to evaluate {setname} once after this epoch (official <set>-all-time is the sum over epochs)",
    )


def fill_tables(
    records: Iterable[tuple[int, Mapping[str, Any]]],
    n_archs: int,
    hp_of: Mapping[str, str],
    select: set[Combo] | None,
    where: str,
) -> dict[Combo, ScheduleTable]:
    """Fill a table per (dataset, hp) from (index, {file hp key: ArchResults state}) records.

    `hp_of` maps the file's schedule keys to hp strings ('less'->'12' in `.pth` files). Tables are
    created on first sight of a (dataset, hp), so one pass over a streamed source fills them all.
    """
    tables: dict[Combo, ScheduleTable] = {}
    skipped: set[str] = set()
    for index, infos in records:
        if not 0 <= index < n_archs:
            raise NasHarnessError(f"{where}: architecture index {index} is outside 0..{n_archs - 1}")
        for key, state in infos.items():
            hp = hp_of.get(key)
            if hp is None or state is None:
                continue
            for dataset in (state.get("dataset_seed") or {}):
                if dataset not in DATASETS:
                    skipped.add(dataset)
                    continue
                combo = (dataset, hp)
                if select is not None and combo not in select:
                    continue
                if combo not in tables:
                    tables[combo] = ScheduleTable(dataset, hp, n_archs)
                tables[combo].add(index, state, f"{where} index {index} hp={hp}")
    if skipped:
        log.warning("%s: skipped datasets unknown to NAS-Bench-201: %s", where, ", ".join(sorted(skipped)))
    return tables


def check_arch_state(index: int, state: Mapping[str, Any], arch_strings: list[str], where: str) -> None:
    """Refuse a record whose own arch_str/arch_index disagree with its position in the file."""
    if not 0 <= index < len(arch_strings):
        raise NasHarnessError(f"{where}: architecture index {index} is outside 0..{len(arch_strings) - 1}")
    if not isinstance(state, Mapping):
        raise NasHarnessError(f"{where}: the results at index {index} are a {type(state).__name__}, not an "
                              "ArchResults dict")
    arch = state.get("arch_str")
    if arch is not None and arch != arch_strings[index]:
        raise NasHarnessError(f"{where}: the results stored at index {index} are for {arch!r}, not "
                              f"{arch_strings[index]!r}; the file is inconsistent")
    own = state.get("arch_index")
    if own is not None and int(own) != index:
        raise NasHarnessError(f"{where}: the results stored at index {index} say arch_index={own}; the file is "
                              "inconsistent")


def combos_in(blob_infos: Mapping[Any, Mapping[str, Any]], hp_of: Mapping[str, str]) -> list[Combo]:
    """Every (dataset, hp) with at least one run in an in-memory arch2infos, in a stable order."""
    found: set[Combo] = set()
    for infos in blob_infos.values():
        for key, state in infos.items():
            hp = hp_of.get(key)
            if hp is None or not state:
                continue
            for dataset in state.get("dataset_seed") or {}:
                if dataset in DATASETS:
                    found.add((dataset, hp))
    order = list(DATASETS)
    return sorted(found, key=lambda c: (-int(c[1]), order.index(c[0])))


def blob_store_names(blob: Mapping[str, Any], hp_of: Mapping[str, str], family: str, where: Path) -> list[str]:
    """Names of the stores an in-memory benchmark yields, known before any array is built."""
    infos = normalise_arch2infos(blob.get("arch2infos"), where)
    return [store_name(family, *combo) for combo in combos_in(infos, hp_of)]


def iter_blob_stores(
    blob: Mapping[str, Any],
    hp_of: Mapping[str, str],
    source: SourceInfo,
    where: Path,
    select: set[Combo] | None = None,
    *,
    order: ArchOrder,
) -> Iterator[StoreData]:
    """Stores of a whole benchmark already in memory (`.pth`, NATS single file), one at a time.

    One pass over the architectures per store keeps only one store's arrays alive besides the
    loaded benchmark itself.
    """
    arch_strings, codes = official_arch_order(blob.get("meta_archs"), where, order)
    infos = normalise_arch2infos(blob.get("arch2infos"), where)
    for index, entry in infos.items():
        for state in entry.values():
            if state:
                check_arch_state(index, state, arch_strings, str(where))
    for combo in combos_in(infos, hp_of):
        if select is not None and combo not in select:
            continue
        tables = fill_tables(infos.items(), len(arch_strings), hp_of, {combo}, str(where))
        yield tables[combo].to_store_data(store_name(source.family, *combo), arch_strings, codes, source)


def normalise_arch2infos(arch2infos: Any, where: Path) -> dict[int, Mapping[str, Any]]:
    if not isinstance(arch2infos, Mapping) or not arch2infos:
        raise NasHarnessError(f"{where}: the file has no arch2infos results; it is not a NAS-Bench-201 benchmark file "
                              "(or an empty one)")
    out: dict[int, Mapping[str, Any]] = {}
    for key, value in arch2infos.items():
        if not isinstance(value, Mapping):
            raise NasHarnessError(f"{where}: arch2infos[{key!r}] is a {type(value).__name__}, expected a dict of "
                                  "ArchResults states")
        out[int(key)] = value
    return out


def out_path(out_dir: Path, name: str) -> Path:
    """Store file of benchmark `name` under a stores folder (same layout as tabular.data_dir)."""
    return out_dir / f"{name}.h5"


def refuse_existing(out_dir: Path, names: Iterable[str], force: bool) -> None:
    """Fail before any work when a target exists and `force` is off, naming every such file."""
    if force:
        return
    existing = [str(out_path(out_dir, n)) for n in names if out_path(out_dir, n).exists()]
    if existing:
        raise StoreError(f"{', '.join(existing)} already exist(s); pass --force (force=True) to overwrite")


def write_all(stores: Iterable[StoreData], out_dir: Path, force: bool) -> list[Path]:
    """Write each store as it is produced (atomic per file), returning the paths in order."""
    paths = []
    for data in stores:
        path = write_store(data, out_path(out_dir, data.name), force=force)
        log.info("wrote %s (%d archs, %d seeds, %d "
                 "fidelities)", path, len(data.arch_strings), len(data.seeds), len(data.fidelities))
        paths.append(path)
    return paths
