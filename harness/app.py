"""`nas-harness run`: the Hydra app that runs strategy x benchmark x seed grids.

Each Hydra job is one run. The job computes its RUN_ID from the resolved config, skips the run if
a valid result exists, claims the run folder with a lock (harness.run_lock: so concurrent grids,
also on other hosts, never run it twice), runs the engine and writes trajectory then manifest
atomically. Jobs never raise: a failure is recorded in the run's manifest.

At the end of a grid, `run_app` prints every failure with its log path and exits non-zero. That
summary is read from the results folder: the grid sweeper (hydra_plugins.nas_harness_grid), which
runs in the driver, records which runs the grid had (Hydra returns each job's outcome to it from
any launcher), and `grid_outcomes` reads those runs' manifests. The driver-local ledger folder
only feeds the progress bar, from the workers that can see it.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterable

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from harness.config import CONF_DIR, register_configs, strategy_hyperparameters
from harness.results import (  # noqa: F401  (CLOCK_COLUMN, REAL_CLOCK, ONESHOT_METHODS: re-exported)
    CLOCK_COLUMN,
    LOG,
    MANIFEST,
    ONESHOT_METHODS,
    REAL_CLOCK,
    TRAJECTORY,
    environment,
    read_manifest,
    result_problem,
    run_id,
    write_trajectory,
)
from harness.run_lock import RunLock, lock_holder, lock_timing, run_lock
from tabular.atomic import atomic_write_bytes
from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file

log = logging.getLogger(__name__)
LEDGER_ENV = "NAS_HARNESS_LEDGER"
GRID_FILE = "grid.jobs"  # in the ledger folder: the grid's runs, written by the grid sweeper in the driver
ELSEWHERE = "running-elsewhere"


class LockLost(RuntimeError):
    """Another process took this run's lock over while it ran (its heartbeat had stalled past the expiry)."""


@functools.lru_cache(maxsize=4)
def _benchmark(name: str):
    """Process-level cache: a worker loads each benchmark once and reuses it for all its runs."""
    from harness.benchmarks import load_benchmark

    return load_benchmark(name)


def task_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved run config as plain data: what RUN_ID hashes and the manifest records."""
    data = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    assert isinstance(data, dict)
    return data


def execute_run(config: dict[str, Any]):
    """Run the engine for one resolved config; returns (trajectory, benchmark)."""
    from harness.engine import Budget, run_search

    bench_cfg, budget_cfg = config["benchmark"], config["budget"]
    strategy, hyper = strategy_hyperparameters(config["strategy"])
    bench = _benchmark(bench_cfg["name"])
    if strategy in ONESHOT_METHODS:
        return _oneshot_trajectory(strategy, bench_cfg["name"], int(config["seed"]), hyper), bench
    trajectory = run_search(
        bench,
        strategy,
        seed=int(config["seed"]),
        budget=Budget(evaluations=budget_cfg.get("evaluations"), sim_seconds=budget_cfg.get("sim_seconds")),
        hyperparameters=hyper,
        n_workers=int(config["n_workers"]),
        seed_policy=str(bench_cfg["seed_policy"]),
        fixed_seed=bench_cfg.get("fixed_seed"),
        objectives=bench_cfg.get("objectives"),
    )
    return trajectory, bench




def _oneshot_trajectory(method: str, benchmark: str, seed: int, params: dict[str, Any]):
    """A one-shot run (harness.oneshot) as a trajectory: one row per epoch (zerocost: per scored
    cell), the picked cell as the incumbent. Its clock is real compute seconds, not simulated time."""
    import numpy as np
    import pandas as pd

    from harness.engine import TRAJECTORY_COLUMNS
    from harness.oneshot import run_oneshot
    from tabular.store import MEAN_SEED

    frame = run_oneshot(method, benchmark, seed, params)
    out = pd.DataFrame({
        "step": frame["epoch"].astype(int), "arch": frame["arch"], "arch_index": frame["arch_index"],
        "fidelity": np.full(len(frame), np.nan), "seed_used": np.full(len(frame), MEAN_SEED), "valid": frame["valid_acc"],
        "valid_mean": frame["valid_mean"], "test_mean": frame["test_mean"], "cost": frame["seconds"].diff().fillna(frame["seconds"]),
        "sim_time": frame["seconds"], "best_valid": frame["valid_acc"], "incumbent_arch": frame["arch"],
        "incumbent_test_mean": frame["test_mean"], "regret": frame["regret"], "wall_time": frame["seconds"],
    }, columns=TRAJECTORY_COLUMNS)
    extras = [c for c in frame.columns if c.startswith("op_") or c in ("train_loss", "train_acc", "valid_loss", "tau", "score")]
    for column in extras:
        out[column] = frame[column].to_numpy()
    out[CLOCK_COLUMN] = REAL_CLOCK  # sim_time holds real compute seconds here; reports label it so
    return out


def _results_root() -> Path:
    """The grid's results folder; a relative one is relative to the driver's working directory
    (where Hydra composed the job), not the worker's (a Ray worker runs where `ray start` ran)."""
    from hydra.utils import to_absolute_path

    hc = HydraConfig.get()
    return Path(to_absolute_path(str(hc.sweep.dir if hc.mode == RunMode.MULTIRUN else hc.run.dir)))


