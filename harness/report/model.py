"""The data of a report: what `build_report` computes and the renderers (harness.report.render) write.

Kept apart from the builder so rendering code can import the model without the computation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.report.budgets import Budget
from harness.report.checklist import Item
from harness.report.curves import Band
from harness.report.ops import OpHistograms
from harness.report.reference import RSReference
from harness.report.stats import FriedmanResult
from harness.results import SIMULATED_CLOCK, ResultSet

REFERENCE_LABEL = "E[random search] (exact)"


@dataclass
class TaskInfo:
    """Everything the report shows about one task (benchmark + objectives)."""

    task: str
    benchmark: str
    maximize: bool
    valid_metric: str = "validation"
    unit: str = ""
    has_test: bool = True
    multi_objective: bool = False
    objectives: list[str] = field(default_factory=list)
    obj_maximize: list[bool] = field(default_factory=list)
    reference: RSReference | None = None
    reference_note: str = ""
    store_sha: str | None = None
    time_grid: np.ndarray | None = None
    eval_bands: dict[str, dict[str, Band | None]] = field(default_factory=dict)
    time_bands: dict[str, dict[str, Band | None]] = field(default_factory=dict)
    hv_bands: dict[str, Band | None] = field(default_factory=dict)
    fronts: dict[str, np.ndarray] = field(default_factory=dict)  # original units, per method (union over seeds)
    hv_ref: np.ndarray | None = None  # worst observed values, original units
    hv_lo: np.ndarray | None = None
    clocks: dict[str, str] = field(default_factory=dict)  # method -> "simulated" or "real" (harness.report.load)
    # what the metrics are, in words, from the store's metric descriptions (axis labels); "" when unknown
    valid_label: str = ""
    test_label: str = ""

    @property
    def real_methods(self) -> list[str]:
        """Methods whose time on this task is real compute seconds."""
        return [m for m, c in self.clocks.items() if c != SIMULATED_CLOCK]


@dataclass(frozen=True)
class VersusBest:
    """A method's regret on one task at one budget tested against the best method's (lowest mean).

    `tied` is True for the best method itself and for every method whose Holm-adjusted p is not below
    alpha (or could not be tested): those are not significantly different from the best.
    """

    best: str
    test: str  # "Wilcoxon signed-rank" (same seeds), "Mann-Whitney U", "" for the best itself
    p_value: float
    p_holm: float
    tied: bool

    @property
    def is_best(self) -> bool:
        return self.test == "" and self.tied


@dataclass
class Leaderboard:
    """Ranks of the methods over the single-objective tasks at one budget, with Friedman and Nemenyi."""

    budget: Budget
    tasks: list[str]
    methods: list[str]
    mean_regret: np.ndarray  # tasks x methods
    n: np.ndarray  # seeds behind each mean
    ranks: np.ndarray
    avg_ranks: np.ndarray
    excluded: dict[str, str]
    friedman: FriedmanResult | None
    friedman_note: str
    cd: float | None
    q_alpha: float | None
    cliques: list[tuple[int, ...]]
    dropped_tasks: dict[str, str] = field(default_factory=dict)  # tasks with no result at this budget, and why
    # (task, method) -> the method tested against the task's best at this budget (harness.report.leaderboard)
    versus_best: dict[tuple[str, str], VersusBest] = field(default_factory=dict)


@dataclass
class Report:
    """Every number `nas-harness report` shows, computed once (harness.report.build.build_report)."""

    result: ResultSet
    budgets: list[Budget]
    budgets_note: str
    n_boot: int
    alpha: float
    seed: int
    tasks: dict[str, TaskInfo]
    runs_table: pd.DataFrame
    budgets_table: pd.DataFrame
    final_table: pd.DataFrame
    search_cost: pd.DataFrame
    hv_table: pd.DataFrame
    leaderboards: list[Leaderboard]
    checklist: list[Item]
    notes: list[str]
    hyperparameters: pd.DataFrame
    total_wall_s: float
    total_gpu_h: float  # simulated GPU-hours: cost summed over the simulated-clock runs only
    warnings: list[str] = field(default_factory=list)
    total_real_h: float = 0.0  # real compute hours of the machine(s) that ran the real-clock runs
    # op counts of one-shot picks per epoch (harness.report.ops); None or empty: no op_ columns
    op_histograms: OpHistograms | None = None
    # method label -> the name people read (harness.report.labels.method_title), for legends and pages
    method_titles: dict[str, str] = field(default_factory=dict)
