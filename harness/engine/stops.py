"""Why a run ends: the reasons a trajectory records, the limits every run has, and their precedence.

Shared by the engine's two loops (the ask/tell loop and the batched one for non-adaptive strategies),
which must stop at the same evaluation for the same reason.
"""
from __future__ import annotations

from dataclasses import dataclass

# Why a run stopped (trajectory.attrs["stop_reason"]).
STOP_EVALUATIONS = "budget.evaluations"  # the evaluation budget is spent
STOP_SIM_SECONDS = "budget.sim_seconds"  # the next result would arrive after the time budget
STOP_EXHAUSTED = "space_exhausted"  # every architecture was evaluated at the highest fidelity
STOP_STALLED = "stalled"  # MAX_REPEATS proposals in a row repeated evaluated (arch, fidelity) pairs
STOP_CAP = "evaluation_cap"  # EVALUATIONS_PER_ARCH x architectures x fidelities evaluations
STOP_STRATEGY = "strategy_finished"  # the strategy proposed nothing while nothing was pending
STOP_FREE = "clock_stopped"  # time budget only, and MAX_REPEATS evaluations in a row cost nothing
STOP_REASONS = (STOP_EVALUATIONS, STOP_SIM_SECONDS, STOP_EXHAUSTED, STOP_STALLED, STOP_CAP, STOP_STRATEGY, STOP_FREE)
# A strategy that re-proposes only what it has evaluated is stuck (a converged policy, a collapsed
# density). In NB201 runs of 5,000 evaluations the longest such streaks measured were 232
# (REINFORCE), 193 (TPE), 48 (BOHB) and 21 (RE): 10,000 leaves a wide margin.
MAX_REPEATS = 10_000
# Enough for uniform sampling with replacement to see a 15,625-cell space whole (coupon collector:
# about 10 draws per cell), and a bound on a trajectory's memory whatever budget.evaluations says.
EVALUATIONS_PER_ARCH = 10


def stop_reason(started: int, max_evaluations: int | None, exhausted: bool, stalled: bool, cap: int) -> str:
    """Why proposing stops, once one of the run's limits is reached; when several are, the first of:
    the evaluation budget, an exhausted space, a stall, the evaluation cap, a clock that stopped."""
    if max_evaluations is not None and started >= max_evaluations:
        return STOP_EVALUATIONS
    if exhausted:
        return STOP_EXHAUSTED
    if stalled:
        return STOP_STALLED
    if started >= cap:
        return STOP_CAP
    return STOP_FREE


@dataclass(frozen=True)
class RunLimits:
    """Where one run stops proposing, as both loops test it after starting each evaluation."""

    limit: int  # evaluations: the budget's, or the cap when the budget is a time
    max_evaluations: int | None  # budget.evaluations
    free_limit: float  # costless evaluations in a row that end a time-only run (inf with an evaluation budget)
    sim_seconds: float | None  # budget.sim_seconds: results finishing later are not recorded
    cap: int  # EVALUATIONS_PER_ARCH x architectures x fidelities
    size: int  # architectures in the space: all evaluated at the top fidelity = exhausted
    max_repeats: int  # repeated (architecture, fidelity) pairs in a row that stall a run

    def reached(self, started: int, n_top: int, repeats: int, free: int) -> bool:
        """Whether proposing stops after the evaluation that made these counts."""
        return (started >= self.limit or n_top >= self.size or repeats >= self.max_repeats
                or free >= self.free_limit)

    def reason(self, started: int, n_top: int, repeats: int) -> str:
        """Why, once `reached` (stop_reason's precedence)."""
        return stop_reason(started, self.max_evaluations, n_top >= self.size, repeats >= self.max_repeats, self.cap)
