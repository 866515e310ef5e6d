"""Cutting a grid into launcher jobs of many runs each, in the driver, before anything is submitted.

Why: a cluster job costs seconds to start (Python, imports, a benchmark load) and a Slurm array is
capped (MaxArraySize, 1,001 by default), while a run costs 0.01-2 s. So every launcher gets jobs of
`grid.batch_size` runs (automatic by default, `auto_batch_size`), and runs that already have a valid
result are skipped here, in the driver: a resumed grid submits only what is left (nothing when all
are done).

The driver composes one config per distinct seed-less override set (Hydra's composition costs
~0.15 s; a grid's runs mostly differ only in `seed`) and resolves each run's config from it, so it
knows every RUN_ID. A job's runs travel in a small JSON batch file under `<sweep dir>/.grid/` (the
folder the workers share with the driver anyway); the job's only override that differs is
`grid.batch_file=TOKEN/INDEX`, so launchers that compose per job compose identical configs.
Workers run each run through the same `harness.grid.run_folder.run_config` as the local launcher,
under the run's lock, so results are byte-identical whichever launcher ran them.
"""
from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from harness.grid.checks import GridSetupError
from harness.grid.execute import check_strategy, task_config
from tabular.errors import NasHarnessError

SEED_KEY = "seed"
BATCH_DIR = ".grid"  # under the sweep dir: the batch files of the grids that are running
MAX_JOBS = 1000  # Slurm's default MaxArraySize is 1,001: one array of at most 1,000 tasks
PREFERRED_BATCH = 500  # runs per job once a grid is large: seconds of start-up against minutes of runs
MIN_JOBS = 16  # a small grid is still spread over this many jobs (nodes or cores)
_BATCH_NAME = re.compile(r"^[0-9a-f]{16}/[0-9]{1,9}$")
_PLAIN_INT = re.compile(r"^-?(0|[1-9][0-9]*)$")


