"""The results of a folder as one model: runs classified, labelled and de-duplicated.

`load_results` is what every reader of a results folder calls (report, regress, rank-stats
--strategies, validate, surrogate fit --results), so they agree on every label and count.

Labels. Runs are grouped by *method* and *task*, written `name[key=value,...]`:
- method = strategy name, plus every strategy setting that differs between runs of that strategy
  on some task. Such a setting labels that strategy's runs on every task, so one variant keeps one
  label across benchmarks (`re[population_size=10]` also where only 10 ran); a setting that differs
  only between tasks (per-benchmark tuning, e.g. strategy=re_nb101 on NB101) labels nothing.
- task = benchmark name, plus every benchmark setting (and n_workers) that differs between runs of
  that benchmark, plus ` [obj1 vs obj2]` for a multi-objective run.
Values are written bare for strings and as compact JSON otherwise (true, null, [1,2]).

Duplicates. Of the complete runs with the same (task, method, seed) the longest trajectory is kept
(ties: the larger RUN_ID); runs that differ only in budget share their trajectory prefix, so the
longest holds the others. The rest are marked `duplicate`, listed, and never used.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.results.budgets import seconds_text
from harness.results.manifest import MANIFEST, REAL_CLOCK, SIMULATED_CLOCK, TRAJECTORY
from harness.results.runs import COMPLETE, DUPLICATE, STATUSES, Run, classify, discover
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

CLOCK_WORDS = {SIMULATED_CLOCK: "simulated time", REAL_CLOCK: "real compute seconds"}


def _by_seed(run: Run) -> tuple[int, str]:
    """The order of a cell's runs: by seed (runs without one first), then by RUN_ID."""
    return (run.seed if run.seed is not None else -1, run.run_id)


@dataclass
class ResultSet:
    """All runs found under one results folder, classified and labelled (the one results model)."""

    root: Path
    runs: list[Run]
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> list[Run]:
        """The runs that enter statistics: complete and not a duplicate."""
        return [r for r in self.runs if r.status == COMPLETE]

    def not_used(self) -> list[Run]:
        """Every run left out of the statistics, each with its status and reason."""
        return [r for r in self.runs if r.status != COMPLETE]

    def counts(self) -> dict[str, int]:
        """Number of runs in each status (every status of harness.results.STATUSES, zeros included)."""
        out = {s: 0 for s in STATUSES}
        for r in self.runs:
            out[r.status] += 1
        return out

    def tasks(self) -> list[str]:
        """Task labels with at least one complete run."""
        return sorted({r.task for r in self.complete})

    def methods(self, task: str | None = None) -> list[str]:
        """Method labels with a complete run (on `task`, or on any task)."""
        return sorted({r.method for r in self.complete if task is None or r.task == task})

    def cell(self, task: str, method: str) -> list[Run]:
        """Complete runs of one method on one task, ordered by seed."""
        return sorted((r for r in self.complete if r.task == task and r.method == method), key=_by_seed)

    def cells(self) -> dict[tuple[str, str], list[Run]]:
        """(task, method) -> complete runs ordered by seed (as `cell`), for every cell that has one, sorted by key.

        One pass over the runs: a report asks for every cell of thousands of runs.
        """
        groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
        for r in self.complete:
            groups[(r.task, r.method)].append(r)
        return {key: sorted(groups[key], key=_by_seed) for key in sorted(groups)}

    def benchmark_of(self, task: str) -> str:
        """The benchmark name behind a task label."""
        return next(r.benchmark for r in self.complete if r.task == task)

    def task_runs(self, task: str) -> list[Run]:
        """Complete runs of every method on one task."""
        return [r for r in self.complete if r.task == task]

    def clock(self, task: str, method: str) -> str:
        """Clock of one (task, method): all its runs share it (load_results checks)."""
        return next((r.clock for r in self.cell(task, method)), SIMULATED_CLOCK)

    def clocks(self, task: str | None = None) -> dict[str, str]:
        """Method -> clock, on one task or on all tasks (then a method real on any task counts as real)."""
        seen: dict[str, set[str]] = defaultdict(set)
        for r in self.complete:
            if task is None or r.task == task:
                seen[r.method].add(r.clock)
        return {m: next(iter(c - {SIMULATED_CLOCK}), SIMULATED_CLOCK) for m, c in sorted(seen.items())}

    def real_methods(self, task: str | None = None) -> list[str]:
        """Methods timed in real compute seconds (on `task`, or on any task)."""
        return [m for m, c in self.clocks(task).items() if c != SIMULATED_CLOCK]

    def budgets(self) -> dict[tuple[str, str], list[str]]:
        """Distinct budgets (as text) of the complete runs of each (task, method)."""
        out: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in self.complete:
            out[(r.task, r.method)].add(budget_text(r))
        return {key: sorted(v) for key, v in sorted(out.items())}


