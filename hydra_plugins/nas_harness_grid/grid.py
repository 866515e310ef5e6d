"""A sweeper and a launcher for large strategy x benchmark x seed grids.

Hydra composes a config per job, which costs ~0.15 s: negligible for a cluster job of minutes,
dominant for a grid of thousands of millisecond runs (the NAS-Bench-201 paper preset has 2,000).
Runs of a grid that differ only in `seed` share one composition here:

- `GridSweeper` is Hydra's basic sweeper, except that it checks one job per distinct non-seed
  override set before launching (Hydra checks every job), that seeds are checked as integers, and
  that it hands the jobs' outcomes (returned by any launcher, remote ones included) to
  `harness.grid.ledger.record_grid`, so the grid's summary and exit code come from the results
  folder. It refuses a `hydra.sweep.dir` that is a file before any job starts.
- `GridLauncher` composes each distinct non-seed override set once, sets `seed` per run, and runs
  the runs in batches on `n_jobs` joblib worker processes, each of which keeps its benchmarks
  loaded. Results are identical to Hydra's joblib launcher (`hydra/launcher=joblib`), which runs
  the same `harness.grid.run_folder.run_config` per job; tests check that.

(No `from __future__ import annotations`: Hydra execs plugin modules outside sys.modules, where
dataclasses cannot resolve string annotations.)
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)
SEED_KEY = "seed"


def _split_seed(overrides: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """(the overrides without `seed=`, the seed's value or None): runs that differ only in seed share a composition."""
    rest, seed = [], None
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and key == SEED_KEY:
            seed = value
        else:
            rest.append(o)
    return tuple(rest), seed


@dataclass
class GridSweeperConf:
    """Config of `hydra/sweeper=grid` (Hydra's basic sweeper's fields)."""
    _target_: str = "hydra_plugins.nas_harness_grid.grid.GridSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP045  (OmegaConf structured configs need typing.Optional)
    params: Optional[Any] = None  # noqa: UP045


class GridSweeper(BasicSweeper):
    """Hydra's basic sweeper that checks one job per seed-less override set and records the grid's runs."""
    def sweep(self, arguments: list[str]) -> Any:
        """Refuse an output path that is a file, run the sweep, then record the grid's runs for the summary."""
        from harness.grid.checks import GridSetupError, check_output_dir, hydra_exit_message
        from harness.grid.ledger import record_grid

        assert self.config is not None
        try:
            check_output_dir(str(self.config.hydra.sweep.dir), "hydra.sweep.dir")
        except GridSetupError as exc:  # SystemExit: Hydra would print an Exception with a traceback
            raise SystemExit(hydra_exit_message(exc)) from None
        returns = super().sweep(arguments)
        record_grid(str(self.config.hydra.sweep.dir), [ret for batch in returns for ret in batch])
        return returns

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Check one composition per seed-less override set, and every seed as an integer (Hydra checks each job)."""
        assert self.hydra_context is not None and self.config is not None
        seen: set[tuple[str, ...]] = set()
        parser = OverridesParser.create()
        for overrides in batch:
            key, seed = _split_seed(overrides)
            if seed is not None:
                value = parser.parse_override(f"{SEED_KEY}={seed}").value()
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"seed must be an integer, got {seed!r}")
            if key not in seen:
                seen.add(key)
                self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))


@dataclass
class GridLauncherConf:
    """Config of `hydra/launcher=grid` (and `local`): worker count and batches per worker."""
    _target_: str = "hydra_plugins.nas_harness_grid.grid.GridLauncher"
    n_jobs: int = -1
    batches_per_worker: int = 4


class GridLauncher(Launcher):
    """Runs a grid's runs in batches on joblib workers, composing each seed-less override set once."""
    def __init__(self, n_jobs: int = -1, batches_per_worker: int = 4) -> None:
        self.n_jobs = n_jobs
        self.batches_per_worker = batches_per_worker
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Keep what Hydra hands a launcher before launching."""
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Compose, batch and run the jobs; return one JobReturn per job carrying its run's ledger entry."""
        from joblib import Parallel, cpu_count, delayed

        from harness.grid.execute import task_config
        from harness.grid.run_folder import run_configs

        assert self.config is not None and self.hydra_context is not None
        composed: dict[tuple[str, ...], DictConfig] = {}
        jobs: list[tuple[dict[str, Any], list[str]]] = []
        root = None
        for overrides in job_overrides:
            key, seed = _split_seed(overrides)
            if key not in composed:
                full = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
                root = root or str(Path(str(full.hydra.sweep.dir)).absolute())
                with open_dict(full):
                    del full["hydra"]
                composed[key] = full
            cfg = composed[key].copy()
            if seed is not None:
                cfg[SEED_KEY] = OverridesParser.create().parse_override(f"{SEED_KEY}={seed}").value()
            jobs.append((task_config(cfg), list(overrides)))
        assert root is not None
        Path(root).mkdir(parents=True, exist_ok=True)
        workers = cpu_count() if self.n_jobs in (-1, None) else max(1, int(self.n_jobs))
        n_batches = max(1, min(len(jobs), workers * max(1, self.batches_per_worker)))
        batches = [jobs[i::n_batches] for i in range(n_batches)]
        log.info("grid launcher: %d runs in %d batches on %d workers", len(jobs), n_batches, workers)
        if workers == 1:
            results = [run_configs(batch, root) for batch in batches]
        else:
            results = Parallel(n_jobs=workers, backend="loky")(delayed(run_configs)(batch, root) for batch in batches)
        by_overrides = {tuple(e["overrides"]): e for batch in results for e in batch}
        returns = []
        for overrides in job_overrides:
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
            ret.return_value = by_overrides[tuple(overrides)]
            returns.append(ret)
        return returns


ConfigStore.instance().store(group="hydra/sweeper", name="grid", node=GridSweeperConf, provider="nas-harness")
ConfigStore.instance().store(group="hydra/launcher", name="grid", node=GridLauncherConf, provider="nas-harness")
