"""Names, number formats and clock labels shared by a report's plots, pages and tables.

One place decides how a number, a budget or a method timed in real seconds is written, so the
Markdown, HTML and LaTeX outputs and the plot axes cannot disagree.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.report.budgets import SIM_SECONDS, Budget, Cut
from harness.results import SIMULATED_CLOCK

if TYPE_CHECKING:
    from harness.report import Report

PLOTS = "plots"  # the plots' sub-folder of a report
OPS_STEM = "op_histograms"  # stem of the op-histogram plot and its section key
REAL_MARK = " (real s)"  # after the name of a method timed in real compute seconds, wherever its time is shown
TIME_AXIS_SIMULATED = "simulated time (GPU-hours)"
TIME_AXIS_MIXED = "seconds: simulated (solid) / real compute (dashed)"
TIME_AXIS_REAL = "real compute seconds"


def fmt(x: Any, digits: int = 3) -> str:
    """A number with `digits` decimals, integers as they are, and an en dash for a missing value (None/NaN)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.{digits}f}"


def fmt_g(x: Any) -> str:
    """A number in 3 significant digits (counts and hours of very different sizes), en dash when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{float(x):.3g}"


def plus_minus(mean: float, se: float, digits: int = 3) -> str:
    """`mean ± se`: how every page writes a mean with its standard error; en dash without a mean."""
    if math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {fmt(se, digits)}"


def slug(text: str) -> str:
    """A file-name-safe, lower-case stem for a task or budget name (plot file names must match PLOT_FILE_RE)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x"


def method_title(method: str) -> str:
    """A method label as people read it: the strategy's display name (harness.strategies.DISPLAY_NAMES,
    one-shot methods by their registry line's name) with the label's settings, e.g.
    `re` -> "Regularized evolution", `rs[replace=true]` -> "Random search [replace=true]"; a label
    whose name is unknown (a user's module:Class) is returned as it is."""
    from harness.oneshot.registry import ONESHOT_REGISTRY
    from harness.strategies import display_name

    name, bracket, settings = method.partition("[")
    if name in ONESHOT_REGISTRY:
        title = re.split(r" \(|:", ONESHOT_REGISTRY[name], maxsplit=1)[0]
    else:
        title = display_name(name)
    if title == name:
        return method
    return title + (f" [{settings}" if bracket else "")


def legend_label(method: str, n: int | None = None, mark: str = "") -> str:
    """A method's legend entry: its title, its code in parentheses (what the tables show), `mark`
    (REAL_MARK for a method timed in real seconds) and the number of runs n."""
    title = method_title(method.partition("[")[0])
    code = f" ({method})" if title != method.partition("[")[0] else (method[len(title):] if "[" in method else "")
    return f"{title}{code}{mark}" + (f", n={n}" if n is not None else "")


def marked(method: str, clocks: dict[str, str]) -> str:
    """The method's name, with REAL_MARK when its time is real compute seconds."""
    return method + REAL_MARK if clocks.get(method, SIMULATED_CLOCK) != SIMULATED_CLOCK else method


def real_in(clocks: dict[str, str], methods=None) -> list[str]:
    """The methods timed in real compute seconds (of `methods`, when given): they are marked wherever time is shown."""
    return [m for m, c in clocks.items() if c != SIMULATED_CLOCK and (methods is None or m in methods)]


def has_time_cut(budget: Budget) -> bool:
    """Whether the budget reads any task at a time: only then does a method's clock matter for its row."""
    return any(c.kind == SIM_SECONDS for c in budget.cuts.values())


def clock_suffix(cut: Cut | None, real: list[str]) -> str:
    """Heading suffix for a time budget that real-clock methods are read at in real seconds."""
    if cut is None or cut.kind != SIM_SECONDS or not real:
        return ""
    return f" (real compute seconds for {', '.join(real)})"


def time_axis(clocks: dict[str, str]) -> tuple[str, float]:
    """(x-axis label, scale from seconds) of plots against time: GPU-hours when every method is on
    the simulated clock (the look of tabular-only reports), seconds as soon as one is real."""
    real = real_in(clocks)
    if not real:
        return TIME_AXIS_SIMULATED, 1 / 3600.0
    return (TIME_AXIS_REAL if len(real) == len(clocks) else TIME_AXIS_MIXED), 1.0


def time_words(clocks: dict[str, str]) -> str:
    """What the time axis measures, in words: 'simulated time', 'real compute time' or both."""
    label, _ = time_axis(clocks)
    return {TIME_AXIS_SIMULATED: "simulated time", TIME_AXIS_REAL: "real compute time"}.get(
        label, "time (simulated, and real compute for dashed methods)"
    )


def budget_title(budget: Budget) -> str:
    """The budget's label with a capital first letter, for headings."""
    label = budget.label
    return label[0].upper() + label[1:]


def task_at(budget: Budget, task: str) -> str:
    """The task name, with its budget when the budget differs between tasks."""
    cut = budget.cut(task)
    return task if budget.uniform is not None or cut is None else f"{task} ({cut.short})"


def step_word(report: Report, task: str, method: str) -> str:
    """What a one-shot trajectory's step counts: an epoch, or (zerocost) a scored cell."""
    cell = report.result.cell(task, method)
    return "scored cell" if cell and cell[0].strategy == "zerocost" else "epoch"
