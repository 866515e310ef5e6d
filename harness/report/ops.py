"""Op histograms of the cells picked by one-shot searches, per epoch.

Why: the known failure mode of DARTS-like searches is a drift of the picked cell towards
parameter-free operations (skip_connect, none, pooling) as the supernet trains; the final regret
alone does not show it. One-shot trajectories (harness.grid.execute `_oneshot_trajectory`) carry integer
columns `op_<name>` counting the ops of the row's picked cell (`incumbent_arch`); engine (tabular)
runs have none. This module sums those counts over the seeds of each (task, method) per step
(epoch; zerocost: scored cell) and adds the share of parameter-free ops. It reads only the
complete runs of a ResultSet and computes numbers; harness.report.render draws and writes them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.report.load import ResultSet, Run

log = logging.getLogger(__name__)

OP_PREFIX = "op_"
# Operations without trainable weights, in both cell spaces (NB201: none, skip_connect, avg_pool_3x3;
# DARTS: max_pool_3x3, avg_pool_3x3, skip_connect). A cell whose slots fill up with them is the
# degenerate pick of a drifting one-shot search.
PARAM_FREE_OPS = ("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3")
SHARE_COLUMN = "param_free_share"
KEY_COLUMNS = ("benchmark", "method", "step", "n_runs")


@dataclass
class OpHistograms:
    """Summed op counts per (task, method, step), and why any run was left out."""

    table: pd.DataFrame  # columns KEY_COLUMNS, one per op (union over the groups, in first-seen order), SHARE_COLUMN
    ops: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (task, method) -> that space's ops
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when no run recorded op counts: the report then has no op-histogram section."""
        return self.table.empty

    def group(self, task: str, method: str) -> pd.DataFrame:
        """The rows of one (task, method), by step, with only that space's op columns."""
        sub = self.table[(self.table["benchmark"] == task) & (self.table["method"] == method)]
        return sub[[*KEY_COLUMNS, *self.ops[(task, method)], SHARE_COLUMN]].reset_index(drop=True)

    def groups(self) -> list[tuple[str, str]]:
        """The (task, method) pairs that have op counts, in table order."""
        return list(self.ops)

    def final(self) -> pd.DataFrame:
        """The last step of each (task, method): the cells the searches ended with."""
        if self.empty:
            return self.table
        last = self.table.groupby(["benchmark", "method"], sort=False)["step"].transform("max")
        return self.table[self.table["step"] == last].reset_index(drop=True)


def op_columns(traj: pd.DataFrame | Run) -> list[str]:
    """The `op_<name>` columns of a trajectory (a DataFrame, or a run's, read without building its frame), in order."""
    names = traj.columns if isinstance(traj, pd.DataFrame) else traj.column_names
    return [c for c in names if isinstance(c, str) and c.startswith(OP_PREFIX)]


def is_param_free(op: str) -> bool:
    """Whether an op has no trainable weights (pooling, skip, none): a growing share of these is DARTS' failure mode."""
    return op in PARAM_FREE_OPS


def _usable(run: Run, columns: list[str]) -> str:
    """Why a run's op columns cannot be summed ("" when they can)."""
    values = run.trajectory[columns]
    if values.isna().to_numpy().any():
        return "missing op counts on some rows"
    arr = values.to_numpy(dtype=np.float64)
    if (arr < 0).any() or not np.array_equal(arr, np.round(arr)):
        return "op counts that are not non-negative integers"
    totals = arr.sum(axis=1)
    if totals.size and not np.all(totals == totals[0]):
        return f"a different number of op slots on different rows ({int(totals.min())}–{int(totals.max())})"
    return ""


def _group_table(task: str, method: str, runs: list[Run], columns: list[str]) -> pd.DataFrame:
    frames = [r.trajectory[["step", *columns]] for r in runs]
    stacked = pd.concat(frames, ignore_index=True)
    summed = stacked.groupby("step", sort=True)[columns].sum().astype(np.int64)
    n_runs = stacked.groupby("step", sort=True).size().rename("n_runs")
    out = summed.join(n_runs).reset_index()
    ops = [c[len(OP_PREFIX) :] for c in columns]
    out = out.rename(columns=dict(zip(columns, ops, strict=False)))
    counts = out[ops].to_numpy(dtype=np.float64)
    free = out[[o for o in ops if is_param_free(o)]].to_numpy(dtype=np.float64).sum(axis=1)
    total = counts.sum(axis=1)
    out[SHARE_COLUMN] = np.divide(free, total, out=np.full_like(free, np.nan), where=total > 0)
    out.insert(0, "benchmark", task)
    out.insert(1, "method", method)
    return out[["benchmark", "method", "step", "n_runs", *ops, SHARE_COLUMN]]


def op_histograms(result: ResultSet) -> OpHistograms:
    """Op counts of the picked cells summed over seeds, per (task, method) and step.

    Only (task, method)s with at least one complete run carrying op_ columns appear. Runs of such a
    group without op columns (written before they existed), with another op set than the group's
    (most common) one, or with unusable counts are left out and named in `warnings`; `n_runs` says
    how many runs each step sums. The `benchmark` column holds the report's task label (the
    benchmark name, plus any benchmark setting that differs between runs).
    """
    parts: list[pd.DataFrame] = []
    ops: dict[tuple[str, str], list[str]] = {}
    warnings: list[str] = []
    for task in result.tasks():
        for method in result.methods(task):
            cell = result.cell(task, method)
            with_ops = [r for r in cell if op_columns(r)]
            if not with_ops:
                continue
            sets = Counter(tuple(op_columns(r)) for r in with_ops)
            columns = list(sets.most_common(1)[0][0])  # ties: the op set of the lowest seed
            used: list[Run] = []
            for r in cell:
                own = op_columns(r)
                if not own:
                    why = "its trajectory has no op_ columns"
                elif set(own) != set(columns):
                    why = f"its op columns ({', '.join(own)}) differ from the other runs' ({', '.join(columns)})"
                else:
                    why = _usable(r, columns)
                if why:
                    warnings.append(
                        f"op histogram of {method} on {task}: run {r.run_id} (seed {r.seed}) left out: {why}"
                    )
                else:
                    used.append(r)
            if not used:
                continue
            parts.append(_group_table(task, method, used, columns))
            ops[(task, method)] = [c[len(OP_PREFIX) :] for c in columns]
    for w in warnings:
        log.info("%s", w)
    if not parts:
        return OpHistograms(pd.DataFrame(), {}, warnings)
    all_ops = list(dict.fromkeys(op for names in ops.values() for op in names))
    table = pd.concat(parts, ignore_index=True)
    for op in all_ops:  # an op of another space is absent (NaN), not zero: this space cannot pick it
        if op not in table.columns:
            table[op] = np.nan
    table = table[[*KEY_COLUMNS, *all_ops, SHARE_COLUMN]]
    for op in all_ops:
        if not table[op].isna().any():
            table[op] = table[op].astype(np.int64)
        else:
            table[op] = table[op].astype("Int64")
    return OpHistograms(table, ops, warnings)
