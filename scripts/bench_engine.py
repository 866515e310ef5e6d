"""Benchmark the run engine against hand-written floors, and how strategies scale (issue 20).

Prints, in ONE run (the machine is shared: only ratios from the same run are comparable), CPU time
measured with time.process_time:

(1) Engine vs floors on nb201/cifar10 (seed policy `sample`, one worker, 200 evaluations a run):
    * RS through `run_search` vs a plain-numpy random search: draw 200 rows without repetition,
      sample one of the row's measured seeds each, running max of the values (no trajectory).
    * RE (population 50, sample 10) through `run_search` vs a pure-Python aging evolution over
      the same table as a dict {arch string: per-seed values}: `random` draws, the NB201 string
      mutated by string surgery, a sampled seed, the running best.
    Floors and engine runs alternate in blocks of 10 (`--repeat` of each in all), so that load changes
    on the shared machine weigh on both alike. Goal: RS <= 20x its floor, RE <= 3x its floor.
(2) Growth: per-evaluation CPU at 1,000 and at 10,000 evaluations for TPE, BOHB, NSGA-II (objectives
    valid_acc + params), REINFORCE and Hyperband on nb201/cifar10 (repeats allowed: every strategy
    runs its own course). Per-evaluation CPU at n is measured on the last tenth before n:
    (CPU clock at evaluation n - CPU clock at evaluation 0.9 n) / (0.1 n), both read in ONE run of
    10,000 evaluations (the engine's per-row clock pointed at time.process_time). Goal: ratio (10,000 vs 1,000) <= 1.5.
(3) BANANAS and GP-BO: CPU of runs of 1,000 evaluations (goal <= 60 s each), and their regret at
    100 and 200 evaluations over `--seeds` seeds against today's behaviour (the config keys that
    reproduce it: bananas.max_fit_steps=0, gpbo.max_train=0 with gpbo.refit_every=1), one-sided
    Mann-Whitney U (H1: the new regret is larger); "not worse" when p >= 0.05.

    python scripts/bench_engine.py                 # everything (about 20 min CPU)
    python scripts/bench_engine.py --parts 1 2     # only some parts
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402

from harness.benchmarks import Benchmark, load_benchmark  # noqa: E402
from harness.engine import Budget, run_search  # noqa: E402

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def interleaved(floor: Callable[[], Any], engine: Callable[[], Any], repeat: int,
                block: int = 10) -> tuple[float, float]:
    """Mean CPU seconds per call of each, timed in alternating blocks of `block` calls (floors, engine
    runs, floors, ...) so that a change in the shared machine's load weighs on both alike, while
    each block runs warm as a tight loop would; one warm-up call each first."""
    floor()
    engine()
    spent = [0.0, 0.0]
    for _ in range(max(1, repeat // block)):
        for k, fn in enumerate((floor, engine)):
            start = time.process_time()
            for _ in range(block):
                fn()
            spent[k] += time.process_time() - start
    calls = max(1, repeat // block) * block
    return spent[0] / calls, spent[1] / calls


# -- (1) floors -------------------------------------------------------------------------------------
def numpy_rs_floor(values: np.ndarray, counts: np.ndarray, order: np.ndarray, seed: int, n: int) -> float:
    """Random search in plain numpy: n rows without repetition, one measured seed each, running max."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(values.shape[0], size=n, replace=False)
    rank = np.floor(rng.random(n) * np.maximum(counts[rows], 1)).astype(np.int64)
    picked = values[rows, order[rows, rank]]
    return float(np.fmax.accumulate(picked)[-1])


def _mutate(arch: str, rng: random.Random) -> str:
    """NB201 mutation by string surgery: one of the six ops replaced by a different one."""
    nodes = arch.split("+")
    edges = [node.strip("|").split("|") for node in nodes]
    flat = [(i, j) for i, node in enumerate(edges) for j in range(len(node))]
    i, j = flat[rng.randrange(len(flat))]
    op, src = edges[i][j].split("~")
    edges[i][j] = f"{rng.choice([o for o in OPS if o != op])}~{src}"
    return "+".join("|" + "|".join(node) + "|" for node in edges)


