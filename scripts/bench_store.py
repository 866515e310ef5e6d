#!/usr/bin/env python
"""Benchmark the HDF5 store against the obvious alternatives (pandas pickle, CSV).

Why: the store's design claims (opens in milliseconds, memory-mapped, vectorised queries at
10^7 lookups/s) are only worth something if they are measured, on the real NB201 store and on a
table as large as NAS-Bench-101, against what a user would otherwise do: keep a DataFrame in a
pickle or a CSV and look values up with a MultiIndex.

Each load is measured in a fresh subprocess (imports excluded, the file's pages evicted from the
page cache first where the OS allows it), so open time and memory are those a new search run sees.
This is a benchmark, not a test: it asserts nothing. It does check, and report, that the store and
pandas return the same values for the same lookups, and it prints a markdown table (and optionally
a JSON file with every timing).

    python scripts/bench_store.py            # full run (about 1.5 min on 2 cores, < 1.2 GB RSS)
    python scripts/bench_store.py --quick    # a 10x smaller generated table, fewer repeats
    python scripts/bench_store.py --open-cost  # only: what verifying the data checksum adds to opening

`--open-cost` opens real catalogue stores (OPEN_COST_BENCHMARKS) and the generated NB101-sized
table with `open_store(path)` (checksum verified) and `open_store(path, verify="lazy")` (metadata
only, the check deferred to the first array read), cold-ish and warm, in fresh subprocesses.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("bench_store")

NB101_ARCHS = 423_624
NB101_SEEDS = (0, 1, 2)
NB101_FIDELITIES = (4.0, 12.0, 36.0, 108.0)
NB101_METRICS = ("train_acc", "valid_acc", "test_acc", "train_loss", "valid_loss", "train_time")
NAN_FRACTION = 0.02  # share of (arch, seed, fidelity) cells left unmeasured in the generated table
FIRST_QUERY_SIZE = 10_000  # indices in the "first query" after opening (also the agreement check)
POLICIES = ("mean", "fixed", "sample")
TARGET_OPEN_S = {"nb201": 0.2, "nb101-sized": 1.0}
TARGET_LOOKUPS_PER_S = 1e7
INDEX_LEVELS = ["arch", "seed", "fidelity"]
OPEN_COST_BENCHMARKS = ("nb101/sample", "nb201/cifar10", "analog/cifar10", "nbgraph/arxiv")


# ---------------------------------------------------------------------------------------------
# measurement helpers (used inside worker subprocesses)
# ---------------------------------------------------------------------------------------------
def _proc_status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of this process in bytes (Linux /proc; getrusage fallback)."""
    fields = {"VmRSS", "VmHWM", "RssAnon", "RssFile"}
    out: dict[str, int] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in fields:
                out[key] = int(rest.split()[0]) * 1024
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        out = {"VmRSS": peak, "VmHWM": peak}
    return out


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so a peak measures the load, not the imports."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _evict(path: Path) -> bool:
    """Drop a file's clean pages from the OS page cache (best effort, no privileges needed)."""
    if not hasattr(os, "posix_fadvise"):
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return True
    except OSError:
        return False


