"""Budgets at which runs are compared: a number of evaluations, or a point on the simulated clock.

Why a separate module: a grid with a simulated-time budget (`budget.sim_seconds`, the NAS-Bench-201
protocol) gives every run a different number of evaluations, so "after N evaluations" is the wrong
place to compare methods; the protocol compares the incumbent *at the time budget*. Both kinds of
budget are a `Cut`, and everything that reads a run at a budget (report tables, leaderboards,
hypervolume tables, `nas-harness regress`) goes through `cut_index`, so the two commands cannot
disagree on which row of a trajectory a budget selects.

A run's incumbent at simulated time t is the one after its last completion with sim_time <= t. It
is known only up to the run's *time horizon*: its recorded `budget.sim_seconds` when the time
budget stopped it (the engine stops when the next completion would end after it), the time of its
last completion when it stopped on `budget.evaluations` (what comes after is unknown), and forever
when it stopped because the strategy had nothing left to propose. The reading of a run at a budget
(`Cut`, `cut_index`, `time_horizon`, ...) lives in harness.results.budgets and is re-exported here.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.results.budgets import (  # noqa: F401  (re-exported: the reading of a run at a budget lives in harness.results)
    EMPTY,
    EVALUATIONS,
    KINDS,
    OK,
    SHORT,
    SIM_SECONDS,
    Cut,
    cut_index,
    index_at_time,
    seconds_text,
    stopped_by,
    time_average,
    time_horizon,
)
from tabular.errors import NasHarnessError


@dataclass(frozen=True)
class Budget:
    """One column of comparisons: the cut each task is read at.

    Usually every task has the same cut (`--budgets 50`, `--time-budgets 200000`, or a default
    all runs share). When the default differs between tasks (some time-budgeted, some not), each
    task gets its own cut and the leaderboard ranks each task at its own budget.
    """

    key: str  # the `budget` column of the CSV tables: the uniform cut's `key`, else "per-task default"
    cuts: Mapping[str, Cut] = field(default_factory=dict)

    @property
    def uniform(self) -> Cut | None:
        values = set(self.cuts.values())
        return next(iter(values)) if len(values) == 1 else None

    @property
    def label(self) -> str:
        u = self.uniform
        return u.label if u is not None else "at each task's own default budget"

    @property
    def stem(self) -> str:
        u = self.uniform
        return u.stem if u is not None else "default"

    def cut(self, task: str) -> Cut | None:
        return self.cuts.get(task)


def uniform_budget(cut: Cut, tasks: Sequence[str]) -> Budget:
    return Budget(cut.key, {t: cut for t in tasks})


# -- command-line parsing ------------------------------------------------------------------------------
def parse_evaluations(text: str | None, option: str = "--budgets") -> list[int] | None:
    if not text:
        return None
    message = f"{option} must be comma-separated positive integers (evaluations), got {text!r}"
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise NasHarnessError(message) from None
    if not values or values[0] < 1:
        raise NasHarnessError(message)
    return values


def parse_seconds(text: str | None, option: str = "--time-budgets") -> list[float] | None:
    if not text:
        return None
    message = f"{option} must be comma-separated positive numbers (simulated seconds, e.g. 10000,200000), got {text!r}"
    try:
        values = sorted({float(v.replace("_", "")) for v in text.split(",") if v.strip()})
    except ValueError:
        raise NasHarnessError(message) from None
    if not values or not values[0] > 0 or not all(math.isfinite(v) for v in values):
        raise NasHarnessError(message)
    return values


# -- the default budget of a report ---------------------------------------------------------------------
@dataclass(frozen=True)
class RunBudget:
    """What the default choice needs to know about one complete run (`method` only names it in warnings)."""

    budget: Mapping
    n_rows: int
    horizon: float
    method: str = ""


def majority_value(values: Sequence[float]) -> float:
    """The largest of `values` that more than half of them reach (are >= to): the lower median.

    Why this rule: a default budget must be one most runs of the task reached, so one stray short
    (or long) run cannot move it; "more than half" rather than "at least half" picks the shorter of
    two equally common budgets, which keeps every run of an even split.
    """
    xs = sorted(values)
    if not xs:
        raise ValueError("majority_value needs at least one value")
    return float(xs[(len(xs) - 1) // 2])


def _recorded(r: RunBudget) -> str:
    """The run's recorded budget in words (what differs between runs when budgets are mixed)."""
    parts = []
    if r.budget.get("evaluations") is not None:
        parts.append(f"{int(r.budget['evaluations'])} evaluations")
    if r.budget.get("sim_seconds") is not None:
        parts.append(f"{seconds_text(float(r.budget['sim_seconds']))} simulated s")
    return " + ".join(parts) or "no budget"


