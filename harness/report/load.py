"""Read every run under a results folder, and account for each one.

A results folder holds one `<RUN_ID>/` folder per run (16 hex digits, see harness.results). Each
is classified as complete (manifest and trajectory agree), failed (the manifest says so), partial
(no manifest: the run was killed or is still running), damaged (anything else wrong) or duplicate
(a complete run of the same method, task and seed as a longer one: runs that differ only in budget
share their trajectory prefix, so the longest is kept); only complete runs enter the statistics, and the report counts and lists all the others, so nothing is
ever dropped silently. A manifest.json that is not what `nas-harness run` writes
(harness.results.validate_manifest) stops the report with one line naming it instead: such a run
cannot even be attributed to a method, task and seed. Runs are grouped by *method* (strategy name
plus the hyperparameters that differ between runs of that strategy) and *task* (benchmark name plus objectives, and any
benchmark setting that differs between runs of that benchmark).

Each run also has a *clock*: "simulated" (the engine's clock, from the benchmark's recorded
training times: every tabular strategy) or "real" (compute seconds measured on the machine that
ran it: the one-shot methods, whose trajectories say so in a `clock` column; older one-shot results
without that column are recognised by their strategy name). The clock is read here, once, so every
part of the report labels time the same way; a (benchmark, strategy) whose runs disagree is an error.
"""
from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report.budgets import seconds_text, time_horizon
from harness.results import (
    CLOCK_COLUMN,
    LOG,
    MANIFEST,
    ONESHOT_METHODS,
    REAL_CLOCK,
    SIMULATED_CLOCK,
    TRAJECTORY,
    read_manifest,
    result_problem,
)
from harness.run_lock import lock_holder
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

RUN_ID_RE = re.compile(r"^[0-9a-f]{16}$")
REPORT_MARKER = "report.json"
REQUIRED_COLUMNS = ("step", "arch", "valid_mean", "sim_time", "incumbent_arch", "incumbent_test_mean", "regret", "fidelity", "cost")
STATUSES = ("complete", "failed", "partial", "damaged", "duplicate")
CLOCK_WORDS = {SIMULATED_CLOCK: "simulated time", REAL_CLOCK: "real compute seconds"}


@dataclass
class Run:
    """One RUN_ID folder and what we could learn from it."""

    run_id: str
    path: Path
    status: str
    reason: str = ""
    manifest: dict[str, Any] | None = None
    strategy: str = "?"
    benchmark: str = "?"
    seed: int | None = None
    method: str = "?"
    task: str = "?"
    trajectory: pd.DataFrame | None = None
    clock: str = SIMULATED_CLOCK  # "simulated", or "real" (harness.results.REAL_CLOCK): what sim_time and cost count

    @property
    def is_real_clock(self) -> bool:
        return self.clock != SIMULATED_CLOCK

    @property
    def is_oneshot(self) -> bool:
        """A one-shot search (harness.results.ONESHOT_METHODS): it runs to completion and ignores config.budget."""
        return self.strategy in ONESHOT_METHODS

    @property
    def config(self) -> dict[str, Any]:
        return (self.manifest or {}).get("config", {}) or {}

    @property
    def budget(self) -> dict[str, Any]:
        return dict(self.config.get("budget", {}) or {})

    @property
    def horizon(self) -> float:
        """Time (on the run's clock) up to which this run's incumbent is known (harness.report.budgets.time_horizon).

        A one-shot search ignores config.budget and always runs to completion, so its final pick
        stands for ever, like a strategy that ran out of proposals.
        """
        if self.trajectory is None or len(self.trajectory) == 0:
            return float("nan")
        if self.is_oneshot and self.is_real_clock:
            return float("inf")
        return time_horizon(self.budget, len(self.trajectory), float(self.trajectory["sim_time"].iloc[-1]))

    @property
    def n_workers(self) -> int:
        return int(self.config.get("n_workers", 1) or 1)

    @property
    def seed_policy(self) -> str:
        return str((self.config.get("benchmark", {}) or {}).get("seed_policy", "sample"))

    @property
    def objectives(self) -> list[str] | None:
        objs = (self.config.get("benchmark", {}) or {}).get("objectives")
        return list(objs) if objs else None


@dataclass
class ResultSet:
    """All runs found under one folder, with the grouping the report uses."""

    root: Path
    runs: list[Run]
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> list[Run]:
        return [r for r in self.runs if r.status == "complete"]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for r in self.runs:
            out[r.status] += 1
        return out

    def tasks(self) -> list[str]:
        return sorted({r.task for r in self.complete})

    def methods(self, task: str | None = None) -> list[str]:
        return sorted({r.method for r in self.complete if task is None or r.task == task})

    def cell(self, task: str, method: str) -> list[Run]:
        """Complete runs of one method on one task, ordered by seed."""
        runs = [r for r in self.complete if r.task == task and r.method == method]
        return sorted(runs, key=lambda r: (r.seed if r.seed is not None else -1, r.run_id))

    def benchmark_of(self, task: str) -> str:
        return next(r.benchmark for r in self.complete if r.task == task)

    def task_runs(self, task: str) -> list[Run]:
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


