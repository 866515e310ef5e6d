"""`nas-harness run`: the Hydra app that runs strategy x benchmark x seed grids.

Each run (harness.grid.run_folder.run_config) computes its RUN_ID, skips itself when it has a
result, claims the run folder with a lock, runs and writes trajectory then manifest atomically.
Runs never raise: a failure is recorded in the run's manifest. In a grid, a Hydra job is a batch of
runs (harness.grid.batching: the grid sweeper plans the grid in the driver, skips finished runs and
names the batch in `grid.batch_file`); a single run (`nas-harness run` without -m) is one job.

`run_app` checks the command line, output folders and launcher first (harness.grid.checks), runs
Hydra, and closes with a summary read from the results folder (harness.grid.summary): the grid
sweeper (hydra_plugins.nas_harness_grid), which runs in the driver, records which runs the grid had
(Hydra returns each job's outcome to it from any launcher). The driver-local ledger folder
(harness.grid.ledger) only feeds the progress bar, from the workers that can see it.

The names other modules and tests import from here (run_config, execute_run, grid_outcomes, ...)
are re-exported from the harness.grid modules that hold them.
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from harness.config import CONF_DIR, register_configs
from harness.grid.batching import read_batch
from harness.grid.checks import check_launcher, check_output_dirs, normalise_argv
from harness.grid.execute import execute_run, task_config
from harness.grid.ledger import GRID_FILE, LEDGER_ENV, ledger_entries, read_ledger, record_grid, record_ledger
from harness.grid.progress import count_jobs, progress
from harness.grid.run_folder import ELSEWHERE, LockLost, run_config, run_configs
from harness.grid.summary import EXIT_FAILED, EXIT_INCOMPLETE, grid_outcomes, summarise
from harness.results import CLOCK_COLUMN, ONESHOT_METHODS, REAL_CLOCK
from harness.run_lock import lock_timing
from tabular.errors import NasHarnessError

__all__ = [
    "CLOCK_COLUMN", "ELSEWHERE", "EXIT_FAILED", "EXIT_INCOMPLETE", "GRID_FILE", "LEDGER_ENV", "ONESHOT_METHODS",
    "REAL_CLOCK", "LockLost", "NasHarnessError", "count_jobs", "execute_run", "grid_outcomes", "record_grid",
    "record_ledger", "run_app", "run_config", "run_configs", "run_job", "summarise", "task_config",
]


def _results_root() -> Path:
    """The grid's results folder; a relative one is relative to the driver's working directory
    (where Hydra composed the job), not the worker's (a Ray worker runs where `ray start` ran)."""
    from hydra.utils import to_absolute_path

    hc = HydraConfig.get()
    return Path(to_absolute_path(str(hc.sweep.dir if hc.mode == RunMode.MULTIRUN else hc.run.dir)))


def run_job(cfg: DictConfig) -> dict[str, Any] | list[dict[str, Any]]:
    """One Hydra job (any launcher): resolve the config and run it into the results folder.

    A job the grid sweeper made (`grid.batch_file` set, harness.grid.batching) runs a whole batch of
    runs and returns one entry per run.
    """
    batch = OmegaConf.select(cfg, "grid.batch_file", default=None)
    if batch:
        root = _results_root()
        return run_configs(read_batch(root, str(batch)), str(root))
    return run_config(task_config(cfg), list(HydraConfig.get().overrides.task), _results_root())


register_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> dict[str, Any] | list[dict[str, Any]]:
    entry = run_job(cfg)
    if HydraConfig.get().mode != RunMode.MULTIRUN and isinstance(entry, dict) and entry["status"] == "failed":
        where = f" (log: {entry['log']})" if entry["log"] else ""
        raise SystemExit(f"nas-harness: error: run failed: {entry['error']}{where}")
    return entry  # Hydra hands it back to the sweeper in the driver, from any launcher


def run_app(argv: list[str]) -> int:
    """Entry for `nas-harness run ...`: runs Hydra, then summarises the grid from the results folder.

    Returns the exit code (harness.grid.summary): 0 done, 1 a run failed, 3 runs still running
    elsewhere; a user error found before the grid starts raises NasHarnessError (one line).
    """
    lock_timing()  # a bad NAS_HARNESS_LOCK_* setting fails here, before any run starts
    argv, multirun = normalise_argv(argv)
    check_launcher(argv)
    multirun = multirun or any(a.startswith("+experiment") for a in argv)
    check_output_dirs(argv, multirun)
    with tempfile.TemporaryDirectory(prefix="nas-harness-ledger-") as ledger_dir:
        ledger = Path(ledger_dir)
        os.environ[LEDGER_ENV] = ledger_dir
        if multirun:  # also tell workers that Hydra starts apart from us on this host (Ray, submitit)
            argv = [*argv, f"++hydra.job.env_set.{LEDGER_ENV}='{ledger_dir}'"]
        stop = threading.Event()
        watcher = threading.Thread(target=progress, args=(ledger, count_jobs(argv) if multirun else None, stop),
                                   daemon=True)
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
        grid = read_ledger(ledger)
        if grid is not None:
            entries = grid_outcomes(Path(grid["results_root"]), grid["jobs"])
        else:  # one run, or a sweeper other than the grid sweeper: what the workers reported here
            entries = ledger_entries(ledger)
    return summarise(entries)
