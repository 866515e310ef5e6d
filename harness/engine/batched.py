"""The run loop for non-adaptive strategies (random search): proposals asked and read in batches.

Why: the ask/tell loop pays, per evaluation, an `ask`, an `evaluate`, an Observation, a `tell` and a
heap push and pop: about 6 us of Python that a strategy whose proposals never depend on results
(`Strategy.adaptive = False`) does not need. Such a strategy is asked for up to BATCH proposals at
once (`Strategy.ask_many`), they are read from the table in one call (`_Evaluator.evaluate_many`, the
same random draws in the same order), and only the bookkeeping that is sequential by nature (repeats,
the stop rules, the incumbent) runs per evaluation. With one worker a result arrives when its
evaluation ends, in order, so the simulated clock is the running sum of the costs.

The trajectory is the one the ask/tell loop writes, bit for bit (tests/test_engine_bitwise.py runs
both), with one difference: the machine clock (`wall_time`) is read once per batch, so the rows of a
batch share it. The engine uses this loop only where it applies (run_search: one worker, one
objective, a stored table, repeats charged, the base incumbent rule).
"""
from __future__ import annotations

import math
import time
from array import array
from typing import Any

import numpy as np

from harness.engine.columns import _Columns
from harness.engine.evaluation import _Evaluator
from harness.engine.stops import STOP_SIM_SECONDS, RunLimits
from harness.spaces import SearchSpace
from harness.strategies import Strategy, StrategyError

BATCH = 256  # proposals asked at a time: a budget of 200 is one batch, and a time budget wastes few reads


def run_batched(strat: Strategy[Any], evaluator: _Evaluator, space: SearchSpace, columns: _Columns,
                inc_rows: array, limits: RunLimits, *, strategy: str, maximize: bool, wall_start: float) -> str | None:
    """Run `strat` to its end, filling `columns` and `inc_rows` as the ask/tell loop would; returns why
    proposing stopped (None: the strategy had nothing more to propose)."""
    n_fidelities = len(evaluator.store.fidelities)
    seen = np.zeros(evaluator.store.n_archs * n_fidelities, dtype=bool)  # (row, fidelity) pairs evaluated so far
    started = repeats = free = n_top = 0
    now = 0.0
    top = evaluator.top_fidelity
    incumbent = _Incumbent(space, maximize)
    canonical_at = space.canonical_at  # canonical(proposal.arch), by the row the proposal was read from
    while True:
        proposals = strat.ask_many(min(BATCH, limits.limit - started))
        if not proposals:
            if started == 0:
                raise StrategyError(f"strategy {strategy!r} proposed nothing at the start of the run")
            return None
        row_array, fidelities, positions, seeds, observed, costs = evaluator.evaluate_many(proposals)
        n = len(proposals)
        finish = np.cumsum(np.concatenate(([now], costs)))[1:]  # now + cost, one evaluation after another
        # Per evaluation, as the ask/tell loop counts them when it starts it: repeats in a row, costless
        # evaluations in a row, architectures evaluated at the top fidelity, evaluations started.
        pairs = row_array * n_fidelities + positions
        first = np.zeros(n, dtype=bool)
        first[np.unique(pairs, return_index=True)[1]] = True
        new = first & ~seen[pairs]
        seen[pairs] = True
        repeat_run = _runs(~new, repeats)
        free_run = _runs(~(costs > 0), free)
        top_count = n_top + np.cumsum(new & (fidelities == top))
        count = started + np.arange(1, n + 1)
        limited = ((count >= limits.limit) | (top_count >= limits.size) | (repeat_run >= limits.max_repeats)
                   | (free_run >= limits.free_limit))
        sim_seconds = limits.sim_seconds
        cut = np.flatnonzero(finish > sim_seconds) if sim_seconds is not None else np.empty(0, dtype=np.int64)
        stops = np.flatnonzero(limited)
        end, stop = n, None
        if cut.size and (not stops.size or cut[0] <= stops[0]):
            end, stop = int(cut[0]), STOP_SIM_SECONDS  # whatever else stopped the proposals, the clock cut the run
        elif stops.size:
            k = int(stops[0])
            end, stop = k + 1, limits.reason(int(count[k]), int(top_count[k]), int(repeat_run[k]))
        if stop is None:  # the counts go on into the next batch
            started, repeats, free, n_top = int(count[-1]), int(repeat_run[-1]), int(free_run[-1]), int(top_count[-1])
        if end:
            archs = [canonical_at(row) for row in row_array[:end].tolist()]
            best_row, best_valid, best_arch = incumbent.follow(row_array[:end], fidelities[:end], observed[:end])
            columns.add_block({
                "step": count[:end],  # every evaluation started before this batch has its row
                "arch": archs, "arch_index": row_array[:end], "fidelity": fidelities[:end],
                "budget": fidelities[:end], "seed_used": seeds[:end], "valid": observed[:end], "cost": costs[:end],
                "sim_time": finish[:end], "best_valid": best_valid, "incumbent_arch": best_arch,
                "wall_time": np.full(end, time.perf_counter() - wall_start),
            })
            inc_rows.frombytes(best_row.tobytes())
            now = float(finish[end - 1])
        if stop is not None:
            return stop


