"""`hydra/launcher=ray_cluster`: the Ray plugin's launcher, with a one-line error for a cluster it cannot reach,
and a lean path for the grid sweeper's batch jobs.

With `hydra.launcher.ray.init.address=auto` (or `ray://...`, or RAY_ADDRESS) and no cluster there,
`ray.init` raises ConnectionError, which Hydra would print as a traceback; here it becomes one line
that says what to do (a SystemExit, which Hydra lets through to run_app; see
harness.grid.checks.GridSetupError). Nothing has run at that point (ray.init comes first in the
plugin's launch).

Batch jobs (harness.grid.batching: jobs that differ only in `grid.batch_file=`) are composed once,
not once per job, and the arguments every task shares (Hydra's context, the task function, Hydra's
singletons) are put into Ray's object store once, not pickled into every task: the plugin's own
launch spends ~0.35 s of driver CPU per job on those. Other jobs go through the plugin's launch.

The class exists only when the Ray plugin is installed (`pip install -e ".[ray]"`); Hydra imports
every module of hydra_plugins, so this one must import without it. (No `from __future__ import
annotations`: Hydra execs plugin modules outside sys.modules.)
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from hydra.core.utils import JobReturn
from omegaconf import OmegaConf, open_dict

BATCH_OVERRIDE = "grid.batch_file="

try:
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher
except ImportError:  # the optional plugin is not installed: harness.grid.checks says which extra to install
    RayLauncher = None  # type: ignore[assignment,misc]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


def batch_values(job_overrides: Sequence[Sequence[str]]) -> Optional[list[str]]:  # noqa: UP045
    """Each job's `grid.batch_file` value when the jobs differ in nothing else (the grid sweeper's batch jobs)."""
    values, rest0 = [], None
    for overrides in job_overrides:
        batch = [o for o in overrides if o.startswith(BATCH_OVERRIDE)]
        rest = [o for o in overrides if not o.startswith(BATCH_OVERRIDE)]
        if len(batch) != 1 or (rest0 is not None and rest != rest0):
            return None
        rest0 = rest
        values.append(batch[0][len(BATCH_OVERRIDE):])
    return values or None


if RayLauncher is not None:

    class CheckedRayLauncher(RayLauncher):  # type: ignore[misc,valid-type]
        """RayLauncher whose connection failures are one line that says what to do."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
            """The plugin's launch, with a connection failure turned into one line (SystemExit) that says what to do."""
            from harness.grid.checks import GridSetupError, hydra_exit_message

            try:
                batches = batch_values(job_overrides)
                if batches is None:
                    return super().launch(job_overrides, initial_job_idx)
                return self._launch_batches(job_overrides, batches, initial_job_idx)
            except ConnectionError as exc:
                address: str | None = None
                try:
                    address = self.ray_cfg.init.get("address")
                except Exception:  # the address is only for the message
                    pass
                error = GridSetupError(
                    "hydra/launcher=ray_cluster could not reach a Ray cluster "
                    f"(address {address or 'from RAY_ADDRESS'}): "
                    f"{_first_line(exc)}; start one (`ray start --head` on the head node) or fix "
                    "hydra.launcher.ray.init.address, or leave it null to run on a local Ray"
                )
                raise SystemExit(hydra_exit_message(error)) from None

        def _launch_batches(self, job_overrides: Sequence[Sequence[str]], batches: list[str],
                            initial_job_idx: int) -> Sequence[JobReturn]:
            """The plugin's launch for jobs that differ only in their batch: one composition, shared arguments once."""
            import ray
            from hydra.core.singleton import Singleton
            from hydra.core.utils import configure_log, setup_globals
            from hydra_plugins.hydra_ray_launcher._launcher_util import _run_job, start_ray

            assert self.config is not None and self.hydra_context is not None
            setup_globals()
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
            self.ray_cfg.init.setdefault("object_store_memory", 78643200)  # as the plugin's launch does
            start_ray(self.ray_cfg.init)
            first = self.hydra_context.config_loader.load_sweep_config(self.config, list(job_overrides[0]))
            options: Any = OmegaConf.to_container(self.ray_cfg.remote, resolve=True) if self.ray_cfg.remote else {}
            task = ray.remote(**options)(_run_job) if options else ray.remote(_run_job)
            shared = {"hydra_context": ray.put(self.hydra_context), "task_function": ray.put(self.task_function),
                      "singleton_state": ray.put(Singleton.get_state())}
            refs = []
            for k, (overrides, batch) in enumerate(zip(job_overrides, batches, strict=True)):
                idx = initial_job_idx + k
                cfg = first.copy()
                with open_dict(cfg):
                    cfg.grid.batch_file = batch
                    cfg.hydra.overrides.task = list(overrides)
                    cfg.hydra.job.id = f"job_id_for_{idx}"
                    cfg.hydra.job.num = idx
                refs.append(task.remote(sweep_config=cfg, **shared))  # type: ignore[call-arg]
            return [ray.get(ref) for ref in refs]
