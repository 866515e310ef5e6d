"""The op-histogram section of a report page: which ops the one-shot searches' picked cells hold.

Apart from harness.report.document because it is the one section with its own table thinning and
formatting rules; the data come from harness.report.ops.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.report import Report
from harness.report.blocks import Block
from harness.report.labels import OPS_STEM, step_word
from harness.report.ops import PARAM_FREE_OPS, SHARE_COLUMN

OPS_TABLE_ROWS = 12  # per method in the Markdown/HTML per-epoch table; every step is in op_histograms.csv


def _share(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * float(x):.1f} %"


def _thin_steps(steps: np.ndarray, at_most: int) -> np.ndarray:
    """At most `at_most` evenly spread steps, always the first and the last."""
    if steps.size <= at_most:
        return steps
    return steps[np.unique(np.round(np.linspace(0, steps.size - 1, at_most)).astype(int))]


def _op_row(r: pd.Series, ops: list[str], own: list[str]) -> list[str]:
    """One table row of op counts; "–" for an op the method's space does not have."""
    return [
        str(r["method"]),
        str(int(r["step"])),
        str(int(r["n_runs"])),
        *[str(int(r[o])) if o in own else "–" for o in ops],
        _share(r[SHARE_COLUMN]),
    ]


def ops_blocks(report: Report, stems: dict[str, list[str]]) -> list[Block]:
    """The op histograms of one-shot picks: nothing at all when no run recorded op_ columns."""
    hist = report.op_histograms
    if hist is None or hist.empty:
        return []
    present = list(dict.fromkeys(o for g in hist.groups() for o in hist.ops[g]))
    blocks = [
        Block("h2", "Op histograms of one-shot picks"),
        Block(
            "p",
            "Ops of the cell each one-shot search picked after each epoch (zerocost: after each scored cell), counted "
            "over the cell's op slots and summed over the method's seeds (n runs). Parameter-free ops ("
            + ", ".join(o for o in PARAM_FREE_OPS if o in present)
            + ") have no trainable weights; a growing "
            "parameter-free share is the known failure mode of DARTS-like searches (the supernet favours skip "
            "connections, pooling and none, and the picked cell degenerates). All steps are in `op_histograms.csv`.",
        ),
    ]
    tasks = list(dict.fromkeys(t for t, _ in hist.groups()))
    final = hist.final()
    for task in tasks:
        methods = [m for t, m in hist.groups() if t == task]
        ops = list(dict.fromkeys(o for m in methods for o in hist.ops[(task, m)]))
        words = {step_word(report, task, m) for m in methods}
        step = next(iter(words)) if len(words) == 1 else "step (epoch or scored cell)"
        headers = ["method", step, "n runs", *ops, "param-free share"]
        blocks.append(Block("h3", task))
        last = final[final["benchmark"] == task]
        blocks.append(Block("p", f"Final picks (last {step} of each method):"))
        blocks.append(
            Block(
                "table",
                headers=headers,
                rows=[_op_row(r, ops, hist.ops[(task, r["method"])]) for _, r in last.iterrows()],
            )
        )
        rows, thinned = [], False
        for method in methods:
            sub = hist.group(task, method)
            keep = _thin_steps(sub["step"].to_numpy(), OPS_TABLE_ROWS)
            thinned |= keep.size < len(sub)
            rows += [_op_row(r, ops, hist.ops[(task, method)]) for _, r in sub[sub["step"].isin(keep)].iterrows()]
        blocks.append(
            Block(
                "p",
                f"Per {step}"
                + (
                    f" (at most {OPS_TABLE_ROWS} evenly spread {step}s per method, always the first "
                    "and the last; every one is in `op_histograms.csv`)"
                    if thinned
                    else ""
                )
                + ":",
            )
        )
        blocks.append(Block("table", headers=headers, rows=rows))
    for stem in stems.get(OPS_STEM, []):
        blocks.append(
            Block(
                "figure",
                text="Share of each op among the op slots of the picked cells per epoch, summed over seeds; "
                "parameter-free ops in grey at the bottom of each bar, their share as the black line.",
                figure=stem,
            )
        )
    return blocks