def _runs(flags: np.ndarray, carried: int) -> np.ndarray:
    """For each position, the number of consecutive True flags ending there (0 at a False), counting
    `carried` Trues just before the first position."""
    n = flags.size
    index = np.arange(n)
    last_false = np.maximum.accumulate(np.where(flags, -1, index))
    return np.where(last_false >= 0, index - last_false, carried + index + 1) * flags


class _Incumbent:
    """The best result at the largest budget so far, followed through batches of results: the rule of
    the ask/tell loop ((fidelity, signed value) compared as a tuple; the first of equals stays; an
    unmeasured value is worst), vectorised for a batch at one fidelity, one by one otherwise."""

    def __init__(self, space: SearchSpace, maximize: bool):
        self.space, self.maximize = space, maximize
        self.level = self.signed = -math.inf
        self.row, self.valid, self.arch = -1, math.nan, ""

    def _arch_of(self, row: int) -> str:
        return self.space.canonical_at(row)

    def follow(self, rows: np.ndarray, levels: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, list[float],
                                                                                         list[str]]:
        """After each result of the batch: the incumbent's row, observed value and canonical string."""
        signed = observed if self.maximize else -observed
        signed = np.where(signed != signed, -np.inf, signed)
        level = float(levels[0])
        if not (np.all(levels == level) and level >= self.level):
            return self._one_by_one(rows, levels.tolist(), signed.tolist(), observed.tolist())
        before = np.maximum.accumulate(np.concatenate(([self.signed if level == self.level else -np.inf], signed)))
        better = signed > before[:-1]
        if self.row < 0 or level > self.level:
            better[0] = True  # the first result at a larger budget is the incumbent whatever its value
        where = np.maximum.accumulate(np.where(better, np.arange(rows.size), -1))
        out_rows = np.where(where >= 0, rows[where], self.row)
        out_valid = np.where(where >= 0, observed[where], self.valid)
        names, arch, row = [], self.arch, self.row
        for r in out_rows.tolist():
            if r != row:
                arch, row = self._arch_of(r), r
            names.append(arch)
        if better.any():
            k = int(np.flatnonzero(better)[-1])
            self.level, self.signed, self.valid = level, float(signed[k]), float(observed[k])
            self.row, self.arch = row, arch
        return out_rows, out_valid.tolist(), names

    def _one_by_one(self, rows: np.ndarray, levels: list[float], signed: list[float],
                    observed: list[float]) -> tuple[np.ndarray, list[float], list[str]]:
        out_rows, out_valid, names = [], [], []
        for row, level, score, value in zip(rows.tolist(), levels, signed, observed, strict=True):
            if self.row < 0 or level > self.level or (level == self.level and score > self.signed):
                if row != self.row:
                    self.arch = self._arch_of(row)
                self.level, self.signed, self.row, self.valid = level, score, row, value
            out_rows.append(self.row)
            out_valid.append(self.valid)
            names.append(self.arch)
        return np.asarray(out_rows, dtype=np.int64), out_valid, names
