"""Writers of small files in the exact official NAS-Bench-201 / NATS-Bench formats, for tests.

Written from /shared/docs/FORMATS.md §2.1, §2.2, §2.5: ArchResults and ResultsCount states as plain
dicts (16 ResultsCount keys, zero-padded seed strings, `(dataset, seed)` tuple keys, OrderedDict
train times, np.float64 values), pickled so that they reference exactly the globals the real files
do: `collections.OrderedDict`, `numpy.core.multiarray.scalar` and `numpy.dtype` (numpy 2 would write
`numpy._core...`, which a 2020 file never contains). `.pth` files go through `torch.save` in the
legacy (2020) or zip serialization; NATS files are bz2 pickles, protocol 4.

`reference_more_info` / `reference_cost_info` transcribe §2.6 (`get_more_info(is_random=False)`,
`get_cost_info`) independently of the converter, and `official_vector_archs` builds per-seed runs
whose seed means reproduce the official outputs in format_vectors.json.
"""
from __future__ import annotations

import bz2
import io
import pickle
import pickletools
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

try:
    from numpy._core.multiarray import scalar as _NUMPY_SCALAR
except ImportError:  # numpy < 2
    from numpy.core.multiarray import scalar as _NUMPY_SCALAR  # type: ignore[no-redef]

DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
CLASS_NUM = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
# Role of each evaluation set in get_more_info (FORMATS.md §2.6).
ROLES = {
    "cifar10-valid": {"valid": "x-valid", "test": "ori-test"},
    "cifar10": {"test": "ori-test"},
    "cifar100": {"valid": "x-valid", "test": "x-test", "valtest": "ori-test"},
    "ImageNet16-120": {"valid": "x-valid", "test": "x-test", "valtest": "ori-test"},
}
OFFICIAL_GLOBALS = {"collections OrderedDict", "numpy.core.multiarray scalar", "numpy dtype"}


def recorded_epochs(dataset: str, schedule: str, epochs: int) -> dict[str, list[int]]:
    """Epochs at which each evaluation set has accuracy/loss (the table in FORMATS.md §2.2)."""
    every, last = list(range(epochs)), [epochs - 1]
    if schedule == "12":
        table = {
            "cifar10-valid": {"x-valid": every, "ori-test": every},
            "cifar10": {"ori-test": every},
            "cifar100": {"x-valid": every, "x-test": every, "ori-test": every},
        }
    else:
        table = {
            "cifar10-valid": {"x-valid": every, "ori-test": last},
            "cifar10": {"ori-test": every},
            "cifar100": {"ori-test": every, "x-valid": last, "x-test": last},
        }
    table["ImageNet16-120"] = table["cifar100"]
    return table[dataset]


def f64(x: float) -> np.float64:
    return np.float64(x)


def results_count(
    dataset: str,
    seed: int,
    arch_str: str,
    epochs: int,
    *,
    train_acc: np.ndarray,
    train_loss: np.ndarray,
    train_times: np.ndarray | None,
    eval_acc: dict[str, dict[int, float]],
    eval_loss: dict[str, dict[int, float]],
    eval_times: dict[str, np.ndarray] | None,
    params: float,
    flop: float,
    latency: list[float] | None,
) -> dict[str, Any]:
    """A ResultsCount state (16 keys), values as np.float64 like the real files."""
    return {
        "name": dataset,
        "seed": f"{seed:04d}",
        "epochs": epochs,
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch_str, "class_num": CLASS_NUM[dataset]},
        "net_state_dict": None,
        "train_acc1es": {e: f64(v) for e, v in enumerate(train_acc)},
        "train_losses": {e: f64(v) for e, v in enumerate(train_loss)},
        "train_acc5es": None,
        "train_times": None if train_times is None else OrderedDict((e, f64(v)) for e, v in enumerate(train_times)),
        "eval_names": list(eval_acc),
        "eval_acc1es": {f"{s}@{e}": f64(v) for s, curve in eval_acc.items() for e, v in curve.items()},
        "eval_losses": {f"{s}@{e}": f64(v) for s, curve in eval_loss.items() for e, v in curve.items()},
        "eval_times": None
        if eval_times is None
        else {f"{s}@{e}": f64(v) for s, curve in eval_times.items() for e, v in enumerate(curve)},
        "params": f64(params),
        "flop": f64(flop),
        "latency": latency,
    }


