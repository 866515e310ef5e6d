"""Benchmark the search strategies: their own overhead per ask/tell, and whole runs through the engine.

Measures, in one run:

(a) **Strategy overhead.** Each built-in strategy is driven directly, with one worker, from a
    precomputed answer table, so no benchmark lookup is timed: the seed-mean validation accuracy
    (and training time, and `params` for NSGA-II) of every NB201 cell on nb201/cifar10. Hyperband
    and BOHB need several fidelities, which nb201/cifar10 lacks; they are driven from the synthetic
    multi-fidelity NB201 store of tests/synthetic_benchmarks.py (fidelities 1, 3, 9, 27, 81) instead.
    Only the `ask()` and `tell()` calls are timed (time.perf_counter_ns around each); mapping the
    proposal to its table row and building the Observation are not. Reported: median and mean
    microseconds per ask+tell pair over all steps, and per window of steps (1-50, 51-100, 101-150,
    151-200) to show how the cost grows with the history. Model-based strategies refit only at some
    steps, so their mean is the fairer figure; the median shows the cost of a step without a refit.
(b) **Whole runs.** `harness.engine.run_search` for `--seeds` seeds x `--evals` evaluations per
    strategy on nb201/cifar10 (Hyperband/BOHB: the synthetic store; NSGA-II: objectives valid_acc +
    params), timing the whole call and, inside it, the strategy's ask/tell calls (wrapped with a
    timer, about 0.13 us per call); the engine's overhead is the difference (store queries, seed
    sampling, simulated clock, trajectory rows and the final DataFrame).
    Alternatives, for the simple strategies: a naive pure-Python random search and regularized
    evolution (Python `random`, the NB201 string mutated by string surgery) that look up every
    evaluation in a pandas DataFrame with a (arch, seed) MultiIndex (`df.loc[(arch, seed),
    "valid_acc"]`), as many research scripts do; they record only the best-so-far value.

BLAS is limited to one thread (OMP_NUM_THREADS=1 etc. before numpy loads, and threadpoolctl): the
matrices are tiny, and on a small machine several BLAS threads only oversubscribe the cores.
This is a benchmark, not a test. It uses a temporary NAS_HARNESS_DATA unless --data is given.

    python scripts/bench_strategies.py              # full run
    python scripts/bench_strategies.py --quick      # a few seeds only
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.synthetic_benchmarks builds the multi-fidelity store

from harness import engine  # noqa: E402
from harness.benchmarks import Benchmark, load_benchmark  # noqa: E402
from harness.engine import Budget, run_search  # noqa: E402
from harness.strategies import BUILTIN, Objective, Observation, Problem, make_strategy  # noqa: E402
from tabular.store import open_store  # noqa: E402
from tabular.writer import write_store  # noqa: E402
from tests.synthetic_benchmarks import build_store_data  # noqa: E402

log = logging.getLogger("bench_strategies")

MULTI_FIDELITY = ("hyperband", "bohb")
MULTI_OBJECTIVE = {"nsga2": ("valid_acc", "params")}
SLOW = ("bananas", "gpbo")
WINDOWS = ((1, 50), (51, 100), (101, 150), (151, 200))


# -- answer tables ---------------------------------------------------------------------------------
@dataclass
class Table:
    """Precomputed answers: values[name] is (n_archs, n_fidelities); cost likewise."""

    space: Any
    fidelities: tuple[float, ...]
    values: dict[str, np.ndarray]
    maximize: dict[str, bool]
    cost: np.ndarray

    def problem(self, objectives: tuple[str, ...]) -> Problem:
        objs = tuple(Objective(n, self.maximize[n]) for n in objectives)
        return Problem(objectives=objs, fidelities=self.fidelities, n_workers=1)

    def answer(self, arch: str, fidelity: float | None, objectives: tuple[str, ...]) -> Observation:
        row = self.space.index_of(arch)
        fi = len(self.fidelities) - 1 if fidelity is None else self.fidelities.index(float(fidelity))
        vals = {n: float(self.values[n][row, fi]) for n in objectives}
        return Observation(values=vals, fidelity=self.fidelities[fi], cost=float(self.cost[row, fi]))


def table_from_store(bench: Benchmark) -> Table:
    store = bench.store
    fids = tuple(float(f) for f in store.fidelities)
    values = {m: np.column_stack([store.seed_mean(m, f) for f in fids]) for m in store.metric_names}
    for s in store.static_names:
        values[s] = np.repeat(store.static(s)[:, None], len(fids), axis=1)
    maximize = {m: store.higher_is_better(m) for m in store.metric_names} | {s: False for s in store.static_names}
    return Table(bench.space, fids, values, maximize, values[store.cost_metric])


# -- (a) strategy overhead, driven directly ---------------------------------------------------------
def drive(name: str, table: Table, seed: int, steps: int) -> np.ndarray:
    """Nanoseconds of ask()+tell() for each of `steps` sequential evaluations."""
    objectives = MULTI_OBJECTIVE.get(name, ("valid_acc",))
    strat = make_strategy(name, table.space, table.problem(objectives), np.random.default_rng(seed))
    out = np.empty(steps, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(steps):
        t0 = clock()
        proposal = strat.ask()
        t1 = clock()
        if proposal is None:
            raise RuntimeError(f"{name} returned None with no evaluation pending (step {i + 1})")
        obs = table.answer(proposal.arch, proposal.fidelity, objectives)
        t2 = clock()
        strat.tell(proposal, obs)
        out[i] = (t1 - t0) + (clock() - t2)
    return out


def overhead(names: list[str], tables: dict[str, Table], seeds: dict[str, int], steps: int) -> list[dict[str, Any]]:
    rows = []
    for name in names:
        table = tables["synthetic" if name in MULTI_FIDELITY else "nb201"]
        drive(name, table, 10_000, min(steps, 30))  # warm-up: imports, first-use caches
        per = np.vstack([drive(name, table, s, steps) for s in range(seeds[name])]) / 1000.0  # (seeds, steps) us
        rec: dict[str, Any] = {"strategy": name, "seeds": seeds[name], "steps": steps,
                               "median_us": float(np.median(per)), "mean_us": float(per.mean()),
                               "p90_us": float(np.percentile(per, 90))}
        for lo, hi in WINDOWS:
            if hi <= steps:
                w = per[:, lo - 1:hi]
                rec[f"median_{lo}_{hi}_us"] = float(np.median(w))
                rec[f"mean_{lo}_{hi}_us"] = float(w.mean())
        log.info("overhead %-9s median %8.1f us, mean %9.1f us per ask+tell", name, rec["median_us"], rec["mean_us"])
        rows.append(rec)
    return rows


# -- (b) whole runs through the engine ------------------------------------------------------------
def timed_runs(name: str, bench: Benchmark, seeds: int, evals: int) -> dict[str, Any]:
    """Total seconds of `seeds` run_search calls, and the seconds spent inside ask()/tell()."""
    inside = [0.0]
    real_make = engine.make_strategy

    def timing(method: Callable) -> Callable:
        def wrapped(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return method(*args)
            finally:
                inside[0] += time.perf_counter() - t0
        return wrapped

    def make_timed(*args: Any, **kwargs: Any) -> Any:
        strat = real_make(*args, **kwargs)
        strat.ask, strat.tell = timing(strat.ask), timing(strat.tell)
        return strat

    objectives = list(MULTI_OBJECTIVE[name]) if name in MULTI_OBJECTIVE else None
    run_search(bench, name, seed=10_000, budget=Budget(evaluations=min(evals, 30)), objectives=objectives)  # warm-up
    with mock.patch.object(engine, "make_strategy", make_timed):
        start = time.perf_counter()
        for seed in range(seeds):
            traj = run_search(bench, name, seed=seed, budget=Budget(evaluations=evals), objectives=objectives)
            assert len(traj) == evals, (name, seed, len(traj))
        total = time.perf_counter() - start
    n = seeds * evals
    rec = {"method": name, "benchmark": bench.name, "seeds": seeds, "evals": evals, "total_s": total,
           "strategy_s": inside[0], "engine_s": total - inside[0], "engine_us_per_eval": (total - inside[0]) / n * 1e6,
           "total_us_per_eval": total / n * 1e6}
    log.info("runs %-9s %7.2f s total, %7.2f s in the strategy, engine %.1f us per evaluation",
             name, total, inside[0], rec["engine_us_per_eval"])
    return rec


def nb201_frame(bench: Benchmark) -> pd.DataFrame:
    """The long table a research script would load: one row per (arch string, seed)."""
    store = bench.store
    valid = store.metric_array("valid_acc")[:, :, -1]  # (n, seeds) at 200 epochs
    n, s = valid.shape
    frame = pd.DataFrame({"arch": np.repeat(store.arch_strings, s), "seed": np.tile(store.seeds, n),
                          "valid_acc": valid.reshape(-1)})
    return frame.set_index(["arch", "seed"]).sort_index()


NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def naive_mutate(arch: str, rnd: random.Random) -> str:
    """Change the op of one random edge of an NB201 string, as the NB201 authors' R-EA script does."""
    nodes = [node.strip("|").split("|") for node in arch.split("+")]
    edges = [(i, j) for i, node in enumerate(nodes) for j in range(len(node))]
    i, j = rnd.choice(edges)
    op, source = nodes[i][j].split("~")
    nodes[i][j] = f"{rnd.choice([o for o in NB201_OPS if o != op])}~{source}"
    return "+".join("|" + "|".join(node) + "|" for node in nodes)