def _median_time(fn: Any, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def _pandas_lookup(frame: Any, cache: dict, metric: str, policy: str, rows: Any, fidelity: float,
                   seeds: Any, rng: Any) -> Any:
    """The obvious vectorised pandas idiom: a MultiIndex key built from arrays, then `reindex`.

    `mean` groups by (arch, fidelity) once per metric (cached, like the store caches seed means);
    `sample` draws a seed label uniformly per lookup (it does not skip unmeasured seeds as the
    store does, so pandas gets the easier job).
    """
    import numpy as np
    import pandas as pd

    n = rows.size
    fid = np.full(n, fidelity, dtype=np.float64)
    if policy == "mean":
        if metric not in cache:
            cache[metric] = frame[metric].groupby(level=["arch", "fidelity"]).mean()
        key = pd.MultiIndex.from_arrays([rows, fid], names=["arch", "fidelity"])
        return cache[metric].reindex(key).to_numpy()
    if policy == "fixed":
        seed = np.full(n, seeds[0], dtype=np.int64)
    else:
        seed = seeds[rng.integers(0, seeds.size, n)]
    key = pd.MultiIndex.from_arrays([rows, seed, fid], names=INDEX_LEVELS)
    return frame[metric].reindex(key).to_numpy()


def _load(fmt: str, path: Path) -> Any:
    import pandas as pd

    from tabular.store import open_store

    if fmt == "store":
        return open_store(path)
    if fmt == "store-lazy":  # checksum verification deferred to the first array read
        return open_store(path, verify="lazy")
    if fmt == "pickle":
        return pd.read_pickle(path)
    if fmt == "csv":
        return pd.read_csv(path, index_col=INDEX_LEVELS)
    raise ValueError(fmt)


def _query(fmt: str, obj: Any, cache: dict, metric: str, policy: str, rows: Any, fidelity: float,
           seeds: Any, rng: Any) -> Any:
    if fmt.startswith("store"):
        seed = int(seeds[0]) if policy == "fixed" else None
        return obj.query(metric, rows, fidelity=fidelity, seed_policy=policy, seed=seed, rng=rng)
    return _pandas_lookup(obj, cache, metric, policy, rows, fidelity, seeds, rng)


def worker_open(spec: dict[str, Any]) -> dict[str, Any]:
    """One cold-ish load: open/load time, time to the first query, and memory over the baseline."""
    import numpy as np

    fmt, path, metric, fidelity = spec["format"], Path(spec["path"]), spec["metric"], spec["fidelity"]
    seeds = np.asarray(spec["seeds"], dtype=np.int64)
    rows = np.random.default_rng(0).integers(0, spec["n_archs"], FIRST_QUERY_SIZE)
    evicted = _evict(path) if spec["evict"] else False
    base = _proc_status()
    peak_reset = _reset_peak_rss()
    cache: dict = {}
    t0 = time.perf_counter()
    obj = _load(fmt, path)
    t_open = time.perf_counter() - t0
    after_open = _proc_status()
    mean_values = _query(fmt, obj, cache, metric, "mean", rows, fidelity, seeds, None)
    t_first = time.perf_counter() - t0
    after_query = _proc_status()
    fixed_values = _query(fmt, obj, cache, metric, "fixed", rows, fidelity, seeds, None)
    return {
        "open_s": t_open,
        "first_query_s": t_first,
        "evicted": evicted,
        "peak_reset": peak_reset,
        "rss_base": base["VmRSS"],
        "peak_after_open": after_open["VmHWM"] - base["VmRSS"],
        "peak_after_query": after_query["VmHWM"] - base["VmRSS"],
        "anon_after_query": after_query.get("RssAnon", 0) - base.get("RssAnon", 0),
        "file_after_query": after_query.get("RssFile", 0) - base.get("RssFile", 0),
        "check_mean": np.asarray(mean_values, dtype=np.float64).tolist(),
        "check_fixed": np.asarray(fixed_values, dtype=np.float64).tolist(),
    }


def worker_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    """Steady-state lookups per second per seed policy and query size (after one warm-up call)."""
    import numpy as np

    fmt, path, metric, fidelity = spec["format"], Path(spec["path"]), spec["metric"], spec["fidelity"]
    seeds = np.asarray(spec["seeds"], dtype=np.int64)
    obj = _load(fmt, path)
    cache: dict = {}
    _reset_peak_rss()
    base = _proc_status()["VmRSS"]
    results = []
    for size in spec["sizes"]:
        rows = np.random.default_rng(size).integers(0, spec["n_archs"], size)
        for policy in POLICIES:
            rng = np.random.default_rng(1) if policy == "sample" else None
            t0 = time.perf_counter()
            _query(fmt, obj, cache, metric, policy, rows, fidelity, seeds, rng)
            first = time.perf_counter() - t0
            med, times = _median_time(
                lambda policy=policy, rows=rows, rng=rng: _query(
                    fmt, obj, cache, metric, policy, rows, fidelity, seeds, rng
                ),
                spec["repeats"],
            )
            results.append({"policy": policy, "size": size, "first_call_s": first, "median_s": med,
                            "times_s": times, "lookups_per_s": size / med})
        if fmt == "store":
            # Reference: one bare numpy gather from an in-memory float64 vector (what `mean` reduces to).
            vector = np.ascontiguousarray(obj.seed_mean(metric, fidelity))
            med, times = _median_time(lambda vector=vector, rows=rows: vector[rows], spec["repeats"])
            results.append({"policy": "bare numpy gather", "size": size, "first_call_s": med,
                            "median_s": med, "times_s": times, "lookups_per_s": size / med})
    return {"results": results, "peak_rss_delta": _proc_status()["VmHWM"] - base}


def _worker_main(spec_json: str) -> None:
    # Import everything any format needs before measuring, so load times and the memory baseline
    # exclude interpreter and library start-up, which every format pays alike.
    import h5py  # noqa: F401
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    import tabular.store  # noqa: F401

    spec = json.loads(spec_json)
    result = worker_open(spec) if spec["kind"] == "open" else worker_throughput(spec)
    sys.stdout.write(json.dumps(result) + "\n")


def _run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; its last stdout line is the JSON result."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {spec['kind']}/{spec['format']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# preparing the data (main process)
# ---------------------------------------------------------------------------------------------
def _generated_store_data(n_archs: int, seed: int = 0) -> Any:
    """An NB101-sized StoreData: random float64 metrics with NAN_FRACTION of cells unmeasured."""
    import numpy as np

    from tabular.writer import MetricArray, StoreData

    rng = np.random.default_rng(seed)
    shape = (n_archs, len(NB101_SEEDS), len(NB101_FIDELITIES))
    metrics = {}
    for name in NB101_METRICS:
        values = rng.random(shape)
        values[rng.random(shape) < NAN_FRACTION] = np.nan
        metrics[name] = MetricArray(values=values, unit="", higher_is_better=not name.endswith(("loss", "time")))
    return StoreData(
        name="nb101-sized/synthetic",
        search_space="nb101",
        arch_strings=[f"a{i:06d}" for i in range(n_archs)],
        arch_encoding=np.arange(n_archs, dtype=np.int64).reshape(-1, 1),
        fidelities=np.asarray(NB101_FIDELITIES),
        seeds=np.asarray(NB101_SEEDS),
        metrics=metrics,
        cost_metric="train_time",
        provenance={"source": "scripts/bench_store.py synthetic benchmark table"},
    )


def _long_frame(arrays: dict[str, Any], seeds: Any, fidelities: Any) -> Any:
    """Long-format DataFrame, one row per (arch, seed, fidelity), indexed by that MultiIndex."""
    import numpy as np
    import pandas as pd

    n, s, f = next(iter(arrays.values())).shape
    index = pd.MultiIndex.from_arrays(
        [np.repeat(np.arange(n, dtype=np.int64), s * f),
         np.tile(np.repeat(np.asarray(seeds, dtype=np.int64), f), n),
         np.tile(np.asarray(fidelities, dtype=np.float64), n * s)],
        names=INDEX_LEVELS,
    )
    return pd.DataFrame({name: np.asarray(v, dtype=np.float64).reshape(-1) for name, v in arrays.items()}, index=index)


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _write_alternatives(frame: Any, folder: Path, stem: str) -> dict[str, dict[str, Any]]:
    """Save the frame as a pickle and a CSV, timing each write (CSV writing is the slow one)."""
    pkl, csv = folder / f"{stem}.pkl", folder / f"{stem}.csv"
    out = {"pickle": {"path": pkl, "write_s": _timed(lambda: frame.to_pickle(pkl))}}
    log.info("%s: writing CSV of %d rows (slow: float formatting)", stem, len(frame))
    out["csv"] = {"path": csv, "write_s": _timed(lambda: frame.to_csv(csv))}
    return out


def prepare_nb201(folder: Path) -> dict[str, Any]:
    """The real NB201 cifar10 store (converted into NAS_HARNESS_DATA on first use) plus its frames."""
    from harness.benchmarks import ensure_store
    from tabular.store import open_store

    t0 = time.perf_counter()
    path = ensure_store("nb201/cifar10")
    convert_s = time.perf_counter() - t0
    with open_store(path) as store:
        arrays = {m: store.metric_array(m)[()] for m in store.metric_names}
        info = {"n_archs": store.n_archs, "metric": store.valid_metric, "fidelity": float(store.fidelities[-1]),
                "seeds": store.seeds.tolist(), "shape": list(next(iter(arrays.values())).shape)}
        frame = _long_frame(arrays, store.seeds, store.fidelities)
    files = {"store": {"path": path, "write_s": convert_s}}
    files.update(_write_alternatives(frame, folder, "nb201"))
    return {
        **info,
        "files": files,
        "rows": len(frame),
        "note": "store write time = first-use conversion (or 0 if cached)",
    }


def prepare_generated(folder: Path, n_archs: int) -> dict[str, Any]:
    """Write the NB101-sized table with write_store, then the same values as pickle and CSV."""
    import numpy as np

    from tabular.writer import write_store

    data = _generated_store_data(n_archs)
    path = folder / "nb101_sized.h5"
    files = {"store": {"path": path, "write_s": _timed(lambda data=data: write_store(data, path))}}
    frame = _long_frame({k: v.values for k, v in data.metrics.items()}, data.seeds, data.fidelities)
    del data
    files.update(_write_alternatives(frame, folder, "nb101_sized"))
    info = {"n_archs": n_archs, "metric": "valid_acc", "fidelity": NB101_FIDELITIES[-1],
            "seeds": list(NB101_SEEDS), "shape": [n_archs, len(NB101_SEEDS), len(NB101_FIDELITIES)]}
    rows = len(frame)
    del frame
    return {**info, "files": files, "rows": rows, "nan_fraction": NAN_FRACTION, "dtype": str(np.float64)}


# ---------------------------------------------------------------------------------------------
# running and reporting
# ---------------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    import h5py
    import numpy as np
    import pandas as pd

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version, "pandas": pd.__version__,
            "platform": platform.platform()}