def budget_text(run: Run) -> str:
    """The budget a run was given, in words ('100 evaluations, 4 workers')."""
    if run.is_real_clock and run.is_oneshot:
        return "one-shot search to completion (budget not used; real compute clock)"
    b = run.budget
    parts = []
    if b.get("evaluations") is not None:
        parts.append(f"{int(b['evaluations'])} evaluations")
    if b.get("sim_seconds") is not None:
        parts.append(f"{seconds_text(float(b['sim_seconds']))} {'real' if run.is_real_clock else 'simulated'} s")
    if run.n_workers != 1:
        parts.append(f"{run.n_workers} workers")
    return ", ".join(parts) or "no budget recorded"


def value_text(value: Any) -> str:
    """A config value as labels show it: strings bare, anything else compact JSON (true, null, [1,2])."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def label(name: str, config: dict[str, Any], keys: Iterable[str]) -> str:
    """`name[k=v,...]` over `keys` (sorted); just `name` when there are none: the one label format."""
    keys = sorted(keys)
    if not keys:
        return name
    return name + "[" + ",".join(f"{k}={value_text(config.get(k))}" for k in keys) + "]"


def varying_keys(configs: list[dict[str, Any]], skip: Iterable[str] = ()) -> set[str]:
    """Keys whose value (as labels write it) differs between some of `configs`."""
    skipped = set(skip)
    keys = {k for c in configs for k in c if k not in skipped}
    return {k for k in keys if len({value_text(c.get(k)) for c in configs}) > 1}


def strategy_settings(run: Run) -> dict[str, Any]:
    """The run's strategy config without its name: what tells variants of one strategy apart."""
    settings = dict(run.config.get("strategy", {}) or {})
    settings.pop("name", None)
    return settings


def task_settings(run: Run) -> dict[str, Any]:
    """The run's benchmark config (without name and objectives) plus n_workers: what tells tasks apart."""
    settings = dict(run.config.get("benchmark", {}) or {}, n_workers=run.n_workers)
    for key in ("name", "objectives"):
        settings.pop(key, None)
    return settings


def assign_labels(runs: list[Run]) -> None:
    """Set `task` and `method` of every run (rules in the module docstring)."""
    with_manifest = [r for r in runs if r.manifest]
    by_bench: dict[str, list[Run]] = defaultdict(list)
    for r in with_manifest:
        by_bench[r.benchmark].append(r)
    for name, group in by_bench.items():
        keys = varying_keys([task_settings(r) for r in group])
        for r in group:
            task = label(name, task_settings(r), keys)
            objs = r.objectives
            r.task = f"{task} [{' vs '.join(objs)}]" if objs and len(objs) > 1 else task
    by_cell: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for r in with_manifest:
        by_cell[(r.strategy, r.task)].append(r)
    keys_of: dict[str, set[str]] = defaultdict(set)
    for (strategy, _task), group in by_cell.items():
        keys_of[strategy] |= varying_keys([strategy_settings(r) for r in group])
    for r in with_manifest:
        r.method = label(r.strategy, strategy_settings(r), keys_of[r.strategy])
    for r in runs:
        if not r.manifest:  # names guessed from run.log, marked as such
            r.method = f"{r.strategy} (from run.log)" if r.strategy != "?" else "?"
            r.task = f"{r.benchmark} (from run.log)" if r.benchmark != "?" else "?"