def _mixed_warning(task: str, rs: Sequence[RunBudget], cut: Cut) -> str | None:
    """One line when the task's runs recorded different budgets or some are left out at `cut`."""
    groups: dict[str, list[RunBudget]] = {}
    for r in rs:
        groups.setdefault(_recorded(r), []).append(r)
    if cut.kind == EVALUATIONS:
        short = [r for r in rs if r.n_rows < int(cut.value)]
    else:
        short = [r for r in rs if r.horizon < cut.value]
    if len(groups) < 2 and not short:
        return None
    detail = "; ".join(
        f"{text}: {len(g)} run{'s' if len(g) != 1 else ''} of {', '.join(sorted({r.method for r in g}))}"
        for text, g in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    )
    line = (
        f"{task}: runs differ in budget ({detail}); compared {cut.label}, reached by {len(rs) - len(short)} of "
        f"{len(rs)} runs"
    )
    if short:
        methods = sorted({r.method for r in short})
        line += (
            f"; {len(short)} shorter run{'s' if len(short) != 1 else ''} ({', '.join(methods)}) left out"
            + ("" if cut.kind == SIM_SECONDS else f" (--budgets {min(r.n_rows for r in short)} compares every run)")
        )
    return line


def _task_cut(task: str, rs: Sequence[RunBudget]) -> tuple[Cut, list[str]]:
    """The default cut of one task, from its own runs only, and notes about the choice."""
    notes: list[str] = []
    secs = [float(r.budget["sim_seconds"]) for r in rs if r.budget.get("sim_seconds") is not None]
    if secs and 2 * len(secs) > len(rs):
        # Time-budgeted task: the largest recorded time budget more than half of its runs' horizons reach.
        candidates = sorted(set(secs), reverse=True)
        reached = [t for t in candidates if 2 * sum(r.horizon >= t for r in rs) > len(rs)]
        if reached:
            t = reached[0]
            if len(candidates) > 1:
                notes.append(f"{task}: runs recorded different time budgets "
                             f"({', '.join(seconds_text(s) for s in sorted(candidates))} simulated s); compared at "
                             f"{seconds_text(t)} simulated s, the largest that more than half of its runs reached")
            return Cut(SIM_SECONDS, t), notes
        notes.append(f"{task}: runs have a time budget but most stopped earlier on budget.evaluations, "
                     "so the task is compared in evaluations")
    return Cut(EVALUATIONS, int(majority_value([r.n_rows for r in rs]))), notes


def default_budget(runs: Mapping[str, Sequence[RunBudget]]) -> tuple[Budget, list[str], list[str]]:
    """The budget a report uses when none is given, sentences saying what was chosen and why, and
    one warning line per task whose runs differ in budget.

    Each task's cut comes from that task's own runs only, so a stray run of another task (or a short
    run of this one) cannot move it (docs/REPORTS.md, "Budgets"):

    - a task most of whose runs recorded budget.sim_seconds is compared at a time budget T: the
      largest recorded one that more than half of its runs' incumbents are known at (their horizon);
    - every other task after N evaluations, N = the largest run length that more than half of its
      runs reached (the lower median of their lengths).

    Runs that end before their task's cut are left out of its statistics and counted.
    """
    notes: list[str] = []
    warnings: list[str] = []
    cuts: dict[str, Cut] = {}
    for task, rs in runs.items():
        cut, task_notes = _task_cut(task, rs)
        cuts[task] = cut
        notes += task_notes
        warning = _mixed_warning(task, rs, cut)
        if warning:
            warnings.append(warning)
    budget = Budget("", cuts)
    u = budget.uniform
    if u is not None:
        budget = Budget(u.key, cuts)
        if u.kind == SIM_SECONDS:
            whose = "every run" if not warnings else "most runs"
            notes.insert(0, f"budget: the time budget of {whose}, {seconds_text(u.value)} simulated seconds "
                            "(budget.sim_seconds): each run's incumbent at that simulated time, which is its final "
                            "state")
        else:
            notes.insert(0, f"budget: {int(u.value)} evaluations, "
                            + ("the final budget of every run" if not warnings else
                               "the largest run length that more than half of each task's runs reached"))
        return budget, notes, warnings
    budget = Budget("per-task default", cuts)
    detail = "; ".join(f"{t} {c.label}" for t, c in cuts.items())
    notes.insert(0, "budgets differ between tasks, so each task is compared at its own default budget "
                    "(chosen from that task's own runs: the budget more than half of them reached): "
                    f"{detail}; "
                    "the leaderboard ranks each task at its own budget; pass --budgets or --time-budgets to compare "
                    "every task at the same budget")
    return budget, notes, warnings
