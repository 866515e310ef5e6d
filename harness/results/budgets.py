"""Budgets at which runs are compared: a number of evaluations, or a point on the simulated clock.

Why a separate module: a grid with a simulated-time budget (`budget.sim_seconds`, the NAS-Bench-201
protocol) gives every run a different number of evaluations, so "after N evaluations" is the wrong
place to compare methods; the protocol compares the incumbent *at the time budget*. Both kinds of
budget are a `Cut`, and everything that reads a run at a budget (report tables, leaderboards,
hypervolume tables, `nas-harness regress`, `rank-stats --strategies`) goes through `cut_index`, so
the commands cannot disagree on which row of a trajectory a budget selects.

A run's incumbent at simulated time t is the one after its last completion with sim_time <= t. It
is known only up to the run's *time horizon*: its recorded `budget.sim_seconds` when the time
budget stopped it (the engine stops when the next completion would end after it), the time of its
last completion when it stopped on `budget.evaluations` (what comes after is unknown), and forever
when it stopped because the strategy had nothing left to propose. It lives in the results layer
because reading a run at a budget is part of reading a run; `harness.report.budgets` re-exports it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

EVALUATIONS = "evaluations"
SIM_SECONDS = "sim_seconds"
KINDS = (EVALUATIONS, SIM_SECONDS)

OK, SHORT, EMPTY = "ok", "short", "empty"


def seconds_text(value: float) -> str:
    """200000.0 -> '200,000'; 12.5 -> '12.5' (thousands separators, no trailing zeros)."""
    v = float(value)
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.6g}"


@dataclass(frozen=True)
class Cut:
    """One budget: `value` evaluations, or `value` simulated seconds."""

    kind: str
    value: float

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown budget kind {self.kind!r}")

    @property
    def label(self) -> str:
        """Phrase for headings: 'after 50 evaluations' / 'at 200,000 simulated seconds'."""
        if self.kind == EVALUATIONS:
            return f"after {int(self.value)} evaluations"
        return f"at {seconds_text(self.value)} simulated seconds"

    @property
    def short(self) -> str:
        """Compact form for table cells: '50 evaluations' / '200,000 simulated s'."""
        if self.kind == EVALUATIONS:
            return f"{int(self.value)} evaluations"
        return f"{seconds_text(self.value)} simulated s"

    @property
    def key(self) -> str:
        """The `budget` column of CSV tables (no thousands separators): '50 evaluations' / '200000 simulated s'."""
        return self.short.replace(",", "")

    @property
    def stem(self) -> str:
        """File-name part: '50' / '200000s'."""
        if self.kind == EVALUATIONS:
            return str(int(self.value))
        return seconds_text(self.value).replace(",", "").replace(".", "p") + "s"


# -- reading a run at a budget -----------------------------------------------------------------------
def time_horizon(budget: Mapping, n_rows: int, last_sim_time: float) -> float:
    """Simulated time up to which a run's incumbent is known (see the module docstring).

    `budget` is the manifest's config.budget ({evaluations, sim_seconds}); a run that stopped on
    its evaluations count is known only up to its last completion; one with fewer rows than that
    count and no time budget ran out of proposals, so its final incumbent stands for ever.
    """
    evaluations = budget.get("evaluations")
    sim_seconds = budget.get("sim_seconds")
    if evaluations is not None and n_rows >= int(evaluations):
        return float(last_sim_time)
    if sim_seconds is not None:
        return max(float(sim_seconds), float(last_sim_time))
    if evaluations is not None:
        return math.inf
    return float(last_sim_time)


def stopped_by(budget: Mapping, n_rows: int) -> str:
    """Which budget ended the run: EVALUATIONS when it completed its count (or had no time
    budget), SIM_SECONDS when the time budget was set and the count was not reached."""
    evaluations = budget.get("evaluations")
    if budget.get("sim_seconds") is None:
        return EVALUATIONS
    if evaluations is not None and n_rows >= int(evaluations):
        return EVALUATIONS
    return SIM_SECONDS


def index_at_time(sim_time: np.ndarray, t: float) -> int:
    """Row of the last completion with sim_time <= t (-1 if none); sim_time is non-decreasing."""
    return int(np.searchsorted(np.asarray(sim_time, dtype=np.float64), t, side="right")) - 1


def cut_index(sim_time: np.ndarray, horizon: float, cut: Cut) -> tuple[int, str]:
    """(row index, OK) of a run's state at `cut`, or (-1, SHORT) when the run's budget ends before
    the cut, or (-1, EMPTY) when no evaluation had completed by a time cut."""
    n = int(np.asarray(sim_time).size)
    if cut.kind == EVALUATIONS:
        b = int(cut.value)
        return (b - 1, OK) if 1 <= b <= n else (-1, SHORT)
    if horizon < cut.value:
        return -1, SHORT
    i = index_at_time(sim_time, cut.value)
    return (i, OK) if i >= 0 else (-1, EMPTY)


def time_average(sim_time: np.ndarray, values: np.ndarray, t_end: float) -> float:
    """Mean over [t0, t_end] of the step function that holds values[i] from sim_time[i] on.

    t0 = sim_time[0], the first completion: before it the run has no incumbent, so there is
    nothing to average. Rows after t_end are ignored; segments whose value is NaN are left out
    (weights renormalised). When t_end == t0 the mean is the value at t0.
    """
    s = np.asarray(sim_time, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = s <= t_end
    s, y = s[keep], y[keep]
    if s.size == 0:
        return math.nan
    widths = np.diff(np.append(s, float(t_end)))
    ok = np.isfinite(y)
    total = float(widths[ok].sum())
    if total <= 0:
        finite = y[ok]
        return float(finite[-1]) if finite.size else math.nan
    return float(np.dot(widths[ok], y[ok]) / total)
