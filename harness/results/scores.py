"""Final regret and anytime regret (AUC) of every complete run, at a budget.

What `nas-harness regress` and `nas-harness rank-stats --strategies` compare. The budget is each
run's own (the manifest's config.budget) unless `budget` evaluations or `time_budget` simulated
seconds cut every run. With an evaluations budget B, final regret is the regret after the B-th
evaluation and the AUC the mean regret over evaluations 1..B (a run whose strategy ran out of
proposals before B keeps its incumbent until B: "padded"). With a simulated-time budget T, final
regret is the regret of the incumbent at T and the AUC its time-average over [first completion,
T] (harness.results.budgets). A one-shot search ignores config.budget: it is read after N epochs
(default: all of them), never at a simulated time.

Runs are the complete runs of harness.results.load_results, grouped by its (task, method) labels;
a complete run that cannot be read at the budget is skipped with its reason, and every skipped or
unused run is counted in `Scores.notes()`, so nothing is dropped silently.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.results.budgets import (
    EVALUATIONS,
    OK,
    SHORT,
    SIM_SECONDS,
    Cut,
    cut_index,
    seconds_text,
    stopped_by,
    time_average,
)
from harness.results.resultset import ResultSet, load_results
from harness.results.runs import Run
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

METRICS = ("final", "auc")


class ScoreSkip(Exception):
    """A complete run that cannot be read at the requested budget (the reason is the message)."""


@dataclass
class RunScore:
    """Final regret and AUC of one complete run at one budget."""

    run: Run
    final: float
    auc: float
    budget_kind: str
    budget: float  # evaluations (an integer) or simulated seconds, as budget_kind says
    padded: int = 0

    @property
    def path(self) -> Path:
        """The run folder."""
        return self.run.path

    @property
    def seed(self) -> int:
        """The run's seed (complete runs always have one)."""
        return int(self.run.seed if self.run.seed is not None else -1)

    @property
    def strategy(self) -> str:
        """The strategy name (the method label is `run.method`)."""
        return self.run.strategy

    @property
    def benchmark(self) -> str:
        """The benchmark name (the task label is `run.task`)."""
        return self.run.benchmark

    @property
    def benchmark_sha256(self) -> str:
        """The sha256 of the store the run read, from its manifest."""
        return self.run.benchmark_sha256


def budget_label(kind: str, value: float) -> str:
    """'100 evaluations' / '200,000 simulated s'."""
    return Cut(kind, value).short


def budget_options(budgets: list[tuple[str, float]]) -> str:
    """The cut that makes mixed budgets comparable, as a command-line hint."""
    evals = [v for k, v in budgets if k == EVALUATIONS]
    times = [v for k, v in budgets if k == SIM_SECONDS]
    hints = []
    if times:
        option = f"--time-budget {seconds_text(min(times)).replace(',', '')}"
        hints.append(f"{option} (the incumbent of every run at that simulated time)")
    if evals and not times:
        hints.append(f"--budget {int(min(evals))} (the first {int(min(evals))} evaluations of every run)")
    elif evals:
        hints.append("--budget B (the first B evaluations of every run)")
    return "pass " + " or ".join(hints)


def _evaluations_values(regret: np.ndarray, budget: int, planned: int | None, timed: bool) -> tuple[float, float, int]:
    """(final, AUC, padded steps) over the first `budget` evaluations."""
    if regret.size >= budget:
        curve = regret[:budget]
        return float(curve[-1]), float(np.nanmean(curve)), 0
    if planned is not None and planned >= budget and not timed:
        # The strategy ran out of proposals (e.g. it exhausted the space): its incumbent stays.
        curve = np.concatenate([regret, np.full(budget - regret.size, regret[-1])])
        return float(curve[-1]), float(np.nanmean(curve)), budget - regret.size
    raise ScoreSkip(f"fewer than {budget} evaluations" + (" (the time budget ended the run)" if timed else ""))


def _time_values(sim_time: np.ndarray, regret: np.ndarray, horizon: float, t: float) -> tuple[float, float]:
    """(final, AUC) at simulated time t: the incumbent's regret at t and its time-average since the first completion."""
    i, status = cut_index(sim_time, horizon, Cut(SIM_SECONDS, t))
    if status == SHORT:
        raise ScoreSkip(f"time horizon shorter than {seconds_text(t)} simulated s")
    if status != OK:
        raise ScoreSkip(f"no evaluation completed by {seconds_text(t)} simulated s")
    return float(regret[i]), time_average(sim_time[: i + 1], regret[: i + 1], t)


def check_cut(budget: int | None, time_budget: float | None) -> None:
    """Refuse impossible cuts in one line: both kinds at once, or a non-positive value."""
    if budget is not None and time_budget is not None:
        raise NasHarnessError("give --budget (evaluations) or --time-budget (simulated seconds), not both")
    if time_budget is not None and not (math.isfinite(time_budget) and time_budget > 0):
        raise NasHarnessError(f"--time-budget must be a positive number of simulated seconds, got {time_budget}")
    if budget is not None and budget < 1:
        raise NasHarnessError(f"--budget must be a positive number of evaluations, got {budget}")