def arch_results(index: int, arch_str: str, runs: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    """An ArchResults state from ResultsCount states keyed (dataset, seed)."""
    dataset_seed: dict[str, list[int]] = {}
    for dataset, seed in runs:
        dataset_seed.setdefault(dataset, []).append(seed)
    return {
        "arch_index": index,
        "arch_str": arch_str,
        "all_results": dict(runs),
        "dataset_seed": {ds: sorted(seeds) for ds, seeds in dataset_seed.items()},
        "clear_net_done": True,
    }


def random_run(
    rng: np.random.Generator, dataset: str, seed: int, arch_str: str, schedule: str, epochs: int, *, times: bool = True
) -> dict[str, Any]:
    """A ResultsCount state with random (but plausible-looking) curves."""
    sets = recorded_epochs(dataset, schedule, epochs)
    return results_count(
        dataset, seed, arch_str, epochs,
        train_acc=rng.uniform(10, 99, epochs),
        train_loss=rng.uniform(0.01, 3, epochs),
        train_times=rng.uniform(1, 30, epochs) if times else None,
        eval_acc={s: {e: rng.uniform(10, 95) for e in eps} for s, eps in sets.items()},
        eval_loss={s: {e: rng.uniform(0.1, 3) for e in eps} for s, eps in sets.items()},
        eval_times={s: rng.uniform(0.1, 3, epochs) for s in sets} if times else None,
        params=rng.uniform(0.05, 1.5),
        flop=rng.uniform(5, 200),
        latency=[float(rng.uniform(0.005, 0.03))],
    )


def random_arch(
    rng: np.random.Generator,
    index: int,
    arch_str: str,
    schedule: str,
    epochs: int,
    seeds: dict[str, list[int]],
    *,
    times: bool = True,
) -> dict[str, Any]:
    """An ArchResults state with random runs for `seeds[dataset]` on each listed dataset."""
    runs = {
        (ds, s): random_run(rng, ds, s, arch_str, schedule, epochs, times=times)
        for ds, labels in seeds.items()
        for s in labels
    }
    return arch_results(index, arch_str, runs)


# -- pickling exactly like the 2020 files ------------------------------------------------------
def _legacy_scalar(*args: Any) -> Any:  # pragma: no cover - only its pickled name matters
    return _NUMPY_SCALAR(*args)


_legacy_scalar.__module__ = "numpy.core.multiarray"
_legacy_scalar.__qualname__ = _legacy_scalar.__name__ = "scalar"


@contextmanager
def _legacy_numpy_name() -> Iterator[None]:
    """Let the pickler resolve `numpy.core.multiarray.scalar` to our stand-in while dumping.

    The C pickler checks that a global's module really holds the object it writes; a stand-in
    module under that name (restored afterwards) makes it write the 2020 spelling.
    """
    name = "numpy.core.multiarray"
    saved = sys.modules.get(name)
    stand_in = types.ModuleType(name)
    stand_in.scalar = _legacy_scalar  # type: ignore[attr-defined]
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if saved is None:
            del sys.modules[name]
        else:
            sys.modules[name] = saved


class LegacyNumpyPickler(pickle.Pickler):
    """Pickler writing numpy scalars' reconstructor as `numpy.core.multiarray.scalar` (as in 2020)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.generic):
            rv = obj.__reduce__()
            if rv[0] is _NUMPY_SCALAR:
                return (_legacy_scalar, *rv[1:])
        return NotImplemented

    def dump(self, obj: Any) -> None:
        with _legacy_numpy_name():
            super().dump(obj)


def dumps(obj: Any, protocol: int = 4) -> bytes:
    buffer = io.BytesIO()
    LegacyNumpyPickler(buffer, protocol=protocol).dump(obj)
    return buffer.getvalue()


def pickle_globals(data: bytes) -> set[str]:
    """'module name' of every global a pickle references (GLOBAL and STACK_GLOBAL opcodes)."""
    found, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name == "GLOBAL":
            found.add(arg)
        elif op.name == "STACK_GLOBAL":
            found.add(f"{strings[-2]} {strings[-1]}")
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
            strings.append(arg)
    return found


def write_nats_folder(
    folder: Path, meta_archs: list[str], archs: dict[int, dict[str, Any]], *, unpadded: tuple[int, ...] = ()
) -> Path:
    """A NATS-tss "simple" folder: meta.pickle.pbz2 + `{index:06d}.pickle.pbz2` ({index} for `unpadded`)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "meta_archs": list(meta_archs),
        "total_archs": len(meta_archs),
        "arch2infos": None,
        "evaluated_indexes": set(),
    }
    (folder / "meta.pickle.pbz2").write_bytes(bz2.compress(dumps(meta)))
    for index, infos in archs.items():
        name = f"{index}.pickle.pbz2" if index in unpadded else f"{index:06d}.pickle.pbz2"
        (folder / name).write_bytes(bz2.compress(dumps(infos)))
    return folder