def naive_rs(frame: pd.DataFrame, archs: list[str], seeds: list[int], seed: int, evals: int) -> list[float]:
    rnd = random.Random(seed)
    best, curve = -np.inf, []
    for _ in range(evals):
        arch = rnd.choice(archs)
        value = frame.loc[(arch, rnd.choice(seeds)), "valid_acc"]
        best = max(best, value)
        curve.append(best)
    return curve


def naive_re(frame: pd.DataFrame, archs: list[str], seeds: list[int], seed: int, evals: int,
             population_size: int = 10, sample_size: int = 3) -> list[float]:
    rnd = random.Random(seed)
    population: deque[tuple[str, float]] = deque()
    best, curve = -np.inf, []
    for step in range(evals):
        if step < population_size:
            arch = rnd.choice(archs)
        else:
            parent = max((rnd.choice(population) for _ in range(sample_size)), key=lambda m: m[1])
            arch = naive_mutate(parent[0], rnd)
        value = frame.loc[(arch, rnd.choice(seeds)), "valid_acc"]
        population.append((arch, value))
        if len(population) > population_size:
            population.popleft()
        best = max(best, value)
        curve.append(best)
    return curve


def naive_runs(kind: str, bench: Benchmark, seeds: int, evals: int) -> dict[str, Any]:
    frame = nb201_frame(bench)
    archs = bench.store.arch_strings.tolist()
    seed_labels = [int(s) for s in bench.store.seeds]
    loop = naive_rs if kind == "rs" else naive_re
    loop(frame, archs, seed_labels, 10_000, min(evals, 30))  # warm-up
    start = time.perf_counter()
    for seed in range(seeds):
        assert len(loop(frame, archs, seed_labels, seed, evals)) == evals
    total = time.perf_counter() - start
    log.info("naive %s + pandas: %.2f s", kind, total)
    return {"method": f"naive {kind} + pandas .loc", "benchmark": bench.name, "seeds": seeds, "evals": evals,
            "total_s": total, "total_us_per_eval": total / (seeds * evals) * 1e6}


