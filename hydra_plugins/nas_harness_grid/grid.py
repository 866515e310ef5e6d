"""A sweeper and a launcher for large strategy x benchmark x seed grids, on any Hydra launcher.

Hydra composes a config per job, which costs ~0.15 s, and launchers other than ours submit one job
per run (a cluster job costs seconds to start). So:

- `GridSweeper` (the default `hydra/sweeper=grid`) plans the grid in the driver
  (harness.grid.batching): it composes one config per distinct non-seed override set (which checks
  every key and type before anything runs), gives each run its RUN_ID, skips runs that already have a
  valid result before anything is submitted, and hands the rest to the launcher in jobs of
  `grid.batch_size` runs (automatic by default). With our `local` launcher the runs go straight to
  its worker processes; any other launcher (submitit, Slurm, Ray, Hydra's joblib) gets one Hydra job
  per batch, whose only differing override is `grid.batch_file=`. It then records the grid's runs
  (harness.grid.ledger.record_grid), so the closing summary and exit code come from the run folders,
  including runs whose launcher job died. It refuses a `hydra.sweep.dir` that is a file first.
- `GridLauncher` (`hydra/launcher=local`) runs batches on `n_jobs` joblib worker processes, each of
  which keeps its benchmarks loaded. Results are identical to every other launcher's: all of them
  run `harness.grid.run_folder.run_config` per run; tests check that.

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
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
BATCH_OVERRIDE = "grid.batch_file"


def _entry(run: Any, status: Optional[str], error: str = "") -> dict:  # noqa: UP045
    return {"run_id": run.run_id, "overrides": run.overrides, "status": status, "error": error}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


@dataclass
class GridSweeperConf:
    """Config of `hydra/sweeper=grid` (Hydra's basic sweeper's fields; max_batch_size is not used)."""
    _target_: str = "hydra_plugins.nas_harness_grid.grid.GridSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP045  (OmegaConf structured configs need typing.Optional)
    params: Optional[Any] = None  # noqa: UP045


class GridSweeper(BasicSweeper):
    """Plans the grid in the driver, skips finished runs, launches the rest in batches, records the grid's runs."""
    def sweep(self, arguments: list[str]) -> Any:
        """Refuse an output path that is a file, then plan, launch and record the grid (a user error is one line)."""
        from harness.grid.checks import GridSetupError, check_output_dir, hydra_exit_message

        assert self.config is not None
        try:
            check_output_dir(str(self.config.hydra.sweep.dir), "hydra.sweep.dir")
            return self._sweep(arguments)
        except GridSetupError as exc:  # SystemExit: Hydra would print an Exception with a traceback
            raise SystemExit(hydra_exit_message(exc)) from None

    def _sweep(self, arguments: list[str]) -> list[dict]:
        from harness.grid.batching import has_result, plan_grid
        from harness.grid.ledger import record_grid

        assert self.config is not None and self.hydra_context is not None and self.launcher is not None
        params = [*self._parse_config(), *arguments]
        parsed = OverridesParser.create(config_loader=self.hydra_context.config_loader).parse_overrides(params)
        job_overrides = self.split_arguments(parsed, None)[0]
        root = Path(str(self.config.hydra.sweep.dir)).absolute()
        root.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, root / "multirun.yaml")
        config_loader, master = self.hydra_context.config_loader, self.config
        plan = plan_grid(job_overrides, lambda overrides: config_loader.load_sweep_config(master, overrides))
        entries: list[Optional[dict]] = [None] * len(plan.runs)  # noqa: UP045
        pending = []
        for i, run in enumerate(plan.runs):
            if has_result(root / run.run_id):
                entries[i] = _entry(run, "skipped")
            else:
                pending.append(i)
        log.info("grid: %d runs, %d already done, %d to run", len(plan.runs), len(plan.runs) - len(pending),
                 len(pending))
        if pending:
            runs = [plan.runs[i] for i in pending]
            if isinstance(self.launcher, GridLauncher):
                done = self.launcher.run_batches(plan, runs, root)
            else:
                done = self._launch_batches(plan, runs, root)
            for i, entry in zip(pending, done, strict=True):
                entries[i] = entry
        final = [e for e in entries if e is not None]
        record_grid(str(root), final)
        return final

    def _launch_batches(self, plan: Any, runs: list, root: Path) -> list[dict]:
        """One Hydra job per batch on the configured launcher; runs whose job did not return keep an error."""
        from harness.grid.batching import auto_batch_size, chunks, remove_batches, write_batches

        assert self.launcher is not None
        size = plan.batch_size or auto_batch_size(len(runs))
        batches = chunks(runs, size)
        names = write_batches(root, plan, batches)
        base = [o for o in runs[0].overrides if not o.startswith(BATCH_OVERRIDE + "=")]
        log.info("grid: %d runs in %d launcher jobs of up to %d runs", len(runs), len(batches), size)
        returns: Sequence[JobReturn] = []
        failure: Optional[BaseException] = None  # noqa: UP045
        try:
            returns = self.launcher.launch([[*base, f"{BATCH_OVERRIDE}={n}"] for n in names], initial_job_idx=0)
        except Exception as exc:  # e.g. submitit: a job killed at its time limit; the summary lists its runs
            failure = exc
            log.error("grid: the launcher failed: %s", _first_line(exc))
        finally:
            remove_batches(root, names)
        out = []
        for i, batch in enumerate(batches):
            ret = returns[i] if i < len(returns) else None
            value = getattr(ret, "_return_value", None)
            if ret is not None and ret.status == JobStatus.COMPLETED and isinstance(value, list) \
                    and len(value) == len(batch):
                out.extend(value)
                continue
            cause = value if isinstance(value, BaseException) else failure
            why = f"its launcher job (batch {i}) did not return" + (f": {_first_line(cause)}" if cause else "")
            out.extend(_entry(run, None, why) for run in batch)
        return out


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
        self.config: Optional[DictConfig] = None  # noqa: UP045
        self.hydra_context: Optional[HydraContext] = None  # noqa: UP045
        self.task_function: Optional[TaskFunction] = None  # noqa: UP045

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """Keep what Hydra hands a launcher before launching."""
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def run_batches(self, plan: Any, runs: list, root: Path) -> list[dict]:
        """Run `runs` (planned by harness.grid.batching.plan_grid) in batches on the workers; one entry per run.

        Batches take every k-th run (mixing strategies, so workers finish together): `grid.batch_size`
        runs each when it is set, else `n_jobs` x `batches_per_worker` batches.
        """
        from joblib import Parallel, cpu_count, delayed

        from harness.grid.run_folder import run_configs

        workers = cpu_count() if self.n_jobs in (-1, None) else max(1, int(self.n_jobs))
        if plan.batch_size:
            n_batches = -(-len(runs) // plan.batch_size)
        else:
            n_batches = max(1, min(len(runs), workers * max(1, self.batches_per_worker)))
        order = [list(range(i, len(runs), n_batches)) for i in range(n_batches)]
        batches = [plan.batch([runs[j] for j in idx]) for idx in order]
        log.info("grid launcher: %d runs in %d batches on %d workers", len(runs), n_batches, workers)
        if workers == 1 or n_batches == 1:
            results = [run_configs(batch, str(root)) for batch in batches]
        else:
            results = Parallel(n_jobs=workers, backend="loky")(delayed(run_configs)(b, str(root)) for b in batches)
        out: list[dict] = [{}] * len(runs)
        for idx, entries in zip(order, results, strict=True):
            for j, entry in zip(idx, entries, strict=True):
                out[j] = entry
        return out

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Launcher API (e.g. under `hydra/sweeper=basic`): plan, batch and run the jobs; one JobReturn per job."""
        from harness.grid.batching import plan_grid

        assert self.config is not None and self.hydra_context is not None
        root = Path(str(self.config.hydra.sweep.dir)).absolute()
        root.mkdir(parents=True, exist_ok=True)
        loader, master = self.hydra_context.config_loader, self.config
        plan = plan_grid(job_overrides, lambda overrides: loader.load_sweep_config(master, overrides))
        entries = self.run_batches(plan, plan.runs, root)
        returns = []
        for overrides, entry in zip(job_overrides, entries, strict=True):
            ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
            ret.return_value = entry
            returns.append(ret)
        return returns


ConfigStore.instance().store(group="hydra/sweeper", name="grid", node=GridSweeperConf, provider="nas-harness")
ConfigStore.instance().store(group="hydra/launcher", name="grid", node=GridLauncherConf, provider="nas-harness")