def write_nats_single(path: Path, meta_archs: list[str], archs: dict[int, dict[str, Any]]) -> Path:
    """The single-file NATS-tss benchmark: one bz2 pickle with arch2infos keyed '12'/'200'."""
    blob = {
        "meta_archs": list(meta_archs),
        "total_archs": len(meta_archs),
        "arch2infos": archs,
        "evaluated_indexes": set(archs),
    }
    path.write_bytes(bz2.compress(dumps(blob)))
    return path


def write_nb201_pth(
    path: Path, meta_archs: list[str], archs: dict[int, dict[str, Any]], *, legacy: bool = True
) -> Path:
    """A NAS-Bench-201 `.pth`: torch.save of {meta_archs, total_archs, arch2infos{'less','full'}, evaluated_indexes}."""
    import torch

    blob = {
        "meta_archs": list(meta_archs),
        "total_archs": len(meta_archs),
        "arch2infos": archs,
        "evaluated_indexes": sorted(archs),
    }
    module = types.SimpleNamespace(Pickler=LegacyNumpyPickler, dump=pickle.dump, __name__="pickle")
    torch.save(blob, path, pickle_module=module, pickle_protocol=2, _use_new_zipfile_serialization=not legacy)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


# -- the official semantics, transcribed from FORMATS.md §2.6 ---------------------------------
def reference_more_info(state: dict[str, Any], dataset: str, iepoch: int) -> dict[str, float]:
    """get_more_info(index, dataset, iepoch, hp, is_random=False) on one ArchResults state."""
    runs = [state["all_results"][(dataset, s)] for s in state["dataset_seed"][dataset]]
    out = {
        "train-loss": float(np.mean([r["train_losses"][iepoch] for r in runs])),
        "train-accuracy": float(np.mean([r["train_acc1es"][iepoch] for r in runs])),
    }
    if runs[0]["train_times"] is not None:
        total = float(np.mean([sum(r["train_times"][i] for i in range(iepoch + 1)) for r in runs]))
        out["train-all-time"], out["train-per-time"] = total, total / (iepoch + 1)
    for role, setname in ROLES[dataset].items():
        key = f"{setname}@{iepoch}"
        if key not in runs[0]["eval_acc1es"]:
            continue  # a set absent at this epoch is silently left out
        out[f"{role}-loss"] = float(np.mean([r["eval_losses"][key] for r in runs]))
        out[f"{role}-accuracy"] = float(np.mean([r["eval_acc1es"][key] for r in runs]))
        if runs[0]["eval_times"]:
            total = float(np.mean([sum(r["eval_times"][f"{setname}@{i}"] for i in range(iepoch + 1)) for r in runs]))
            out[f"{role}-all-time"], out[f"{role}-per-time"] = total, total / (iepoch + 1)
    return out


