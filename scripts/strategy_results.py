"""Final regret of every built-in strategy on nb201/cifar10 and nbgraph/cora (docs/STRATEGY_RESULTS.md).

For each (benchmark, strategy, seed) one run of `harness.engine.run_search` with `--evals`
evaluations (default 300), one worker, seed policy `sample` (nbgraph/cora has a single seed, so the
policy makes no difference there). Regret is read at every step of `--steps` (default 100 and 300)
from the same trajectory, so the two columns come from the same runs. Regret is the engine's: the
gap between the benchmark's best seed-mean validation accuracy and the seed-mean validation
accuracy of the incumbent (the architecture with the best *observed*, i.e. seed-sampled, value).

Strategies: the single-objective ones (rs, re, ls, bananas, gpbo, tpe, reinforce) with their
defaults, except that BANANAS on NAS-Bench-Graph uses `encoding=onehot` because that space offers
no path encoding; NSGA-II with objectives valid_acc + params, reported by the same primary-objective
regret and by its hypervolume gap, 1 - HV(front found) / HV(the benchmark's true Pareto front), both
objectives scaled to [0, 1] by their range over the whole space, reference point (1, 1), the found
front valued at its architectures' seed-mean accuracies. Hyperband and BOHB need several
fidelities; these benchmarks have one, so they are not run.

Runs go through joblib (`--jobs`, default 2) with BLAS limited to one thread per process. Raw
per-seed numbers are printed as CSV (stdout) followed by the Markdown table; nothing is written into
the repository. `--time-limit` stops collecting results after that many seconds; the table then
states how many seeds each cell has (the slow strategies are scheduled last, seed by seed, so a
cut leaves them with the first n seeds).

    python scripts/strategy_results.py                      # 50 seeds x 300 evaluations
    python scripts/strategy_results.py --seeds 5 --evals 100 --steps 100   # a quick look
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy loads
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

log = logging.getLogger("strategy_results")

BENCHMARKS = ("nb201/cifar10", "nbgraph/cora")
SINGLE = ("rs", "re", "ls", "bananas", "gpbo", "tpe", "reinforce")
SLOW = ("bananas", "gpbo")  # seconds per run: scheduled last so a time limit cuts only them
MULTI = {"nsga2": ["valid_acc", "params"]}


@dataclass(frozen=True)
class Task:
    bench: str
    strategy: str
    seed: int
    evals: int
    steps: tuple[int, ...]
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    objectives: tuple[str, ...] | None = None


def hyperparameters_for(bench: str, strategy: str) -> dict[str, Any]:
    """Defaults everywhere, except where a space lacks the default encoding (BANANAS' path encoding)."""
    if strategy == "bananas" and bench.startswith("nbgraph/"):
        return {"encoding": "onehot"}
    return {}


def true_front_hv(valid_mean: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(lo, span, hypervolume) of the benchmark's whole table in normalised minimisation form."""
    from harness.report.stats import hypervolume_2d

    pts = np.column_stack([-valid_mean, params])
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return lo, span, hypervolume_2d((pts - lo) / span, np.ones(2))


def run_task(task: Task, data_dir: str) -> dict[str, Any]:
    """One run; returns the regret (and, for multi-objective runs, the hypervolume gap) at each step."""
    os.environ["NAS_HARNESS_DATA"] = data_dir
    from threadpoolctl import threadpool_limits

    from harness.benchmarks import load_benchmark
    from harness.engine import Budget, run_search
    from harness.report.stats import hypervolume_2d

    bench = load_benchmark(task.bench)
    try:
        start = time.perf_counter()
        with threadpool_limits(1):
            traj = run_search(bench, task.strategy, seed=task.seed, budget=Budget(evaluations=task.evals),
                              hyperparameters=task.hyperparameters,
                              objectives=list(task.objectives) if task.objectives else None)
        wall = time.perf_counter() - start
        if len(traj) != task.evals:
            raise RuntimeError(
                f"{task.strategy} on {task.bench} seed {task.seed}: {len(traj)} of {task.evals} evaluations"
            )
        row: dict[str, Any] = {"benchmark": task.bench, "strategy": task.strategy, "seed": task.seed, "wall_s": wall}
        regret = traj["regret"].to_numpy()
        for k in task.steps:
            row[f"regret@{k}"] = float(regret[k - 1])
        if task.objectives:
            store = bench.store
            valid_mean = store.seed_mean(store.valid_metric)
            params = store.static("params")
            lo, span, hv_true = true_front_hv(valid_mean, params)
            rows = traj["arch_index"].to_numpy()
            for k in task.steps:
                seen = np.unique(rows[:k])
                pts = np.column_stack([-valid_mean[seen], params[seen]])
                pts = pts[np.all(np.isfinite(pts), axis=1)]
                row[f"hv_gap@{k}"] = 1.0 - hypervolume_2d((pts - lo) / span, np.ones(2)) / hv_true
        return row
    finally:
        bench.store.close()


def make_tasks(benches: list[str], strategies: list[str], seeds: int, slow_seeds: int, evals: int,
               steps: tuple[int, ...]) -> list[Task]:
    """Fast strategies first; the slow ones last, seed-major, so any cut keeps a prefix of seeds."""
    fast, slow = [], []
    for seed in range(seeds):
        for bench in benches:
            for strategy in strategies:
                if strategy in SLOW:
                    if seed < slow_seeds:
                        slow.append(Task(bench, strategy, seed, evals, steps, hyperparameters_for(bench, strategy)))
                    continue
                objectives = tuple(MULTI[strategy]) if strategy in MULTI else None
                fast.append(Task(bench, strategy, seed, evals, steps, hyperparameters_for(bench, strategy), objectives))
    return fast + slow


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """Mean ± standard error (ddof 1) per (benchmark, strategy), with the seed count."""
    out = []
    for (bench, strategy), g in raw.groupby(["benchmark", "strategy"], sort=False):
        rec: dict[str, Any] = {"benchmark": bench, "strategy": strategy, "n": len(g), "run_s": g["wall_s"].mean()}
        for col in [c for c in raw.columns if "@" in c]:
            vals = g[col].dropna().to_numpy()
            if vals.size:
                rec[col] = vals.mean()
                rec[col + " se"] = vals.std(ddof=1) / np.sqrt(vals.size) if vals.size > 1 else np.nan
        out.append(rec)
    return pd.DataFrame(out)


def markdown(summary: pd.DataFrame, steps: tuple[int, ...]) -> str:
    head = "| benchmark | strategy | seeds | " + " | ".join(f"regret @ {k}" for k in steps) + " | s per run |"
    lines = [head, "|" + "---|" * 3 + "---:|" * (len(steps) + 1)]
    for _, r in summary.iterrows():
        cells = [f"{r[f'regret@{k}']:.3f} ± {r[f'regret@{k} se']:.3f}" for k in steps]
        lines.append(f"| {r.benchmark} | {r.strategy} | {r.n} | " + " | ".join(cells) + f" | {r.run_s:.2f} |")
    hv_cols = [f"hv_gap@{k}" for k in steps]
    multi = summary.dropna(subset=hv_cols) if set(hv_cols) <= set(summary.columns) else summary.iloc[:0]
    if len(multi):
        lines += ["", "| benchmark | strategy | seeds | " + " | ".join(f"HV gap @ {k}" for k in steps) + " |",
                  "|" + "---|" * 3 + "---:|" * len(steps)]
        for _, r in multi.iterrows():
            cells = [f"{r[f'hv_gap@{k}']:.4f} ± {r[f'hv_gap@{k} se']:.4f}" for k in steps]
            lines.append(f"| {r.benchmark} | {r.strategy} | {r.n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--slow-seeds", type=int, help="seeds for bananas and gpbo (default: --seeds)")
    parser.add_argument("--evals", type=int, default=300)
    parser.add_argument("--steps", default="100,300", help="comma-separated evaluation counts to report")
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    parser.add_argument("--strategies", default=",".join([*SINGLE, *MULTI]))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--time-limit", type=float, help="stop collecting results after this many seconds")
    parser.add_argument("--data", type=Path, help="NAS_HARNESS_DATA folder (default: a temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    steps = tuple(int(s) for s in args.steps.split(","))
    if max(steps) > args.evals or min(steps) < 1:
        parser.error(f"--steps must lie in 1..{args.evals}")
    benches = args.benchmarks.split(",")
    strategies = args.strategies.split(",")
    from joblib import Parallel, delayed

    from harness.benchmarks import ensure_store

    with tempfile.TemporaryDirectory(prefix="strategy_results_") as tmp:
        data = str(args.data or Path(tmp) / "data")
        os.environ["NAS_HARNESS_DATA"] = data
        for bench in benches:  # convert once, before the workers start
            ensure_store(bench)
        tasks = make_tasks(benches, strategies, args.seeds,
                           args.seeds if args.slow_seeds is None else args.slow_seeds, args.evals, steps)
        load0 = os.getloadavg()
        log.info("%d runs on %d processes (load average %.2f %.2f %.2f)", len(tasks), args.jobs, *load0)
        start = time.perf_counter()
        rows: list[dict[str, Any]] = []
        results = Parallel(n_jobs=args.jobs, return_as="generator")(delayed(run_task)(t, data) for t in tasks)
        for row in results:
            rows.append(row)
            if len(rows) % 100 == 0:
                log.info("%d/%d runs done (%.0f s)", len(rows), len(tasks), time.perf_counter() - start)
            if args.time_limit is not None and time.perf_counter() - start > args.time_limit:
                log.warning("time limit reached after %d of %d runs; the table counts the seeds that finished",
                            len(rows), len(tasks))
                break
        del results  # aborts the tasks not yet run
        elapsed = time.perf_counter() - start
        load1 = os.getloadavg()
    raw = pd.DataFrame(rows)
    print("# raw per-seed results")
    print(raw.to_csv(index=False, float_format="%.6g"), end="")
    print()
    print(f"# {len(rows)} runs in {elapsed:.0f} s on {args.jobs} processes; load average "
          f"{load0[0]:.2f} at the start, {load1[0]:.2f} at the end")
    print(markdown(summarise(raw), steps))


if __name__ == "__main__":
    main()
