"""Why a run ends: the reasons a trajectory records, the limits every run has, and their precedence.

Shared by the engine's two loops (the ask/tell loop and the batched one for non-adaptive strategies),
which must stop at the same evaluation for the same reason.
"""
from __future__ import annotations

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