def python_re_floor(table: dict[str, list[float]], archs: list[str], seed: int, n: int,
                    population: int = 50, sample: int = 10) -> float:
    """Aging evolution in pure Python over a dict of per-seed values (NaN seeds dropped beforehand)."""
    rng = random.Random(seed)
    pop: deque[tuple[str, float]] = deque()
    best = -np.inf
    for step in range(n):
        if step < population:
            arch = archs[rng.randrange(len(archs))]
        else:
            parent = max((pop[rng.randrange(len(pop))] for _ in range(sample)), key=lambda p: p[1])
            arch = _mutate(parent[0], rng)
        seeds = table[arch]
        value = seeds[rng.randrange(len(seeds))] if seeds else -np.inf
        best = max(best, value)
        pop.append((arch, value))
        if len(pop) > population:
            pop.popleft()
    return best


def part1(bench: Benchmark, repeat: int) -> None:
    store = bench.store
    fi = len(store.fidelities) - 1
    values = np.asarray(store.metric_array(store.valid_metric)[:, :, fi], dtype=np.float64)
    measured = ~np.isnan(values)
    order = np.argsort(~measured, axis=1, kind="stable")
    counts = measured.sum(axis=1)
    archs = [str(a) for a in store.arch_strings.tolist()]
    table = {a: [float(v) for v in row if v == v] for a, row in zip(archs, values.tolist(), strict=True)}
    seeds = iter(range(10**9))
    n = 200
    hyper = {"population_size": 50, "sample_size": 10}
    floor_rs, engine_rs = interleaved(lambda: numpy_rs_floor(values, counts, order, next(seeds), n),
                                      lambda: run_search(bench, "rs", seed=next(seeds), budget=Budget(evaluations=n)),
                                      repeat)
    floor_re, engine_re = interleaved(lambda: python_re_floor(table, archs, next(seeds), n),
                                      lambda: run_search(bench, "re", seed=next(seeds), budget=Budget(evaluations=n),
                                                         hyperparameters=hyper), repeat)
    print(f"\n(1) engine vs floors, nb201/cifar10, {n} evaluations a run, seed policy sample (CPU ms per run)")
    print(f"    RS  numpy floor {floor_rs * 1e3:8.3f}   run_search {engine_rs * 1e3:8.3f}   "
          f"ratio {engine_rs / floor_rs:6.1f}x  (goal <= 20x)")
    print(f"    RE  Python floor {floor_re * 1e3:7.3f}   run_search {engine_re * 1e3:8.3f}   "
          f"ratio {engine_re / floor_re:6.2f}x  (goal <= 3x; population 50, sample 10)")


# -- (2) growth -------------------------------------------------------------------------------------
# NSGA-II's default `eliminate_duplicates=true` rejects children already evaluated: by 10,000
# evaluations 64 % of NB201 is, and breeding takes ever more tries per child (the definition's cost,
# not the implementation's). The goal is measured with repeats allowed (as issue 20 suggests); the
# default's figure is printed too, as "nsga2-dedup", for information.
GROWTH: dict[str, dict[str, Any]] = {
    "tpe": {},
    "bohb": {},
    "nsga2": {"objectives": ["valid_acc", "params"], "hyperparameters": {"eliminate_duplicates": False}},
    "reinforce": {},
    "hyperband": {},
    "nsga2-dedup": {"objectives": ["valid_acc", "params"]},
}


def run_cpu(bench: Benchmark, strategy: str, n: int, seed: int, **kwargs: Any) -> tuple[float, int]:
    start = time.process_time()
    trajectory = run_search(bench, strategy, seed=seed, budget=Budget(evaluations=n), **kwargs)
    return time.process_time() - start, len(trajectory)


def cpu_clock_run(bench: Benchmark, strategy: str, n: int, seed: int, **kwargs: Any) -> np.ndarray:
    """CPU seconds at each completed evaluation of one run: the engine's per-row clock (`wall_time`,
    time.perf_counter) is pointed at time.process_time for the run, so the column is CPU time."""
    with mock.patch.object(time, "perf_counter", time.process_time):
        trajectory = run_search(bench, strategy, seed=seed, budget=Budget(evaluations=n), **kwargs)
    if len(trajectory) != n:
        print(f"    note: {strategy} seed {seed} stopped at {len(trajectory)} of {n} evaluations "
              f"({trajectory.attrs['stop_reason']})")
    return trajectory["wall_time"].to_numpy()