def score_run(run: Run, budget: int | None = None, time_budget: float | None = None) -> RunScore:
    """Final regret and AUC of one complete run at its own budget or cut (module docstring).

    Raises ScoreSkip when the run cannot be read at that budget, NasHarnessError for a cut that
    makes no sense for it (a time budget on a one-shot search).
    """
    if budget is not None and time_budget is not None:
        raise NasHarnessError("give --budget (evaluations) or --time-budget (simulated seconds), not both")
    if run.traj is None:
        raise ScoreSkip(run.reason or run.status)
    budget_cfg = run.budget
    planned = budget_cfg.get("evaluations")
    sim_seconds = budget_cfg.get("sim_seconds")
    sim_time = np.asarray(run.column("sim_time"), dtype=np.float64)
    regret = np.asarray(run.column("regret"), dtype=np.float64)
    padded = 0
    kind: str
    value: float
    if run.is_oneshot:
        # Steps are epochs and the clock is real compute seconds of the machine that ran it.
        if time_budget is not None:
            raise NasHarnessError(f"run {run.run_id} is a one-shot search ({run.strategy}) timed in real compute "
                                  "seconds, not simulated ones; compare one-shot runs after N epochs with --budget N")
        kind, value = EVALUATIONS, int(budget) if budget is not None else int(regret.size)
        final, auc, padded = _evaluations_values(regret, int(value), int(regret.size), False)
    elif planned is None and sim_seconds is None:
        raise ScoreSkip("no budget recorded")
    elif budget is not None:
        kind, value = EVALUATIONS, int(budget)
        final, auc, padded = _evaluations_values(regret, int(value), planned, sim_seconds is not None)
    elif time_budget is not None:
        kind, value = SIM_SECONDS, float(time_budget)
        final, auc = _time_values(sim_time, regret, run.horizon, value)
    elif stopped_by(budget_cfg, regret.size) == EVALUATIONS:
        assert planned is not None  # stopped by evaluations: there is an evaluations budget
        kind, value = EVALUATIONS, int(planned)
        final, auc, padded = _evaluations_values(regret, int(value), planned, False)
    else:
        assert sim_seconds is not None  # stopped by time: there is a time budget
        kind, value = SIM_SECONDS, float(sim_seconds)
        final, auc = _time_values(sim_time, regret, run.horizon, value)
    if not math.isfinite(final):
        raise ScoreSkip("final regret is not finite")
    return RunScore(run, final, auc, kind, value, padded)


@dataclass
class Scores:
    """Per-seed final regret and AUC of every (task, method) of a results folder at one budget."""

    result: ResultSet
    cells: dict[tuple[str, str], list[RunScore]]
    skipped: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def runs(self) -> list[RunScore]:
        """Every scored run, cell by cell."""
        return [s for cell in self.cells.values() for s in cell]

    @property
    def padded(self) -> int:
        """How many runs ended before the evaluations budget and had their last regret carried to it."""
        return sum(s.padded > 0 for s in self.runs)

    def values(self, task: str, method: str, metric: str) -> np.ndarray:
        """Per-seed `metric` ("final" or "auc") of one cell, ordered by seed."""
        if metric not in METRICS:
            raise NasHarnessError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        return np.array([s.final if metric == "final" else s.auc for s in self.cells[(task, method)]], dtype=np.float64)

    def notes(self) -> list[str]:
        """What was not used, and why (one line per kind), and how many runs were padded."""
        root = self.result.root
        out = []
        n_skipped = sum(len(v) for v in self.skipped.values())
        if n_skipped:
            parts = "; ".join(f"{len(v)} {reason} (e.g. {v[0]})" for reason, v in sorted(self.skipped.items()))
            out.append(f"{root}: used {len(self.runs)} runs, skipped {n_skipped}: {parts}")
        if self.result.ignored:
            out.append(f"{root}: ignored {len(self.result.ignored)} folder(s) that are not RUN_ID folders: "
                       + ", ".join(self.result.ignored[:5]) + (", …" if len(self.result.ignored) > 5 else ""))
        if self.padded:
            out.append(f"{root}: {self.padded} runs ended before their budget; their last regret was carried to step B")
        return out


def score_results(result: ResultSet, budget: int | None = None, time_budget: float | None = None) -> Scores:
    """Score every complete run of `result` (module docstring); unused and unscorable runs are counted by reason.

    Raises NasHarnessError when no run can be scored, or when one (task, method) holds runs of
    different budgets (the message says which cut makes them comparable).
    """
    check_cut(budget, time_budget)
    skipped: dict[str, list[Path]] = {}
    for run in result.not_used():
        skipped.setdefault(run.status, []).append(run.path)
    cells: dict[tuple[str, str], list[RunScore]] = {}
    for key, runs in result.cells().items():
        scored = []
        for run in runs:
            try:
                scored.append(score_run(run, budget, time_budget))
            except ScoreSkip as why:
                skipped.setdefault(str(why), []).append(run.path)
        if not scored:
            continue
        budgets = sorted({(s.budget_kind, float(s.budget)) for s in scored})
        if len(budgets) > 1:
            raise NasHarnessError(f"{key[0]} x {key[1]} has runs with different budgets "
                                  f"({', '.join(budget_label(*b) for b in budgets)}); " + budget_options(budgets))
        cells[key] = scored
    scores = Scores(result, cells, skipped)
    if not cells:
        detail = "; ".join(f"{len(v)} {k}" for k, v in sorted(skipped.items()))
        raise NasHarnessError(f"no finished runs under {result.root} can be read at this budget ({detail})")
    for note in scores.notes():
        log.info("%s", note)
    return scores


def load_scores(root: str | Path, budget: int | None = None, time_budget: float | None = None) -> Scores:
    """load_results(root) scored at one budget: what regress and rank-stats --strategies read."""
    check_cut(budget, time_budget)
    return score_results(load_results(root), budget, time_budget)