# -- main ----------------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    import h5py
    import sklearn
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "scikit-learn": sklearn.__version__, "h5py": h5py.__version__}


def fmt(us: float) -> str:
    return f"{us:,.1f}" if us < 1000 else f"{us:,.0f}"


def report(res: dict[str, Any]) -> str:
    out = [
        f"machine: {res['machine']}",
        f"load average: {res['load_start']} at the start, {res['load_end']} at the end",
        f"wall time: {res['wall_s']:.0f} s",
        "",
        "### (a) strategy overhead per ask+tell (us)",
        "",
    ]
    windows = [f"{lo}-{hi}" for lo, hi in WINDOWS]
    out.append(
        "| strategy | table | seeds x steps | median | mean | p90 | "
        + " | ".join(f"median / mean, steps {w}" for w in windows)
        + " |"
    )
    out.append("|---|---|---|" + "---:|" * (3 + len(windows)))
    for r in res["overhead"]:
        table = "synthetic MF" if r["strategy"] in MULTI_FIDELITY else "nb201/cifar10"
        cells = [
            f"{fmt(r[f'median_{lo}_{hi}_us'])} / {fmt(r[f'mean_{lo}_{hi}_us'])}" if f"median_{lo}_{hi}_us" in r else "–"
            for lo, hi in WINDOWS
        ]
        out.append(
            f"| {r['strategy']} | {table} | {r['seeds']} x {r['steps']} | "
            f"{fmt(r['median_us'])} | {fmt(r['mean_us'])} | "
            f"{fmt(r['p90_us'])} | " + " | ".join(cells) + " |"
        )
    out += [
        "",
        "### (b) whole runs through run_search",
        "",
        "| method | benchmark | seeds x evals | total s | in strategy s | engine s | engine us/eval | total us/eval |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in res["runs"]:
        strat = f"{r['strategy_s']:.2f}" if "strategy_s" in r else "–"
        eng = f"{r['engine_s']:.2f}" if "engine_s" in r else "–"
        eng_us = f"{r['engine_us_per_eval']:.1f}" if "engine_us_per_eval" in r else "–"
        out.append(
            f"| {r['method']} | {r['benchmark']} | {r['seeds']} x {r['evals']} | "
            f"{r['total_s']:.2f} | {strat} | {eng} | "
            f"{eng_us} | {r['total_us_per_eval']:.1f} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few seeds: a smoke run in well under a minute")
    parser.add_argument("--strategies", default=",".join(BUILTIN), help="comma-separated subset of the built-ins")
    parser.add_argument("--seeds", type=int, help="engine runs per strategy (default 100; --quick 5)")
    parser.add_argument("--slow-seeds", type=int, help="engine runs for bananas and gpbo (default: --seeds)")
    parser.add_argument("--evals", type=int, default=200, help="evaluations per engine run and steps per driven run")
    parser.add_argument("--data", type=Path, help="NAS_HARNESS_DATA folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    names = args.strategies.split(",")
    unknown = sorted(set(names) - set(BUILTIN))
    if unknown:
        parser.error(f"unknown strategies {unknown}; choose from {', '.join(BUILTIN)}")
    seeds = args.seeds or (5 if args.quick else 100)
    slow_seeds = args.slow_seeds or (1 if args.quick else seeds)
    drive_seeds = {n: (1 if n in SLOW else 3) if args.quick else (3 if n in SLOW else 20) for n in names}
    res: dict[str, Any] = {"machine": machine(), "load_start": [round(x, 2) for x in os.getloadavg()],
                           "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "blas_threads": 1}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_strategies_") as tmp, threadpool_limits(1):
        os.environ["NAS_HARNESS_DATA"] = str(args.data or Path(tmp) / "data")
        bench = load_benchmark("nb201/cifar10")
        synthetic_data = build_store_data()
        write_store(synthetic_data, Path(tmp) / "synthetic.h5")
        synth = Benchmark(synthetic_data.name, bench.space, open_store(Path(tmp) / "synthetic.h5"))
        del synthetic_data
        try:
            tables = {"nb201": table_from_store(bench), "synthetic": table_from_store(synth)}
            res["overhead"] = overhead(names, tables, drive_seeds, args.evals)
            runs = []
            for name in names:
                n = slow_seeds if name in SLOW else seeds
                runs.append(timed_runs(name, synth if name in MULTI_FIDELITY else bench, n, args.evals))
                if name in ("rs", "re"):
                    runs.append(naive_runs(name, bench, n, args.evals))
            res["runs"] = runs
        finally:
            bench.store.close()
            synth.store.close()
    res["wall_s"] = time.perf_counter() - start
    res["load_end"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    print(report(res))


if __name__ == "__main__":
    main()