def _write_ledger(name: str, data: Any) -> None:
    """Write `data` as JSON to the grid's ledger folder, if this process sees one (a temporary
    folder: renamed into place so the progress bar never reads half a file, but no fsync)."""
    ledger = os.environ.get(LEDGER_ENV)
    if ledger and Path(ledger).is_dir():
        path = Path(ledger) / name
        tmp = path.with_name("." + path.name)
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)


def _record_ledger(entry: dict[str, Any]) -> None:
    """Report a run's outcome to the grid's progress bar and summary."""
    _write_ledger(f"{entry['run_id']}.{os.getpid()}.json", entry)


def run_job(cfg: DictConfig) -> dict[str, Any]:
    """One Hydra job (any launcher): resolve the config and run it."""
    return run_config(task_config(cfg), list(HydraConfig.get().overrides.task), _results_root())


def run_configs(batch: list[tuple[dict[str, Any], list[str]]], results_root: str) -> list[dict[str, Any]]:
    """Several runs in one worker process (the `grid` launcher's unit of work)."""
    return [run_config(config, overrides, Path(results_root)) for config, overrides in batch]


def run_config(config: dict[str, Any], overrides: list[str], results_root: Path) -> dict[str, Any]:
    """One run of the grid into `results_root/RUN_ID`; never raises (failures are recorded)."""
    rid = run_id(config)
    entry: dict[str, Any] = {"run_id": rid, "overrides": overrides, "status": "failed", "log": "", "error": ""}
    try:
        run_dir = results_root / rid
        entry["log"] = str(run_dir / LOG)
        run_dir.mkdir(parents=True, exist_ok=True)
        if result_problem(run_dir) is None:
            entry["status"] = "skipped"
            return entry
        with run_lock(run_dir) as lock:
            if not lock:
                entry["status"] = ELSEWHERE
                return entry
            if result_problem(run_dir) is None:  # finished by another grid while we waited
                entry["status"] = "skipped"
                return entry
            entry["status"] = _run_into(run_dir, rid, config, overrides, lock)
    except LockLost as exc:  # the taker runs it again and writes its result
        entry["status"], entry["error"] = ELSEWHERE, str(exc)
        log.warning("run %s: %s", rid, exc)
    except Exception as exc:  # a run must not take the grid down; the ledger reports it
        entry["error"] = f"{type(exc).__name__}: {exc}"
        log.debug("run %s failed", rid, exc_info=True)
    finally:
        try:
            _record_ledger(entry)
        except OSError:
            pass
    return entry


