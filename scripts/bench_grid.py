"""Benchmark the grid machinery: a 4,500-run NB201 grid end to end, and the per-run overhead.

The grid is RS, RE and REINFORCE x nb201/cifar10, cifar100, imagenet16-120 x 500 seeds within
200,000 simulated seconds (the first form of the NB201 paper preset; the preset now follows the
paper more closely, see docs/EXPERIMENTS.md, and this grid is kept so the figures stay comparable).

Measures, in one run:
1. seconds for that grid (4,500 runs) with 1 worker and with 2;
2. per-run cost of the same configurations three ways: the engine called in a loop (no files),
   the grid with nas-harness's batched launcher, and the grid with Hydra's own joblib launcher
   (one config composition per run), on a smaller sub-grid so the slow path stays affordable.

This is a benchmark, not a test. It uses a temporary NAS_HARNESS_DATA unless --data is given.

    python scripts/bench_grid.py            # full (about 3 minutes on 2 cores)
    python scripts/bench_grid.py --quick    # 50 seeds instead of 500
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ["run", "-m", "strategy=rs,re,reinforce", "benchmark=nb201/cifar10,nb201/cifar100,nb201/imagenet16-120",
        "budget=sim_time", "budget.evaluations=null", "budget.sim_seconds=200000"]


def nas(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed: nas-harness {' '.join(args)}\n{proc.stderr[-2000:]}")
    return elapsed


def engine_loop(seeds: int, env: dict[str, str]) -> float:
    """The same runs as the grid, through run_search in one process, writing nothing."""
    code = f"""
import time
from harness.benchmarks import load_benchmark
from harness.engine import Budget, run_search
benches = {{n: load_benchmark(n) for n in ("nb201/cifar10", "nb201/cifar100", "nb201/imagenet16-120")}}
start = time.perf_counter()
for strategy in ("rs", "re", "reinforce"):
    for bench in benches.values():
        for seed in range({seeds}):
            run_search(bench, strategy, seed=seed, budget=Budget(sim_seconds=200000.0))
print(time.perf_counter() - start)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", help="NAS_HARNESS_DATA folder (default: a temporary one)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    seeds = 50 if args.quick else 500
    small = 20
    with tempfile.TemporaryDirectory(prefix="bench_grid_") as tmp:
        env = dict(os.environ, NAS_HARNESS_DATA=args.data or str(Path(tmp) / "data"))
        for ds in ("cifar10", "cifar100", "imagenet16-120"):  # convert once, outside the timings
            nas(["query", f"nb201/{ds}"], env)
        preset = [*GRID, f"seed=range(0,{seeds})"]
        results: dict[str, float] = {}
        results["preset_1_worker_s"] = nas([*preset, f"hydra.sweep.dir={tmp}/w1", "hydra.launcher.n_jobs=1"], env)
        results["preset_2_workers_s"] = nas([*preset, f"hydra.sweep.dir={tmp}/w2", "hydra.launcher.n_jobs=2"], env)
        results["preset_resume_s"] = nas([*preset, f"hydra.sweep.dir={tmp}/w2", "hydra.launcher.n_jobs=2"], env)
        n_runs = 9 * seeds
        results["engine_loop_s"] = engine_loop(seeds, env)
        sub = [*GRID, f"seed=range(0,{small})"]
        results["small_grid_batched_s"] = nas([*sub, f"hydra.sweep.dir={tmp}/sb", "hydra.launcher.n_jobs=1"], env)
        results["small_grid_hydra_joblib_s"] = nas(
            [*sub, f"hydra.sweep.dir={tmp}/sj", "hydra/launcher=joblib", "hydra.launcher.n_jobs=1", "hydra/sweeper=basic"], env
        )
    n_small = 9 * small
    per_run = {
        "engine only (ms/run)": 1000 * results["engine_loop_s"] / n_runs,
        "grid, batched launcher, 1 worker (ms/run)": 1000 * results["preset_1_worker_s"] / n_runs,
        "grid, batched launcher, 2 workers (ms/run)": 1000 * results["preset_2_workers_s"] / n_runs,
        "grid overhead over the engine, 1 worker (ms/run)": 1000 * (results["preset_1_worker_s"] - results["engine_loop_s"]) / n_runs,
        "small grid, batched launcher (ms/run)": 1000 * results["small_grid_batched_s"] / n_small,
        "small grid, Hydra joblib launcher + basic sweeper (ms/run)": 1000 * results["small_grid_hydra_joblib_s"] / n_small,
    }
    print(f"| measurement ({n_runs} runs = 3 strategies x 3 datasets x {seeds} seeds) | seconds |")
    print("|---|---|")
    for key, value in results.items():
        print(f"| {key} | {value:.1f} |")
    print()
    print("| per run | ms |")
    print("|---|---|")
    for key, value in per_run.items():
        print(f"| {key} | {value:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"seconds": results, "per_run_ms": per_run, "runs": n_runs}, indent=2))


if __name__ == "__main__":
    main()