def mark_duplicates(runs: list[Run]) -> None:
    """Keep the longest complete run of each (task, method, seed); mark the others `duplicate`."""
    groups: dict[tuple[str, str, int], list[Run]] = defaultdict(list)
    for r in runs:
        if r.status == COMPLETE and r.seed is not None and r.traj is not None:
            groups[(r.task, r.method, r.seed)].append(r)
    for group in groups.values():
        if len(group) < 2:
            continue
        keep = max(group, key=lambda r: (r.n_rows, r.run_id))
        assert keep.traj is not None
        for r in group:
            if r is keep or r.traj is None:
                continue
            n = r.n_rows
            same = r.column("arch").tolist() == keep.column("arch")[:n].tolist()
            r.status = DUPLICATE
            detail = ("its first evaluations are identical to this run's, so the longer run is used" if same else
                      "WARNING: the two trajectories differ (code or data changed between them?); "
                      "the longer run is used")
            r.reason = f"same method, task and seed as {keep.run_id} ({budget_text(keep)}); {detail}"


def check_clocks(runs: list[Run]) -> None:
    """Every (benchmark, strategy) must have one clock: seconds of two clocks cannot share a curve."""
    groups: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r.status == COMPLETE:
            groups[(r.benchmark, r.strategy)][r.clock].append(r.run_id)
    for (bench, strategy), by_clock in sorted(groups.items()):
        if len(by_clock) > 1:
            detail = "; ".join(
                f"{CLOCK_WORDS.get(c, c)}: {len(ids)} run(s) "
                f"({', '.join(sorted(ids)[:3])}{', …' if len(ids) > 3 else ''})"
                for c, ids in sorted(by_clock.items()))
            raise NasHarnessError(f"{strategy} on {bench} mixes clocks ({detail}); a method's runs must share one "
                                  "clock, so move the odd runs to another results folder (or rerun them)")


def _mixed_budget_warnings(result: ResultSet) -> list[str]:
    out = []
    for task in result.tasks():
        texts: dict[str, set[str]] = defaultdict(set)
        for r in result.task_runs(task):
            texts[budget_text(r)].add(r.method)
        if len(texts) > 1:
            detail = "; ".join(f"{b}: {', '.join(sorted(m))}" for b, m in sorted(texts.items()))
            out.append(f"mixed budgets on {task} ({detail}); methods are compared only at budgets every run reached")
    return out


def load_results(root: str | Path) -> ResultSet:
    """Every run folder under `root`, classified, labelled and de-duplicated.

    Raises NasHarnessError (one line) when the folder is missing, is a single run folder, holds no
    run folders or no complete run; ManifestError for a damaged manifest and TrajectoryError for a
    trajectory whose numeric columns are not numbers (harness.results.runs.classify).
    """
    root = Path(root)
    if not root.is_dir():
        raise NasHarnessError(f"results folder {root} does not exist; "
                              "pass the hydra.sweep.dir of a `nas-harness run` grid")
    if (root / MANIFEST).is_file() or (root / TRAJECTORY).is_file():
        raise NasHarnessError(f"{root} is a single run folder; "
                              f"pass the folder that holds the RUN_ID folders ({root.parent})")
    folders, ignored = discover(root)
    if not folders:
        raise NasHarnessError(
            f"no runs under {root}: it holds no RUN_ID folders (16 hex digits); run a grid into it first, "
            f"e.g. `nas-harness run -m ... hydra.sweep.dir={root}`"
        )
    runs = [classify(folder) for folder in folders]
    check_clocks(runs)
    assign_labels(runs)
    mark_duplicates(runs)
    result = ResultSet(root, runs, ignored)
    counts = result.counts()
    if not result.complete:
        detail = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        raise NasHarnessError(f"no complete runs under {root} ({detail}); see the run.log in each RUN_ID folder")
    bad = {k: v for k, v in counts.items() if v and k != COMPLETE}
    if bad:
        listed = ", ".join(f"{v} {k}" for k, v in bad.items())
        result.warnings.append(f"runs not used in the statistics: {listed} (listed in the report)")
    result.warnings.extend(_mixed_budget_warnings(result))
    for w in result.warnings:
        log.info("%s", w)
    return result