def auto_batch_size(n_runs: int) -> int:
    """Runs per job when `grid.batch_size` is null: ceil(n / 16) runs, at most 500, at least ceil(n / 1000).

    So a small grid still uses 16 jobs, a 10,000-run grid 20 jobs of 500, a 100,000-run grid 200
    jobs, and no grid more than 1,000 jobs (one Slurm array under the default MaxArraySize of 1,001).
    """
    if n_runs <= 0:
        return 1
    return max(1, -(-n_runs // MAX_JOBS), min(PREFERRED_BATCH, -(-n_runs // MIN_JOBS)))


def checked_batch_size(value: Any) -> int | None:
    """`grid.batch_size` as given: a positive integer, or None (automatic); else one line saying what to set."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GridSetupError(
            f"grid.batch_size={value!r} is not a positive integer: give the number of runs per launcher job "
            "(e.g. grid.batch_size=100), or grid.batch_size=null for the automatic size"
        )
    return value


def split_seed(overrides: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    """(the overrides without `seed=`, the seed's text or None): runs that differ only in seed share a composition."""
    rest, seed = [], None
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and key == SEED_KEY:
            seed = value
        else:
            rest.append(o)
    return tuple(rest), seed


def seed_value(text: str, parser: Any = None) -> int:
    """A `seed=` override's value as Hydra parses it (plain integers without the parser, which costs ~1 ms);
    one line when it is not an integer."""
    if _PLAIN_INT.match(text):
        return int(text)
    if parser is None:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parser = OverridesParser.create()
    value = parser.parse_override(f"{SEED_KEY}={text}").value()
    if not isinstance(value, int) or isinstance(value, bool):
        raise GridSetupError(f"seed must be an integer, got {text!r}: give seed=N, seed=A,B,C or seed='range(0,N)'")
    return value


@dataclass
class PlannedRun:
    """One run of the grid as the driver knows it: its overrides, its resolved config and RUN_ID.

    `base` indexes the plan's resolved configs; `seed`, when not None, replaces that config's seed.
    """
    overrides: list[str]
    base: int
    seed: int | None
    run_id: str

    def config(self, bases: list[dict[str, Any]]) -> dict[str, Any]:
        """The run's resolved config (a shallow copy: run_config never changes it)."""
        base = bases[self.base]
        return base if self.seed is None else {**base, SEED_KEY: self.seed}


@dataclass
class GridPlan:
    """The runs of a grid, each with its RUN_ID, and the grid's requested `grid.batch_size`."""
    runs: list[PlannedRun]
    bases: list[dict[str, Any]]
    batch_size: int | None

    def batch(self, runs: Sequence[PlannedRun]) -> list[tuple[dict[str, Any], list[str]]]:
        """(config, overrides) pairs for `harness.grid.run_folder.run_configs`."""
        return [(r.config(self.bases), r.overrides) for r in runs]


def _seed_free(cfg: DictConfig) -> bool:
    """Whether the config has no interpolation: then a run's resolved config is the group's with its seed set."""
    return "${" not in json.dumps(OmegaConf.to_container(cfg, resolve=False, enum_to_str=True), default=str)


def plan_grid(job_overrides: Sequence[Sequence[str]], compose: Callable[[list[str]], DictConfig]) -> GridPlan:
    """Compose once per seed-less override set (Hydra checks every key and type there) and give every run its
    resolved config and RUN_ID; a seed that is not an integer is one line (GridSetupError)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from harness.results import run_id

    parser = OverridesParser.create()
    groups: dict[tuple[str, ...], tuple[DictConfig, int | None]] = {}
    bases: list[dict[str, Any]] = []
    runs: list[PlannedRun] = []
    batch_size: int | None = None
    for overrides in job_overrides:
        key, seed_text = split_seed(overrides)
        seed = None if seed_text is None else seed_value(seed_text, parser)
        if key not in groups:
            full = compose(list(overrides))
            if not groups:
                batch_size = checked_batch_size(OmegaConf.select(full, "grid.batch_size", default=None))
            with open_dict(full):
                full.pop("hydra", None)
            index = None
            try:
                check_strategy(task_config(full))
            except NasHarnessError as exc:
                raise GridSetupError(str(exc)) from None
            if _seed_free(full):
                bases.append(task_config(full))
                index = len(bases) - 1
            groups[key] = (full, index)
        cfg, index = groups[key]
        if index is None:  # interpolations: resolve this run's config with its seed set
            one = cfg.copy()
            if seed is not None:
                one[SEED_KEY] = seed
            bases.append(task_config(one))
            run = PlannedRun(list(overrides), len(bases) - 1, None, "")
        else:
            run = PlannedRun(list(overrides), index, seed, "")
        run.run_id = run_id(run.config(bases))
        runs.append(run)
    return GridPlan(runs, bases, batch_size)


def has_result(run_dir: Path) -> bool:
    """Whether a run folder already holds a valid result (then the driver does not submit the run).

    A folder that is a link is never read here: the worker refuses it, and the run counts as failed.
    """
    from harness.grid.run_folder import linked_path
    from harness.results import MANIFEST, result_problem

    if not (run_dir / MANIFEST).is_file() or linked_path(run_dir) is not None:
        return False
    return result_problem(run_dir) is None


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """Consecutive slices of `size` items (runs next to each other share a strategy and benchmark)."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def write_batches(root: Path, plan: GridPlan, batches: Sequence[Sequence[PlannedRun]]) -> list[str]:
    """Write one batch file per job under `root/.grid/TOKEN/`; returns their names (`TOKEN/INDEX`).

    Each file holds the resolved configs its runs derive from once, and per run (config index, seed,
    overrides): ~100 bytes a run. Written to a temporary name and renamed (no fsync: the driver waits
    for its jobs, and a job that finds no batch file fails, which the summary reports).
    """
    token = uuid.uuid4().hex[:16]
    folder = root / BATCH_DIR / token
    folder.mkdir(parents=True, exist_ok=False)
    names = []
    for i, batch in enumerate(batches):
        used: dict[int, int] = {}
        for r in batch:
            used.setdefault(r.base, len(used))
        data = {
            "bases": [plan.bases[b] for b in used],
            "runs": [[used[r.base], r.seed, r.overrides] for r in batch],
        }
        path = folder / f"{i}.json"
        tmp = folder / f".{i}.json.tmp"
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(tmp, path)
        names.append(f"{token}/{i}")
    return names


def remove_batches(root: Path, names: Sequence[str]) -> None:
    """Delete this grid's batch files once its jobs returned (another grid's files are left alone)."""
    for token in {n.split("/")[0] for n in names}:
        folder = root / BATCH_DIR / token
        for path in folder.glob("*.json"):
            path.unlink(missing_ok=True)
        try:
            folder.rmdir()
            (root / BATCH_DIR).rmdir()
        except OSError:  # not empty: another grid's batches, or a leftover
            pass


def read_batch(root: Path, name: str) -> list[tuple[dict[str, Any], list[str]]]:
    """The (config, overrides) pairs of batch `name` (worker side)."""
    if not _BATCH_NAME.match(name):
        raise GridSetupError(f"grid.batch_file={name!r} is not a batch of this grid (the grid sweeper sets it)")
    path = root / BATCH_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GridSetupError(
            f"cannot read the batch file {path} ({type(exc).__name__}): is hydra.sweep.dir an absolute path on a "
            "file system that the workers share with the driver?"
        ) from None
    bases = data["bases"]
    return [(bases[b] if seed is None else {**bases[b], SEED_KEY: seed}, list(overrides))
            for b, seed, overrides in data["runs"]]