def reference_cost_info(state: dict[str, Any], dataset: str) -> dict[str, float | None]:
    """get_cost_info's flops/params/latency: seed means, latency over positive per-run means only."""
    runs = [state["all_results"][(dataset, s)] for s in state["dataset_seed"][dataset]]
    per_run = [-1.0 if r["latency"] is None else sum(r["latency"]) / len(r["latency"]) for r in runs]
    positive = [x for x in per_run if x > 0]
    return {
        "flops": float(np.mean([r["flop"] for r in runs])),
        "params": float(np.mean([r["params"] for r in runs])),
        "latency": float(np.mean(positive)) if positive else None,
    }


def _curve_ending(rng: np.random.Generator, epochs: int, last: float, low: float, high: float) -> np.ndarray:
    values = rng.uniform(low, high, epochs)
    values[-1] = last
    return values


def _spread(rng: np.random.Generator, epochs: int, total: float) -> np.ndarray:
    """Per-epoch times summing to `total`, with random (not constant) shares."""
    return total * rng.dirichlet(np.ones(epochs))


def official_vector_archs(
    vectors: list[dict[str, Any]], meta_archs: list[str], seed: int = 0
) -> dict[int, dict[str, Any]]:
    """{index: {'12': ArchResults, '200': ArchResults}} whose seed means equal the official outputs.

    Each seed's last-epoch value is the official mean scaled by (1 + 0.1 o), with offsets o summing
    to zero over the seeds; each seed's times are its official-total share spread over the epochs
    with random weights; earlier epochs are random. Latencies mix a two-value list, a one-value
    list and a missing or non-positive value (which get_cost_info ignores).
    """
    rng = np.random.default_rng(seed)
    costs = {(v["index"], v["hp"], v["dataset"]): v["get_cost_info"] for v in vectors if "get_cost_info" in v}
    runs: dict[tuple[int, str], dict[tuple[str, int], dict[str, Any]]] = {}
    for v in (v for v in vectors if "get_more_info" in v):
        index, hp, dataset, info = v["index"], v["hp"], v["dataset"], v["get_more_info"]
        seeds, epochs = v["seeds_averaged"], int(v["hp"])
        offsets = np.linspace(-1.0, 1.0, len(seeds)) if len(seeds) > 1 else np.zeros(1)
        cost = costs.get((index, hp, dataset))
        sets = recorded_epochs(dataset, hp, epochs)
        for j, label in enumerate(seeds):
            scale = 1.0 + 0.1 * offsets[j]
            eval_acc, eval_loss, eval_times = {}, {}, {}
            for role, setname in ROLES[dataset].items():
                acc = _curve_ending(rng, epochs, info[f"{role}-accuracy"] * scale, 10, 90)
                loss = _curve_ending(rng, epochs, info[f"{role}-loss"] * scale, 0.1, 3)
                eval_acc[setname] = {e: acc[e] for e in sets[setname]}
                eval_loss[setname] = {e: loss[e] for e in sets[setname]}
                eval_times[setname] = _spread(rng, epochs, info[f"{role}-all-time"] * scale)
            if cost is not None:
                lat = cost["latency"]
                third = {0: None, 11: [0.0]}.get(index, [-1.0])  # ignored by get_cost_info
                latency = [[0.9 * lat, 1.1 * lat], [lat], third][j]
                params, flop = cost["params"] * scale, cost["flops"] * scale
            else:
                latency, params, flop = [0.01 + 0.001 * j], 0.5 + 0.01 * index, 50.0 + index
            state = results_count(
                dataset, label, meta_archs[index], epochs,
                train_acc=_curve_ending(rng, epochs, info["train-accuracy"] * scale, 10, 90),
                train_loss=_curve_ending(rng, epochs, info["train-loss"] * scale, 0.1, 3),
                train_times=_spread(rng, epochs, info["train-all-time"] * scale),
                eval_acc=eval_acc, eval_loss=eval_loss, eval_times=eval_times,
                params=params, flop=flop, latency=latency,
            )
            runs.setdefault((index, hp), {})[(dataset, label)] = state
    out: dict[int, dict[str, Any]] = {}
    for (index, hp), by_seed in runs.items():
        out.setdefault(index, {})[hp] = arch_results(index, meta_archs[index], by_seed)
    return out