def _run_into(run_dir: Path, rid: str, config: dict[str, Any], overrides: list[str], lock: RunLock) -> str:
    """Run while holding `lock`; only a holder that still holds it writes the trajectory and manifest.

    run.log is appended to, so it keeps every attempt (each starts with a `run RUN_ID: ...` line).
    """
    handler = logging.FileHandler(run_dir / LOG, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    manifest: dict[str, Any] = {
        "run_id": rid,
        "status": "running",
        "config": config,
        "overrides": overrides,
        "strategy": config["strategy"]["name"],
        "benchmark": config["benchmark"]["name"],
        "seed": config["seed"],
        "start_time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **environment(),
    }
    # We hold the lock: clear what an earlier, killed attempt may have left (temp files included).
    for leftover in [run_dir / MANIFEST, run_dir / TRAJECTORY, *run_dir.glob(".*.tmp")]:
        leftover.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        log.info("run %s: %s", rid, " ".join(overrides))
        log.info("attempt on host %s, pid %d", manifest["host"], os.getpid())
        trajectory, bench = execute_run(config)
        if not lock.held():
            raise LockLost(f"lock {lock.path} was taken over by another process while this run executed; it writes the result")
        write_trajectory(run_dir / TRAJECTORY, trajectory)
        manifest.update(
            status="complete",
            benchmark_sha256=bench.store.sha256,
            benchmark_provenance=bench.store.provenance,
            benchmark_path=str(bench.store.path),
            trajectory_sha256=sha256_file(run_dir / TRAJECTORY),
            trajectory_rows=len(trajectory),
            stop_reason=trajectory.attrs.get("stop_reason"),
        )
        return "complete"
    except Exception as exc:
        manifest.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        log.error("run %s failed: %s", rid, exc)
        raise
    finally:
        manifest["end_time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        manifest["wall_seconds"] = time.perf_counter() - started
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()
        if lock.held():  # a process that took the lock over owns the folder now: write nothing
            atomic_write_bytes(run_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())


register_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> dict[str, Any]:
    entry = run_job(cfg)
    if HydraConfig.get().mode != RunMode.MULTIRUN and entry["status"] == "failed":
        raise SystemExit(f"nas-harness: error: run failed: {entry['error']} (log: {entry['log']})")
    return entry  # Hydra hands it back to the sweeper in the driver, from any launcher


def record_grid(results_root: str | Path, job_returns: Iterable[Any]) -> None:
    """Called by the grid sweeper in the driver once all jobs returned: note the grid's runs.

    Each Hydra JobReturn carries the entry `run_config` returned on its worker (Ray, Slurm and
    joblib workers send it back), so the driver knows every RUN_ID of the grid without sharing a
    folder with the workers. `run_app` then reads their manifests (`grid_outcomes`).
    """
    jobs = []
    for ret in job_returns:
        value = ret.return_value
        if isinstance(value, dict) and isinstance(value.get("run_id"), str):
            jobs.append({key: value.get(key) for key in ("run_id", "overrides", "status", "error")})
    _write_ledger(GRID_FILE, {"results_root": str(Path(results_root).resolve()), "jobs": jobs})


def grid_outcomes(results_root: Path, jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each run's outcome as its folder under `results_root` shows it (the driver's view).

    The workers' own reports only say which runs the grid had and which were skipped or left to
    another grid: a run counts as complete only when the driver finds a valid result, as failed
    with its manifest's error when the manifest says so, and as failed with the problem otherwise
    (a worker killed before writing, or workers writing to a folder the driver does not see).
    """
    out = []
    for job in jobs:
        rid, reported = job["run_id"], job.get("status")
        run_dir = Path(results_root) / rid
        entry = {"run_id": rid, "overrides": job.get("overrides") or [], "log": str(run_dir / LOG), "error": ""}
        problem = result_problem(run_dir) if run_dir.is_dir() else "no run folder"
        if problem is None:
            entry["status"] = reported if reported in ("skipped", ELSEWHERE) else "complete"
        elif reported == ELSEWHERE and lock_holder(run_dir) is not None:
            entry["status"] = ELSEWHERE
        else:
            entry["status"] = "failed"
            try:
                manifest = read_manifest(run_dir)
            except NasHarnessError:
                manifest = {}
            if manifest.get("status") == "failed":
                entry["error"] = str(manifest.get("error") or "failed (no error recorded)")
            else:
                entry["error"] = f"no result in {run_dir} ({problem}); the worker reported {reported!r}"
                if reported == "complete":
                    entry["error"] += ": is hydra.sweep.dir an absolute path on a file system the workers share?"
        out.append(entry)
    return out


def count_jobs(argv: list[str]) -> int | None:
    """Number of jobs a `-m` sweep will launch (product of the sweep lists), for the progress bar."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in argv if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception:  # Hydra reports the problem itself when it parses the same overrides
        return None
    total = 1
    for override in parsed:
        if override.is_sweep_override():
            total *= len(list(override.sweep_string_iterator()))
    return total


def _progress(ledger: Path, total: int | None, stop: threading.Event) -> None:
    """Progress bar fed by the ledger; reads each entry once (a grid can have thousands)."""
    from tqdm import tqdm

    seen: set[str] = set()
    failed = 0
    with tqdm(total=total, unit="run", desc="grid", file=sys.stderr, disable=None) as bar:
        while True:
            done = stop.is_set()
            new = [p for p in os.scandir(ledger) if p.name.endswith(".json") and not p.name.startswith(".") and p.name not in seen]
            for entry in new:
                seen.add(entry.name)
                try:
                    failed += json.loads(Path(entry.path).read_text())["status"] == "failed"
                except (OSError, ValueError):
                    pass
            if new:
                bar.update(len(new))
                bar.set_postfix(failed=failed, refresh=False)
            if done:
                return
            stop.wait(0.5)


def _check_launcher(argv: list[str]) -> None:
    """One clear line when an optional launcher plugin is missing (Hydra would say far less)."""
    ray = [a for a in argv if a.replace(" ", "") in ("hydra/launcher=ray", "hydra/launcher=ray_cluster", "hydra/launcher=ray_aws")]
    if ray and importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None:
        raise NasHarnessError(f"{ray[0]} needs the Ray launcher plugin: pip install -e \".[ray]\" (from the repository root)")


def run_app(argv: list[str]) -> int:
    """Entry for `nas-harness run ...`: runs Hydra, then summarises the grid from the results folder."""
    lock_timing()  # a bad NAS_HARNESS_LOCK_* setting fails here, before any run starts
    _check_launcher(argv)
    multirun = any(a in ("-m", "--multirun") for a in argv) or any(a.startswith("+experiment") for a in argv)
    with tempfile.TemporaryDirectory(prefix="nas-harness-ledger-") as ledger_dir:
        ledger = Path(ledger_dir)
        os.environ[LEDGER_ENV] = ledger_dir
        if multirun:  # also tell workers that Hydra starts apart from us on this host (Ray, submitit)
            argv = [*argv, f"++hydra.job.env_set.{LEDGER_ENV}='{ledger_dir}'"]
        stop = threading.Event()
        watcher = threading.Thread(target=_progress, args=(ledger, count_jobs(argv) if multirun else None, stop), daemon=True)
        if multirun:
            watcher.start()
        old_argv = sys.argv
        sys.argv = ["nas-harness run", *argv]
        try:
            _hydra_main()
        except SystemExit as exc:
            if exc.code not in (None, 0):
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
                    return 1
                return int(exc.code) if isinstance(exc.code, int) else 1
        finally:
            sys.argv = old_argv
            stop.set()
            if watcher.is_alive():
                watcher.join()
            os.environ.pop(LEDGER_ENV, None)
        grid_file = ledger / GRID_FILE
        if grid_file.is_file():
            grid = json.loads(grid_file.read_text())
            entries = grid_outcomes(Path(grid["results_root"]), grid["jobs"])
        else:  # one run, or a sweeper other than the grid sweeper: what the workers reported here
            entries = [json.loads(p.read_text()) for p in sorted(ledger.glob("*.json")) if not p.name.startswith(".")]
    return summarise(entries)


def summarise(entries: list[dict[str, Any]]) -> int:
    """Print the grid's counts and one FAILED line per failed run (stderr); 1 when any run failed."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    if len(entries) > 1 or any(e["status"] != "complete" for e in entries):
        print("runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), file=sys.stderr)
    failures = [e for e in entries if e["status"] == "failed"]
    for e in failures:
        print(f"FAILED {e['run_id']} [{' '.join(e['overrides'])}]: {e['error']} (log: {e['log']})", file=sys.stderr)
    return 1 if failures else 0