def window(clock: np.ndarray, n: int) -> float:
    """CPU per evaluation over evaluations (0.9 n, n]."""
    lo = n - n // 10
    return float((clock[n - 1] - clock[lo - 1]) / (n - lo))


def part2(bench: Benchmark, seeds: int, strategies: list[str]) -> None:
    print("\n(2) growth: CPU us per evaluation over evaluations (0.9 n, n] of one 10,000-evaluation run "
          "(median over seeds), nb201/cifar10")
    for strategy in strategies:
        kwargs = GROWTH[strategy]
        at_1k, at_10k, totals = [], [], []
        for seed in range(seeds):
            start = time.process_time()
            clock = cpu_clock_run(bench, strategy.split("-")[0], 10_000, seed, **kwargs)
            totals.append(time.process_time() - start)
            at_1k.append(window(clock, 1_000))
            at_10k.append(window(clock, min(10_000, len(clock))))
        a, b = float(np.median(at_1k)), float(np.median(at_10k))
        goal = "(information)" if "-" in strategy else "(goal <= 1.5)"
        print(f"    {strategy:11s} n=1,000 {a * 1e6:8.1f}   n=10,000 {b * 1e6:8.1f}   ratio {b / a:5.2f}  "
              f"{goal}; whole run {np.median(totals):6.1f} s", flush=True)


# -- (3) BANANAS / GP-BO ----------------------------------------------------------------------------
TODAY = {"bananas": {"max_fit_steps": 0}, "gpbo": {"max_train": 0, "refit_every": 1}}


def regrets(bench: Benchmark, strategy: str, hyper: dict[str, Any], seeds: range, at: tuple[int, ...]) -> np.ndarray:
    out = []
    for seed in seeds:
        traj = run_search(bench, strategy, seed=seed, budget=Budget(evaluations=max(at)), hyperparameters=hyper)
        out.append([traj["regret"].to_numpy()[k - 1] for k in at])
    return np.asarray(out)


def part3(bench: Benchmark, seeds: int, strategies: list[str]) -> None:
    from scipy.stats import mannwhitneyu

    at = (100, 200)
    print(f"\n(3) BANANAS / GP-BO: CPU of 1,000 evaluations; regret at {at} over {seeds} seeds vs today's behaviour")
    for strategy in strategies:
        seconds, got = run_cpu(bench, strategy, 1_000, 0)
        print(f"    {strategy:8s} 1,000 evaluations: {seconds:6.1f} s CPU ({got} evaluations; goal <= 60 s)",
              flush=True)
        new = regrets(bench, strategy, {}, range(seeds), at)
        old = regrets(bench, strategy, TODAY[strategy], range(seeds), at)
        for k, n in enumerate(at):
            p = mannwhitneyu(new[:, k], old[:, k], alternative="greater").pvalue
            same = int(np.sum(new[:, k] == old[:, k]))
            print(f"    {strategy:8s} regret@{n}: new median {np.median(new[:, k]):.4f}, "
                  f"today {np.median(old[:, k]):.4f}; "
                  f"identical in {same}/{seeds} seeds; Mann-Whitney p(new worse) = {p:.3f} "
                  f"({'not worse' if p >= 0.05 else 'WORSE'})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--repeat", type=int, default=300, help="runs of each engine and floor in part 1")
    parser.add_argument("--growth-seeds", type=int, default=3)
    parser.add_argument("--growth", nargs="*", default=list(GROWTH))
    parser.add_argument("--seeds", type=int, default=20, help="seeds of the regret comparison in part 3")
    parser.add_argument("--predictors", nargs="*", default=["bananas", "gpbo"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    bench = load_benchmark("nb201/cifar10")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; CPU time (time.process_time)")
    if 1 in args.parts:
        part1(bench, args.repeat)
    if 2 in args.parts:
        part2(bench, args.growth_seeds, args.growth)
    if 3 in args.parts:
        part3(bench, args.seeds, args.predictors)


if __name__ == "__main__":
    main()
