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

Cluster-scale figures (CPU time, from the operating system's accounting of the `nas-harness run`
process and everything it waited for; wall time on a shared machine is noise):

    python scripts/bench_grid.py --bookkeeping   # grid CPU per run beyond the engine (500 tiny runs)
    python scripts/bench_grid.py --submitit      # submitit_local: jobs submitted, CPU and files per job
    python scripts/bench_grid.py --ray           # Ray: the driver's CPU per run (joins a local 2-CPU cluster)

`--code DIR` runs another checkout's code (e.g. `git archive HEAD | tar -x -C /tmp/before`) for a
before/after comparison in one session.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ["run", "-m", "strategy=rs,re,reinforce", "benchmark=nb201/cifar10,nb201/cifar100,nb201/imagenet16-120",
        "budget=sim_time", "budget.evaluations=null", "budget.sim_seconds=200000"]


TINY = ["budget.evaluations=2", "hydra.launcher.n_jobs=1"]
CODE_ENV = "NAS_BENCH_CODE"  # --code: the checkout whose code runs (its folder is the working directory)


def cpu_of(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(CPU seconds, wall seconds, stderr) of `nas-harness ARGS` and every process it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=env.get(CODE_ENV, ROOT), env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"command failed: nas-harness {' '.join(args)}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, proc.stderr


def engine_cpu_per_run(runs: int, env: dict[str, str]) -> float:
    """CPU seconds per tiny run of the engine alone (execute_run on the grid's resolved configs, no files)."""
    code = f"""
import time
from hydra import compose, initialize_config_dir
from harness.config import CONF_DIR, register_configs
from harness.grid.execute import execute_run, task_config
register_configs()
with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
    base = task_config(compose("config", overrides=["budget.evaluations=2"]))
base.pop("hydra", None); base.pop("grid", None)
execute_run(dict(base, seed=0))
start = time.process_time()
for seed in range({runs}):
    execute_run(dict(base, seed=seed))
print((time.process_time() - start) / {runs})
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=env.get(CODE_ENV, ROOT), env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def digest_cpu_per_run(root: Path, env: dict[str, str]) -> float:
    """CPU seconds per run of the table `nas-harness run` prints at the end (it reads every run's trajectory);
    0 for code without it."""
    code = f"""
import time
from pathlib import Path
try:
    from harness.grid.digest import grid_lines
except ImportError:
    print(0.0)
else:
    dirs = [d for d in Path({str(root)!r}).iterdir() if d.is_dir() and not d.name.startswith(".")]
    start = time.process_time()
    grid_lines(dirs)
    print((time.process_time() - start) / len(dirs))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=env.get(CODE_ENV, ROOT), env=env, capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bookkeeping(env: dict[str, str], tmp: str, runs: int, repeats: int) -> dict[str, float]:
    """Grid CPU per run beyond the engine: (CPU(N runs) - CPU(10 runs)) / (N - 10) - engine CPU per run.

    Subtracting a 10-run grid removes the start-up (imports, composition); one worker, tiny runs
    (budget.evaluations=2), so what is left per run is files, manifest, lock, ledger and launcher work.
    """
    small = 10
    best: dict[str, float] = {}
    for r in range(repeats):
        big, _, _ = cpu_of(["run", "-m", f"seed=range(0,{runs})", *TINY, f"hydra.sweep.dir={tmp}/bk{r}"], env)
        base, _, _ = cpu_of(["run", "-m", f"seed=range(0,{small})", *TINY, f"hydra.sweep.dir={tmp}/bs{r}"], env)
        resume, _, _ = cpu_of(["run", "-m", f"seed=range(0,{runs})", *TINY, f"hydra.sweep.dir={tmp}/bk{r}"], env)
        engine = engine_cpu_per_run(runs, env)
        table = digest_cpu_per_run(Path(tmp) / f"bk{r}", env)
        figures = {
            "grid CPU per run (ms)": 1000 * (big - base) / (runs - small),
            "engine CPU per run (ms)": 1000 * engine,
            "bookkeeping CPU per run (ms)": 1000 * ((big - base) / (runs - small) - engine),
            "of which the closing table of results, harness.grid.digest (ms)": 1000 * table,
            "bookkeeping CPU per run without that table (ms)": 1000 * ((big - base) / (runs - small) - engine - table),
            f"resume of the {runs}-run grid, all done (CPU s)": resume,
            f"a fresh {small}-run grid (CPU s)": base,
            "whole grid CPU (s)": big,
        }
        for key, value in figures.items():
            best[key] = min(best.get(key, value), value)
    return best


def submitit(env: dict[str, str], tmp: str, runs: int) -> dict[str, float]:
    """submitit_local: the same grid in one job and in one job per run (`grid.batch_size=1`, what every
    launcher but the local one did before batching), its resume, and the CPU and files each job costs."""
    grid = ["run", "-m", "hydra/launcher=submitit_local", "budget.evaluations=2", "hydra.launcher.timeout_min=10",
            f"seed=range(0,{runs})"]
    out: dict[str, float] = {}
    for name, size in (("one job", runs), ("one job per run", 1)):
        folder = Path(tmp) / f"submitit_{size}"
        cpu, wall, _ = cpu_of([*grid, f"grid.batch_size={size}", f"hydra.sweep.dir={folder}"], env)
        jobs = [d for d in (folder / ".submitit").iterdir() if d.is_dir() and d.name != "%j"]
        out[f"{name}: jobs"] = len(jobs)
        out[f"{name}: CPU (s)"] = cpu
        out[f"{name}: wall (s)"] = wall
        out[f"{name}: submitit files per job (KB)"] = sum(
            f.stat().st_size for d in jobs for f in d.iterdir()) / 1024 / max(1, len(jobs))
        cpu, wall, _ = cpu_of([*grid, f"grid.batch_size={size}", f"hydra.sweep.dir={folder}"], env)
        after = [d for d in (folder / ".submitit").iterdir() if d.is_dir() and d.name != "%j"]
        out[f"{name}: resume, jobs submitted"] = len(after) - len(jobs)
        out[f"{name}: resume CPU (s)"] = cpu
    out["CPU per job (s)"] = (out["one job per run: CPU (s)"] - out["one job: CPU (s)"]) / (runs - 1)
    out["wall per job, 2 cores (s)"] = (out["one job per run: wall (s)"] - out["one job: wall (s)"]) / (runs - 1)
    return out


def ray_driver(env: dict[str, str], tmp: str, sizes: tuple[int, int]) -> dict[str, float]:
    """The Ray driver's CPU: grids of two sizes joining a local 2-CPU cluster started here."""
    import ray

    env = {**env, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0", "RAY_AUTH_MODE": "disabled"}
    os.environ.update(env)  # what the cluster's workers inherit (NAS_HARNESS_DATA)
    context = ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20,
                       configure_logging=False, log_to_driver=False)
    try:
        address = context.address_info["gcs_address"]
        out: dict[str, float] = {}
        for n in sizes:
            cpu, wall, _ = cpu_of(["run", "-m", f"seed=range(0,{n})", "budget.evaluations=2",
                                   "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={address}",
                                   f"hydra.sweep.dir={tmp}/ray{n}"], env)
            out[f"{n} runs: driver CPU (s)"] = cpu
            out[f"{n} runs: wall (s)"] = wall
            out[f"{n} runs: driver CPU per run (ms)"] = 1000 * cpu / n
        a, b = sizes
        out["driver CPU per additional run (ms)"] = 1000 * (out[f"{b} runs: driver CPU (s)"]
                                                            - out[f"{a} runs: driver CPU (s)"]) / (b - a)
        return out
    finally:
        ray.shutdown()


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
    parser.add_argument("--bookkeeping", action="store_true", help="grid CPU per run beyond the engine")
    parser.add_argument("--submitit", action="store_true", help="jobs and per-job cost on submitit_local")
    parser.add_argument("--ray", action="store_true", help="the Ray driver's CPU per run")
    parser.add_argument("--runs", type=int, default=500, help="runs of the --bookkeeping grid (default 500)")
    parser.add_argument("--repeats", type=int, default=2, help="--bookkeeping repeats; the best is kept")
    parser.add_argument("--code", help="run this checkout's code instead (PYTHONPATH), for before/after")
    args = parser.parse_args()
    if args.bookkeeping or args.submitit or args.ray:
        cluster_figures(args)
        return
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
            [*sub, f"hydra.sweep.dir={tmp}/sj", "hydra/launcher=joblib", "hydra.launcher.n_jobs=1",
             "hydra/sweeper=basic"], env,
        )
    n_small = 9 * small
    per_run = {
        "engine only (ms/run)": 1000 * results["engine_loop_s"] / n_runs,
        "grid, batched launcher, 1 worker (ms/run)": 1000 * results["preset_1_worker_s"] / n_runs,
        "grid, batched launcher, 2 workers (ms/run)": 1000 * results["preset_2_workers_s"] / n_runs,
        "grid overhead over the engine, 1 worker (ms/run)":
            1000 * (results["preset_1_worker_s"] - results["engine_loop_s"]) / n_runs,
        "small grid, batched launcher (ms/run)": 1000 * results["small_grid_batched_s"] / n_small,
        "small grid, Hydra joblib launcher + basic sweeper (ms/run)":
            1000 * results["small_grid_hydra_joblib_s"] / n_small,
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


def cluster_figures(args: argparse.Namespace) -> None:
    """--bookkeeping / --submitit / --ray: print one table of CPU figures."""
    with tempfile.TemporaryDirectory(prefix="bench_grid_") as tmp:
        env = dict(os.environ, NAS_HARNESS_DATA=args.data or str(Path(tmp) / "data"), OMP_NUM_THREADS="1")
        if args.code:
            env[CODE_ENV] = env["PYTHONPATH"] = str(Path(args.code).resolve())
        nas(["query", "nb201/cifar10"], env)  # convert once, outside the timings
        figures: dict[str, float] = {}
        if args.bookkeeping:
            figures.update(bookkeeping(env, tmp, args.runs, args.repeats))
        if args.submitit:
            figures.update(submitit(env, tmp, 20))
        if args.ray:
            figures.update(ray_driver(env, tmp, (40, 240)))
    print(f"| measurement ({args.code or 'this checkout'}) | value |")
    print("|---|---|")
    for key, value in figures.items():
        print(f"| {key} | {value:.3g} |")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
