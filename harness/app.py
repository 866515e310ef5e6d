"""`nas-harness run`: the Hydra app that runs strategy x benchmark x seed grids.

Each Hydra job is one run. The job computes its RUN_ID from the resolved config, skips the run if
a valid result exists, claims the run folder with a lock (so concurrent grids never run it twice),
runs the engine and writes trajectory then manifest atomically. Jobs never raise: a failure is
recorded in the run's manifest and in the grid's ledger, and `run_app` prints every failure with
its log path at the end and exits non-zero.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

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
    result_problem,
    run_id,
    run_lock,
    write_trajectory,
)
from tabular.atomic import atomic_write_bytes
from tabular.hashing import sha256_file

log = logging.getLogger(__name__)
LEDGER_ENV = "NAS_HARNESS_LEDGER"


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
    hc = HydraConfig.get()
    return Path(hc.sweep.dir if hc.mode == RunMode.MULTIRUN else hc.run.dir)


def _record_ledger(entry: dict[str, Any]) -> None:
    """Report a run's outcome to the grid's progress bar and summary (a temporary folder: no fsync)."""
    ledger = os.environ.get(LEDGER_ENV)
    if ledger and Path(ledger).is_dir():
        path = Path(ledger) / f"{entry['run_id']}.{os.getpid()}.json"
        tmp = path.with_name("." + path.name)
        tmp.write_text(json.dumps(entry))
        os.replace(tmp, path)


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
        with run_lock(run_dir) as acquired:
            if not acquired:
                entry["status"] = "running-elsewhere"
                return entry
            if result_problem(run_dir) is None:  # finished by another grid while we waited
                entry["status"] = "skipped"
                return entry
            entry["status"] = _run_into(run_dir, rid, config, overrides)
    except Exception as exc:  # a run must not take the grid down; the ledger reports it
        entry["error"] = f"{type(exc).__name__}: {exc}"
        log.debug("run %s failed", rid, exc_info=True)
    finally:
        try:
            _record_ledger(entry)
        except OSError:
            pass
    return entry


def _run_into(run_dir: Path, rid: str, config: dict[str, Any], overrides: list[str]) -> str:
    handler = logging.FileHandler(run_dir / LOG, mode="w")
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
        trajectory, bench = execute_run(config)
        write_trajectory(run_dir / TRAJECTORY, trajectory)
        manifest.update(
            status="complete",
            benchmark_sha256=bench.store.sha256,
            benchmark_provenance=bench.store.provenance,
            benchmark_path=str(bench.store.path),
            trajectory_sha256=sha256_file(run_dir / TRAJECTORY),
            trajectory_rows=len(trajectory),
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
        atomic_write_bytes(run_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())


register_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    entry = run_job(cfg)
    if HydraConfig.get().mode != RunMode.MULTIRUN and entry["status"] == "failed":
        raise SystemExit(f"nas-harness: error: run failed: {entry['error']} (log: {entry['log']})")


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


def run_app(argv: list[str]) -> int:
    """Entry for `nas-harness run ...`: runs Hydra, then summarises the grid from its ledger."""
    multirun = any(a in ("-m", "--multirun") for a in argv) or any(a.startswith("+experiment") for a in argv)
    with tempfile.TemporaryDirectory(prefix="nas-harness-ledger-") as ledger_dir:
        ledger = Path(ledger_dir)
        os.environ[LEDGER_ENV] = ledger_dir
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
        entries = [json.loads(p.read_text()) for p in sorted(ledger.glob("*.json")) if not p.name.startswith(".")]
    return summarise(entries)


def summarise(entries: list[dict[str, Any]]) -> int:
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["status"]] = counts.get(e["status"], 0) + 1
    if len(entries) > 1 or any(e["status"] != "complete" for e in entries):
        print("runs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), file=sys.stderr)
    failures = [e for e in entries if e["status"] == "failed"]
    for e in failures:
        print(f"FAILED {e['run_id']} [{' '.join(e['overrides'])}]: {e['error']} (log: {e['log']})", file=sys.stderr)
    return 1 if failures else 0