def seed_ranges(seeds) -> str:
    """Seeds as sorted, compressed ranges: 0-9, 20-29 -> "0–9, 20–29"; [3, 5] -> "3, 5"; "–" for none.

    Runs of two consecutive seeds are written out ("4, 5"), longer runs as first–last; duplicates
    count once. Seeds that are not integers (unknown, None) are listed last as "?".
    """
    values = sorted({int(s) for s in seeds if s is not None})
    unknown = any(s is None for s in seeds)
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{values[i]}–{values[j]}")
        else:
            parts.extend(str(v) for v in values[i:j + 1])
        i = j + 1
    if unknown:
        parts.append("?")
    return ", ".join(parts) or "–"


def value_text(value: Any) -> str:
    """A config value as labels show it (JSON-like: true/false, compact lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _varying(configs: list[dict[str, Any]], skip: tuple[str, ...]) -> list[str]:
    keys = sorted({k for c in configs for k in c if k not in skip})
    return [k for k in keys if len({value_text(c.get(k)) for c in configs}) > 1]


def _label(name: str, config: dict[str, Any], keys: list[str]) -> str:
    if not keys:
        return name
    return f"{name}(" + ",".join(f"{k}={value_text(config.get(k))}" for k in keys) + ")"


def _hints_from_log(run_dir: Path) -> dict[str, str]:
    """strategy/benchmark/seed from the first line of run.log, for runs that left no manifest."""
    path = run_dir / LOG
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
    except OSError:
        return {}
    match = re.search(r"run [0-9a-f]{16}: (.*)", head)
    if not match:
        return {}
    hints = {}
    for token in match.group(1).split():
        key, _, value = token.partition("=")
        if key in ("strategy", "benchmark", "seed") and value:
            hints[key] = value.removesuffix("_schema") if key == "strategy" else value
    return hints


def _classify(run_dir: Path) -> Run:
    run = Run(run_dir.name, run_dir, "complete")
    # A damaged manifest stops the report (ManifestError, one line naming the file): we cannot tell
    # which method, task and seed the run was, so a report without it could be silently short.
    run.manifest = read_manifest(run_dir) if (run_dir / MANIFEST).is_file() else None
    problem = result_problem(run_dir)
    if run.manifest:
        cfg = run.manifest["config"]  # harness.results.validate_manifest checked these fields and types
        run.strategy, run.benchmark, run.seed = cfg["strategy"]["name"], cfg["benchmark"]["name"], cfg["seed"]
    else:
        hints = _hints_from_log(run_dir)
        run.strategy = hints.get("strategy", "?")
        run.benchmark = hints.get("benchmark", "?")
        if hints.get("seed", "").lstrip("-").isdigit():
            run.seed = int(hints["seed"])
    run.clock = _fallback_clock(run.strategy)  # replaced by the trajectory's own clock when it has one
    if problem is None:
        try:
            traj = pd.read_parquet(run_dir / TRAJECTORY)
        except Exception as exc:  # pyarrow raises several types for damaged files
            run.status, run.reason = "damaged", f"unreadable trajectory ({type(exc).__name__})"
            return run
        missing = [c for c in REQUIRED_COLUMNS if c not in traj.columns]
        clock, clock_problem = _trajectory_clock(traj, run.strategy)
        if missing:
            run.status, run.reason = "damaged", f"trajectory lacks columns {', '.join(missing)}"
        elif len(traj) == 0:
            run.status, run.reason = "damaged", "trajectory has no rows"
        elif clock_problem:
            run.status, run.reason = "damaged", clock_problem
        else:
            run.trajectory = traj.sort_values("step", kind="stable").reset_index(drop=True)
            run.clock = clock
        return run
    if run.manifest and run.manifest.get("status") == "failed":
        run.status, run.reason = "failed", (run.manifest.get("error") or "failed (no error recorded)").splitlines()[0]
    elif problem == "no manifest":
        held = lock_holder(run_dir) is not None  # a stale lock (a killed job) is not a running run
        run.status = "partial"
        run.reason = "no manifest: still running (lock held)" if held else "no manifest: the run was killed before it finished"
    else:
        run.status, run.reason = "damaged", problem
    return run


def _fallback_clock(strategy: str) -> str:
    """Clock of a run whose trajectory says nothing: real for one-shot strategies (results written
    before trajectories carried a clock column), simulated for every engine strategy."""
    return REAL_CLOCK if strategy in ONESHOT_METHODS else SIMULATED_CLOCK


def _trajectory_clock(traj: pd.DataFrame, strategy: str) -> tuple[str, str]:
    """(clock, "") from the trajectory's clock column or the fallback; ("", problem) when the column
    holds anything but one known clock on every row."""
    column, real = CLOCK_COLUMN, REAL_CLOCK
    if column not in traj.columns:
        return _fallback_clock(strategy), ""
    values = sorted({str(v) for v in traj[column].tolist()})
    if len(values) == 1 and values[0] in (real, SIMULATED_CLOCK):
        return values[0], ""
    if not values:
        return _fallback_clock(strategy), ""
    return "", (f"trajectory column {column!r} holds {', '.join(repr(v) for v in values)}; expected one of "
                f"{real!r} or {SIMULATED_CLOCK!r} on every row")


def _check_clocks(runs: list[Run]) -> None:
    """Every (benchmark, strategy) must have one clock: seconds of two clocks cannot share a curve."""
    groups: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        if r.status == "complete":
            groups[(r.benchmark, r.strategy)][r.clock].append(r.run_id)
    for (bench, strategy), by_clock in sorted(groups.items()):
        if len(by_clock) > 1:
            detail = "; ".join(f"{CLOCK_WORDS.get(c, c)}: {len(ids)} run(s) ({', '.join(sorted(ids)[:3])}{', …' if len(ids) > 3 else ''})"
                               for c, ids in sorted(by_clock.items()))
            raise NasHarnessError(f"{strategy} on {bench} mixes clocks ({detail}); a method's runs must share one clock, "
                                  "so move the odd runs to another results folder (or rerun them)")


def _assign_labels(runs: list[Run]) -> None:
    """Method and task labels that tell apart configurations sharing a strategy or benchmark name."""
    by_strategy: dict[str, list[Run]] = defaultdict(list)
    by_bench: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        if r.manifest:
            by_strategy[r.strategy].append(r)
            by_bench[r.benchmark].append(r)
    for name, group in by_strategy.items():
        configs = [dict(r.config.get("strategy", {}) or {}) for r in group]
        keys = _varying(configs, ("name",))
        for r, c in zip(group, configs):
            r.method = _label(name, c, keys)
    for name, group in by_bench.items():
        configs = [dict(r.config.get("benchmark", {}) or {}, n_workers=r.n_workers) for r in group]
        keys = _varying(configs, ("name", "objectives"))
        for r, c in zip(group, configs):
            label = _label(name, c, keys)
            objs = r.objectives
            r.task = f"{label} [{' vs '.join(objs)}]" if objs and len(objs) > 1 else label
    for r in runs:
        if not r.manifest:  # names guessed from run.log, marked as such
            r.method = f"{r.strategy} (from run.log)" if r.strategy != "?" else "?"
            r.task = f"{r.benchmark} (from run.log)" if r.benchmark != "?" else "?"


def _drop_duplicates(runs: list[Run]) -> None:
    """Keep the longest complete run of each (task, method, seed); mark the others `duplicate`."""
    groups: dict[tuple, list[Run]] = defaultdict(list)
    for r in runs:
        if r.status == "complete" and r.seed is not None:
            groups[(r.task, r.method, r.seed)].append(r)
    for group in groups.values():
        if len(group) < 2:
            continue
        keep = max(group, key=lambda r: (len(r.trajectory), r.run_id))
        for r in group:
            if r is not keep:
                n = len(r.trajectory)
                same = r.trajectory["arch"].tolist() == keep.trajectory["arch"].iloc[:n].tolist()
                r.status = "duplicate"
                r.reason = (f"same method, task and seed as {keep.run_id} ({budget_text(keep)}); "
                            + ("its first evaluations are identical to this run's, so the longer run is used" if same else
                               "WARNING: the two trajectories differ (code or data changed between them?); the longer run is used"))


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
    """Every RUN_ID folder under `root`, classified; raises NasHarnessError if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise NasHarnessError(f"results folder {root} does not exist; pass the hydra.sweep.dir of a `nas-harness run` grid")
    if (root / MANIFEST).is_file() or (root / TRAJECTORY).is_file():
        raise NasHarnessError(f"{root} is a single run folder; pass the folder that holds the RUN_ID folders ({root.parent})")
    runs: list[Run] = []
    ignored: list[str] = []
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue  # Hydra's .jobs/ and other hidden bookkeeping
        if child.is_dir() and RUN_ID_RE.match(child.name):
            runs.append(_classify(child))
        elif child.is_dir() and any((child / marker).is_file() for marker in (REPORT_MARKER, "validation.json")):
            continue  # a report or a validation (nas-harness validate) written by us
        elif child.is_dir():
            ignored.append(child.name)  # files (Hydra's multirun.yaml, notes) are not runs and need no mention
    if not runs:
        raise NasHarnessError(
            f"no runs under {root}: it holds no RUN_ID folders (16 hex digits); run a grid into it first, "
            f"e.g. `nas-harness run -m ... hydra.sweep.dir={root}`"
        )
    _check_clocks(runs)
    _assign_labels(runs)
    _drop_duplicates(runs)
    result = ResultSet(root, runs, ignored)
    counts = result.counts()
    if not result.complete:
        detail = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        raise NasHarnessError(f"no complete runs under {root} ({detail}); see the run.log in each RUN_ID folder")
    bad = {k: v for k, v in counts.items() if v and k != "complete"}
    if bad:
        result.warnings.append(
            "runs not used in the statistics: " + ", ".join(f"{v} {k}" for k, v in bad.items()) + " (listed in the report)"
        )
    result.warnings.extend(_mixed_budget_warnings(result))
    for w in result.warnings:
        log.info("%s", w)
    return result