def _spec(kind: str, fmt: str, dataset: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "format": fmt, "path": str(dataset["files"][fmt]["path"]), "metric": dataset["metric"],
            "fidelity": dataset["fidelity"], "seeds": dataset["seeds"], "n_archs": dataset["n_archs"], **extra}


def measure_dataset(dataset: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Load runs for every format, throughput for the store and for the pickled frame."""
    import numpy as np

    loads: dict[str, Any] = {}
    for fmt in ("store", "pickle", "csv"):
        runs = cfg["csv_runs"] if fmt == "csv" else cfg["open_runs"]
        log.info("  %s: %d cold-ish load(s)", fmt, runs)
        results = [_run_worker(_spec("open", fmt, dataset, evict=cfg["evict"])) for _ in range(runs)]
        loads[fmt] = results
    agree = {}
    for policy in ("mean", "fixed"):
        ref = np.asarray(loads["store"][0][f"check_{policy}"])
        agree[policy] = all(
            np.allclose(ref, np.asarray(r[f"check_{policy}"]), rtol=1e-12, atol=0, equal_nan=True)
            for fmt in ("pickle", "csv") for r in loads[fmt][:1]
        )
    for runs in loads.values():
        for r in runs:
            r.pop("check_mean"), r.pop("check_fixed")
    log.info("  store throughput, sizes %s", cfg["store_sizes"])
    tput = {
        "store": _run_worker(_spec("throughput", "store", dataset, sizes=cfg["store_sizes"], repeats=cfg["repeats"]))
    }
    log.info("  pandas (pickled frame) throughput, sizes %s", cfg["pandas_sizes"])
    tput["pandas"] = _run_worker(
        _spec("throughput", "pickle", dataset, sizes=cfg["pandas_sizes"], repeats=cfg["pandas_repeats"])
    )
    return {"loads": loads, "throughput": tput, "agree": agree}


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def _s(x: float) -> str:
    return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def _rate(x: float) -> str:
    return f"{x / 1e6:,.1f} M/s"


def render(results: dict[str, Any]) -> str:
    """Markdown: machine, load table, throughput table, targets."""
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']}, "
        f"h5py {m['h5py']} (HDF5 {m['hdf5']}), pandas {m['pandas']}; {m['platform']}",
        f"Cold-ish loads: fresh subprocess, imports excluded, page cache evicted first: {results['config']['evict']}",
        "Load average (1/5/15 min) at start: {:.2f} {:.2f} {:.2f}; at end: {:.2f} {:.2f} {:.2f} "
        "(other processes on the machine disturb timings)".format(
            *results["load_average"]["start"], *results["load_average"]["end"]
        ),
        "",
    ]
    lines += [
        "### Load: open time, time to first query, memory",
        "",
        "| table | format | file MB | write | open/load (median, min–max, n) | open + first query | "
        "RSS baseline MB | peak RSS Δ after open MB | peak RSS Δ after query MB | anon / file RSS Δ after query MB |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, ds in results["datasets"].items():
        for fmt, runs in ds["loads"].items():
            f = ds["files"][fmt]
            opens = [r["open_s"] for r in runs]
            firsts = [r["first_query_s"] for r in runs]
            pick = lambda k, runs=runs: statistics.median(r[k] for r in runs)  # noqa: E731
            lines.append(
                f"| {name} | {fmt} | {f['size'] / 2**20:,.1f} | {_s(f['write_s'])} | "
                f"{_s(statistics.median(opens))} ({_s(min(opens))}–{_s(max(opens))}, {len(opens)}) | "
                f"{_s(statistics.median(firsts))} | {_mb(pick('rss_base'))} | {_mb(pick('peak_after_open'))} | "
                f"{_mb(pick('peak_after_query'))} | {_mb(pick('anon_after_query'))} / {_mb(pick('file_after_query'))} |"
            )
    lines += [""] + [
        f"Writing {name} ({ds['rows']:,} long-format rows): " + ", ".join(
            f"{fmt} {_s(f['write_s'])}" for fmt, f in ds["files"].items())
        + f"; CSV writes {ds['rows'] / ds['files']['csv']['write_s'] / 1e3:,.0f} k rows/s"
        + (" (very slow: pandas formats every float)" if ds["files"]["csv"]["write_s"] > 10 else "")
        for name, ds in results["datasets"].items()
    ]
    lines += ["", f"First query: `mean` policy, {FIRST_QUERY_SIZE:,} random indices, highest fidelity; pandas "
              "first query includes the groupby and building the MultiIndex hash table. Store and pandas values agree: "
              + ", ".join(f"{n}: " + ", ".join(f"{p} {'yes' if ok else 'NO'}" for p, ok in ds["agree"].items())
                          for n, ds in results["datasets"].items()), ""]
    lines += ["### Vectorised query throughput (steady state, median of repeats after a warm-up call)", "",
              "| table | method | policy | indices per call | first call | median call | lookups/s |",
              "|---|---|---|---:|---:|---:|---:|"]
    for name, ds in results["datasets"].items():
        for method, label in (("store", "store.query"), ("pandas", "pandas MultiIndex reindex")):
            for r in ds["throughput"][method]["results"]:
                meth = "numpy" if r["policy"].startswith("bare") else label
                lines.append(f"| {name} | {meth} | {r['policy']} | {r['size']:,} | {_s(r['first_call_s'])} | "
                             f"{_s(r['median_s'])} | {_rate(r['lookups_per_s'])} |")
    lines += [""] + [
        f"Peak RSS over the post-open baseline during the {name} {method} throughput run: "
        f"{_mb(ds['throughput'][method]['peak_rss_delta'])} MB."
        for name, ds in results["datasets"].items() for method in ("store", "pandas")
    ]
    lines += ["", "### Targets", ""]
    for key, verdict in results["targets"].items():
        lines.append(f"- {key}: {verdict}")
    return "\n".join(lines)


def judge_targets(results: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, limit in TARGET_OPEN_S.items():
        if name in results["datasets"]:
            med = statistics.median(r["open_s"] for r in results["datasets"][name]["loads"]["store"])
            out[f"store open < {limit} s ({name})"] = f"{'met' if med < limit else 'MISSED'} ({_s(med)})"
    for name, ds in results["datasets"].items():
        for r in ds["throughput"]["store"]["results"]:
            if r["policy"] in POLICIES and r["size"] == max(x["size"] for x in ds["throughput"]["store"]["results"]):
                ok = r["lookups_per_s"] >= TARGET_LOOKUPS_PER_S
                out[f"≥ 1e7 lookups/s ({name}, {r['policy']}, {r['size']:,} per call)"] = (
                    f"{'met' if ok else 'MISSED'} ({_rate(r['lookups_per_s'])})")
    return out


def _config(quick: bool, evict: bool, n_archs: int | None) -> dict[str, Any]:
    if quick:
        cfg = {"n_archs": NB101_ARCHS // 10, "open_runs": 3, "csv_runs": 1, "repeats": 3, "pandas_repeats": 2,
               "store_sizes": [10**5, 10**6], "pandas_sizes": [10**5]}
    else:
        cfg = {"n_archs": NB101_ARCHS, "open_runs": 5, "csv_runs": 2, "repeats": 5, "pandas_repeats": 3,
               "store_sizes": [10**6, 10**7], "pandas_sizes": [10**6]}
    if n_archs:
        cfg["n_archs"] = n_archs
    cfg["evict"] = evict
    return cfg


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = _config(args.quick, not args.warm, args.n_archs)
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_store_", dir=args.tmp) as tmp:
        folder = Path(tmp)
        os.environ["NAS_HARNESS_DATA"] = str(args.data) if args.data else str(folder / "data")
        datasets: dict[str, dict[str, Any]] = {}
        log.info("preparing nb201 (NAS_HARNESS_DATA=%s)", os.environ["NAS_HARNESS_DATA"])
        datasets["nb201"] = prepare_nb201(folder)
        log.info("preparing nb101-sized table: %d archs x %d seeds x %d fidelities x %d metrics",
                 cfg["n_archs"], len(NB101_SEEDS), len(NB101_FIDELITIES), len(NB101_METRICS))
        datasets["nb101-sized"] = prepare_generated(folder, cfg["n_archs"])
        for name, ds in datasets.items():
            for f in ds["files"].values():
                f["size"] = Path(f["path"]).stat().st_size
            log.info("measuring %s", name)
            ds.update(measure_dataset(ds, cfg))
            for f in ds["files"].values():
                f["path"] = str(f["path"])
    results = {"machine": machine_info(), "config": cfg, "command": " ".join(["python"] + sys.argv),
               "datasets": datasets}
    results["load_average"] = {"start": list(load_before), "end": list(os.getloadavg())}
    results["targets"] = judge_targets(results)
    results["total_s"] = time.perf_counter() - t_start
    results["peak_rss_main"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    results["peak_rss_largest_worker"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return results


def open_cost(args: argparse.Namespace) -> dict[str, Any]:
    """Open time with and without the data checksum check, per store, cold-ish and warm."""
    from harness.benchmarks import ensure_store
    from tabular.store import open_store

    runs = 3 if args.quick else 5
    n_archs = args.n_archs or (NB101_ARCHS // 10 if args.quick else NB101_ARCHS)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_store_", dir=args.tmp) as tmp:
        folder = Path(tmp)
        os.environ["NAS_HARNESS_DATA"] = str(args.data) if args.data else str(folder / "data")
        paths = {}
        for name in OPEN_COST_BENCHMARKS:
            log.info("preparing %s", name)
            paths[name] = ensure_store(name)
        log.info("preparing nb101-sized table: %d archs", n_archs)
        from tabular.writer import write_store

        paths["nb101-sized (generated)"] = write_store(_generated_store_data(n_archs), folder / "nb101_sized.h5")
        for name, path in paths.items():
            with open_store(path, verify="lazy") as store:
                base = {"path": str(path), "metric": store.valid_metric, "fidelity": float(store.fidelities[-1]),
                        "seeds": store.seeds.tolist(), "n_archs": store.n_archs, "kind": "open"}
            row = {"table": name, "n_archs": base["n_archs"], "mb": path.stat().st_size / 2**20}
            for evict in (True, False):
                for fmt in ("store", "store-lazy"):
                    log.info("  %s %s %s: %d loads", name, fmt, "cold-ish" if evict else "warm", runs)
                    results = [_run_worker({**base, "format": fmt, "evict": evict}) for _ in range(runs)]
                    key = f"{fmt}_{'cold' if evict else 'warm'}"
                    row[key] = statistics.median(r["open_s"] for r in results)
                    row[key + "_first"] = statistics.median(r["first_query_s"] for r in results)
                    row[key + "_peak"] = statistics.median(r["peak_after_open"] for r in results)
            rows.append(row)
    return {"machine": machine_info(), "command": " ".join(["python"] + sys.argv), "runs": runs, "rows": rows,
            "load_average": {"start": list(load_before), "end": list(os.getloadavg())}}


def render_open_cost(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']}, h5py {m['h5py']} "
             f"(HDF5 {m['hdf5']}); {m['platform']}",
             "Load average (1/5/15 min) at start: {:.2f} {:.2f} {:.2f}; at end: {:.2f} {:.2f} {:.2f}".format(
                 *results["load_average"]["start"], *results["load_average"]["end"]),
             f"Medians of {results['runs']} loads, each in a fresh subprocess (imports excluded).", "",
             "| table | archs | file MB | open, verified (cold-ish / warm) | open, lazy (cold-ish / warm) | "
             "checksum cost, warm | open + first query, verified (warm) | peak RSS Δ after verified open MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["rows"]:
        lines.append(
            f"| {r['table']} | {r['n_archs']:,} | {r['mb']:,.1f} | {_s(r['store_cold'])} / {_s(r['store_warm'])} | "
            f"{_s(r['store-lazy_cold'])} / {_s(r['store-lazy_warm'])} | "
            f"{_s(max(r['store_warm'] - r['store-lazy_warm'], 0.0))} | {_s(r['store_warm_first'])} | "
            f"{_mb(r['store_warm_peak'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10x smaller generated table, fewer repeats and sizes")
    parser.add_argument("--json", type=Path, help="also write all results to this JSON file")
    parser.add_argument("--data", type=Path, help="NAS_HARNESS_DATA folder holding (or to receive) the NB201 store; "
                        "default: a temporary folder, so the user's cache is never touched")
    parser.add_argument("--tmp", type=Path, help="folder for the temporary benchmark files (default: system temp)")
    parser.add_argument("--n-archs", type=int, help="override the generated table's number of architectures")
    parser.add_argument("--warm", action="store_true", help="do not evict files from the page cache before loads")
    parser.add_argument(
        "--open-cost",
        action="store_true",
        help="only measure what verifying the data checksum adds to "
        "open_store, on real catalogue stores and the generated table",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main(args.worker)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.open_cost:
        results = open_cost(args)
        sys.stdout.write(render_open_cost(results) + "\n")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    results = run(args)
    sys.stdout.write(
        render(results) + f"\n\nTotal benchmark time: {results['total_s']:.0f} s; peak RSS: main process "
        f"{_mb(results['peak_rss_main'])} MB, largest worker {_mb(results['peak_rss_largest_worker'])} MB\n"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
