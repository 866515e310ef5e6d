"""Regression testing of search strategies: is a candidate result set worse than a baseline?

Why: a change to a strategy (or to the engine, or to a dependency) can make it find worse
architectures without any test failing. `nas-harness regress BASELINE CANDIDATE` compares, for
every (benchmark, strategy) present in both, the per-seed

- final regret: the incumbent's regret at the budget, and
- anytime regret (normalised AUC), which also catches a strategy that gets to the same end more
  slowly.

The budget is each run's own (the manifest's config.budget) unless `--budget B` or
`--time-budget T` cuts every run. With an evaluations budget B, final regret is the regret after
the B-th evaluation and the AUC the mean regret over evaluations 1..B. With a simulated-time
budget T (the NAS-Bench-201 protocol: runs then differ in their number of evaluations), final
regret is the regret of the incumbent at simulated time T (the last evaluation completed by T) and
the AUC the time-average of the incumbent's regret, a step function of the simulated clock, over
[t0, T], where t0 is the run's first completion (before it there is no incumbent). Which row a
budget selects is harness.report.budgets.cut_index, shared with `nas-harness report`.

Per comparison: a one-sided Mann-Whitney U test of "candidate regret is stochastically larger"
(seeds of two code versions are independent samples, not pairs: the same seed drives different
random streams once the code changes, so no paired test applies), a percentile bootstrap CI of the
difference in means (fixed seed), and Holm's step-down correction over all comparisons, so the
whole call raises a false alarm with probability at most alpha. One-sided because the gate acts
only on "worse": a two-sided test at the same alpha spends half of it on improvements, which never
fail the gate, and so loses power. A candidate regresses when mean(candidate) - mean(baseline) >
tolerance AND the Holm-adjusted p < alpha.

A baseline is a results folder or a compact JSON (`save_baseline`) holding the per-seed values,
budget (kind and value), store sha256 and versions, small enough to check into a repository.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness.report.budgets import (
    EVALUATIONS,
    KINDS,
    OK,
    SHORT,
    SIM_SECONDS,
    Cut,
    cut_index,
    seconds_text,
    stopped_by,
    time_average,
    time_horizon,
)
from harness.results import MANIFEST, ONESHOT_METHODS, TRAJECTORY, git_commit, read_manifest, result_problem, versions
from tabular.atomic import atomic_write_bytes
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

METRICS = ("final", "auc")
METRIC_TITLES = {"final": "final regret", "auc": "mean regret (AUC)"}
TIME_AUC_TITLE = "time-avg regret (AUC)"
BASELINE_FORMAT = "nas-harness/regress-baseline"
BASELINE_VERSION = 2  # 2 added budget_kind (time budgets); files with only evaluation budgets are still written as 1
REPORT_NAME = "regress.md"
DEFAULT_BOOTSTRAP = 10000
# Run settings that change what a run measures: runs differing in them are different experiments.
_RUN_SETTINGS = ("n_workers", "seed_policy", "fixed_seed", "objectives")


def budget_label(kind: str, value: float) -> str:
    """'100 evaluations' / '200,000 simulated s'."""
    return Cut(kind, value).short


def _budget_options(budgets: list[tuple[str, float]]) -> str:
    """The cut that makes mixed budgets comparable, as a command-line hint."""
    evals = [v for k, v in budgets if k == EVALUATIONS]
    times = [v for k, v in budgets if k == SIM_SECONDS]
    hints = []
    if times:
        hints.append(f"--time-budget {seconds_text(min(times)).replace(',', '')} (the incumbent of every run at that simulated time)")
    if evals and not times:
        hints.append(f"--budget {int(min(evals))} (the first {int(min(evals))} evaluations of every run)")
    elif evals:
        hints.append("--budget B (the first B evaluations of every run)")
    return "pass " + " or ".join(hints)


# ---------------------------------------------------------------------------------------------
# Loading results
# ---------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """The two numbers regress needs from one finished run, and what identifies its experiment."""

    path: Path
    benchmark: str
    strategy: str
    params: dict[str, Any]
    seed: int
    budget: float  # evaluations (an integer) or simulated seconds, as budget_kind says
    benchmark_sha256: str
    final: float
    auc: float
    padded: int = 0
    budget_kind: str = EVALUATIONS


@dataclass
class LoadedRuns:
    root: Path
    runs: list[RunResult]
    skipped: dict[str, list[Path]] = field(default_factory=dict)
    padded: int = 0

    def notes(self) -> list[str]:
        out = []
        n_skipped = sum(len(v) for v in self.skipped.values())
        if n_skipped:
            parts = "; ".join(f"{len(v)} {reason} (e.g. {v[0]})" for reason, v in sorted(self.skipped.items()))
            out.append(f"{self.root}: used {len(self.runs)} runs, skipped {n_skipped}: {parts}")
        if self.padded:
            out.append(f"{self.root}: {self.padded} runs ended before their budget; their last regret was carried to step B")
        return out


class _Skip(Exception):
    """A run folder that is not a usable finished result (the reason is the message)."""


def find_run_dirs(root: Path) -> list[Path]:
    """Folders under `root` that hold (or held) a run: a manifest, a trajectory or a run log.

    Hidden folders (Hydra's `.jobs`, temp folders) are not searched.
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if MANIFEST in filenames or TRAJECTORY in filenames:
            found.append(Path(dirpath))
    return sorted(found)


def _read_trajectory(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(sim_time, regret) of a run, ordered by step."""
    try:
        traj = pd.read_parquet(run_dir / TRAJECTORY, columns=["step", "sim_time", "regret"])
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise _Skip(f"unreadable trajectory ({type(exc).__name__})") from None
    traj = traj.sort_values("step", kind="stable")
    if len(traj) == 0:
        raise _Skip("empty trajectory")
    return traj["sim_time"].to_numpy(dtype=np.float64), traj["regret"].to_numpy(dtype=np.float64)


def _evaluations_values(regret: np.ndarray, budget: int, planned: int | None, timed: bool) -> tuple[float, float, int]:
    """(final, AUC, padded steps) over the first `budget` evaluations."""
    if regret.size >= budget:
        curve = regret[:budget]
        return float(curve[-1]), float(np.nanmean(curve)), 0
    if planned is not None and planned >= budget and not timed:
        # The strategy ran out of proposals (e.g. it exhausted the space): its incumbent stays.
        curve = np.concatenate([regret, np.full(budget - regret.size, regret[-1])])
        return float(curve[-1]), float(np.nanmean(curve)), budget - regret.size
    raise _Skip(f"fewer than {budget} evaluations" + (" (the time budget ended the run)" if timed else ""))


def _time_values(sim_time: np.ndarray, regret: np.ndarray, horizon: float, t: float) -> tuple[float, float]:
    """(final, AUC) at simulated time t: the incumbent's regret at t, and its time-average over
    [first completion, t] (harness.report.budgets.time_average)."""
    i, status = cut_index(sim_time, horizon, Cut(SIM_SECONDS, t))
    if status == SHORT:
        raise _Skip(f"time horizon shorter than {seconds_text(t)} simulated s")
    if status != OK:
        raise _Skip(f"no evaluation completed by {seconds_text(t)} simulated s")
    return float(regret[i]), time_average(sim_time[: i + 1], regret[: i + 1], t)


def load_run(run_dir: Path, budget: int | None = None, time_budget: float | None = None) -> RunResult:
    """Final regret and AUC of one run folder at its own budget, or cut at `budget` evaluations or
    `time_budget` simulated seconds (at most one of the two)."""
    if budget is not None and time_budget is not None:
        raise NasHarnessError("give --budget (evaluations) or --time-budget (simulated seconds), not both")
    # A damaged manifest is an error (ManifestError), not a skip: the gate must not pass on fewer
    # runs than the folder holds without anyone being told which one is unreadable.
    if not (run_dir / MANIFEST).is_file():
        raise _Skip("without manifest.json")
    manifest = read_manifest(run_dir)
    problem = result_problem(run_dir)
    if problem is not None:
        raise _Skip(problem)
    config = manifest["config"]
    bench_cfg, strat_cfg, budget_cfg = config["benchmark"], dict(config["strategy"]), dict(config["budget"])
    name = strat_cfg.pop("name")
    sha = manifest["benchmark_sha256"]
    seed = config["seed"]
    planned = budget_cfg.get("evaluations")
    sim_seconds = budget_cfg.get("sim_seconds")
    if planned is None and sim_seconds is None:
        raise _Skip("no budget recorded")
    params = dict(strat_cfg)
    for key in _RUN_SETTINGS:
        value = config.get(key, bench_cfg.get(key))
        params[key] = value
    sim_time, regret = _read_trajectory(run_dir)
    horizon = time_horizon(budget_cfg, regret.size, float(sim_time[-1]))
    padded = 0
    if name in ONESHOT_METHODS:
        # A one-shot search ignores config.budget: its steps are epochs and its clock is real compute
        # seconds of the machine that ran it, so it is compared after N epochs (default: all of them).
        if time_budget is not None:
            raise NasHarnessError(f"run {run_dir.name} is a one-shot search ({name}) timed in real compute seconds, not simulated "
                                  "ones; compare one-shot runs after N epochs with --budget N")
        kind, value = EVALUATIONS, int(budget) if budget is not None else int(regret.size)
        final, auc, padded = _evaluations_values(regret, value, int(regret.size), False)
    elif budget is not None:
        kind, value = EVALUATIONS, int(budget)
        final, auc, padded = _evaluations_values(regret, value, planned, sim_seconds is not None)
    elif time_budget is not None:
        kind, value = SIM_SECONDS, float(time_budget)
        final, auc = _time_values(sim_time, regret, horizon, value)
    elif stopped_by(budget_cfg, regret.size) == EVALUATIONS:
        kind, value = EVALUATIONS, int(planned)
        final, auc, padded = _evaluations_values(regret, value, planned, False)
    else:
        kind, value = SIM_SECONDS, float(sim_seconds)
        final, auc = _time_values(sim_time, regret, horizon, value)
    if not math.isfinite(final):
        raise _Skip("final regret is not finite")
    return RunResult(run_dir, str(bench_cfg["name"]), str(name), params, seed, value, str(sha), final, auc, padded, kind)


def load_runs(root: Path, budget: int | None = None, time_budget: float | None = None) -> LoadedRuns:
    """Every usable run under `root`; unusable folders are counted by reason, never silently used."""
    root = Path(root)
    if not root.is_dir():
        raise NasHarnessError(f"results folder {root} does not exist")
    loaded = LoadedRuns(root, [])
    for run_dir in find_run_dirs(root):
        try:
            run = load_run(run_dir, budget, time_budget)
        except _Skip as why:
            loaded.skipped.setdefault(str(why), []).append(run_dir)
            continue
        loaded.runs.append(run)
        loaded.padded += run.padded > 0
    if not loaded.runs:
        detail = "; ".join(f"{len(v)} {k}" for k, v in sorted(loaded.skipped.items())) or "no run folders at all"
        raise NasHarnessError(f"no finished runs under {root} ({detail}); point at the folder `nas-harness run` wrote (hydra.sweep.dir)")
    for note in loaded.notes():
        log.info("%s", note)
    return loaded


# ---------------------------------------------------------------------------------------------
# Groups: per (benchmark, strategy) per-seed values
# ---------------------------------------------------------------------------------------------
@dataclass
class Group:
    """Per-seed final regret and AUC of one strategy on one benchmark at one budget."""

    benchmark: str
    strategy: str  # label: the name, plus the settings that tell apart variants in the same result set
    strategy_name: str
    params: dict[str, Any]
    budget: float  # evaluations (an integer) or simulated seconds, as budget_kind says
    shas: list[str]
    seeds: list[int]
    final: np.ndarray
    auc: np.ndarray
    budget_kind: str = EVALUATIONS

    @property
    def budget_key(self) -> tuple[str, float]:
        return (self.budget_kind, float(self.budget))

    @property
    def budget_text(self) -> str:
        return budget_label(self.budget_kind, self.budget)

    def values(self, metric: str) -> np.ndarray:
        if metric not in METRICS:
            raise NasHarnessError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        return self.final if metric == "final" else self.auc

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "strategy": self.strategy,
            "strategy_name": self.strategy_name,
            "params": self.params,
            "budget": int(self.budget) if self.budget_kind == EVALUATIONS else float(self.budget),
            "budget_kind": self.budget_kind,
            "benchmark_sha256": self.shas,
            "seeds": self.seeds,
            "final_regret": self.final.tolist(),
            "auc_regret": self.auc.tolist(),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Group:
        final = np.asarray(d["final_regret"], dtype=np.float64)
        auc = np.asarray(d["auc_regret"], dtype=np.float64)
        if final.shape != auc.shape or len(d["seeds"]) != final.size or final.size == 0:
            raise ValueError("per-seed arrays differ in length")
        shas = d["benchmark_sha256"]
        kind = str(d.get("budget_kind", EVALUATIONS))
        if kind not in KINDS:
            raise ValueError(f"unknown budget_kind {kind!r}")
        budget = int(d["budget"]) if kind == EVALUATIONS else float(d["budget"])
        return cls(str(d["benchmark"]), str(d["strategy"]), str(d.get("strategy_name", d["strategy"])), dict(d.get("params", {})),
                   budget, [shas] if isinstance(shas, str) else list(shas), [int(s) for s in d["seeds"]], final, auc, kind)


def _label(name: str, params: dict[str, Any], varying: list[str]) -> str:
    if not varying:
        return name
    return name + "[" + ",".join(f"{k}={json.dumps(params.get(k))}" for k in varying) + "]"


def group_runs(runs: list[RunResult]) -> dict[tuple[str, str], Group]:
    """Group runs by (benchmark, strategy). Variants of one strategy name in the same set (e.g. rs
    and rs with replace=true) are told apart by the settings that differ, `rs[replace=true]`.

    A setting that varies between runs on *some* benchmark labels that strategy's runs on every
    benchmark (`re[population=10]` also where only population 10 ran), so one variant has one label
    across benchmarks; a setting that differs only between benchmarks (a per-benchmark tuning, such
    as strategy=re_nb101 on NB101) labels nothing."""
    by_name: dict[tuple[str, str], list[RunResult]] = {}
    for run in runs:
        by_name.setdefault((run.benchmark, run.strategy), []).append(run)
    varying_by_name: dict[str, set[str]] = {}
    for (bench, name), members in by_name.items():
        keys = {k for r in members for k in r.params}
        varying_by_name.setdefault(name, set()).update(
            k for k in keys if len({json.dumps(r.params.get(k), sort_keys=True) for r in members}) > 1)
    groups: dict[tuple[str, str], Group] = {}
    for (bench, name), members in sorted(by_name.items()):
        varying = sorted(varying_by_name[name])
        by_label: dict[str, list[RunResult]] = {}
        for r in members:
            by_label.setdefault(_label(name, r.params, varying), []).append(r)
        for label, rs in by_label.items():
            budgets = sorted({(r.budget_kind, float(r.budget)) for r in rs})
            if len(budgets) > 1:
                raise NasHarnessError(f"{bench} x {label} has runs with different budgets ({', '.join(budget_label(*b) for b in budgets)}); "
                                      + _budget_options(budgets))
            rs = sorted(rs, key=lambda r: (r.seed, str(r.path)))
            unique: dict[int, RunResult] = {}
            for r in rs:
                if r.seed in unique:
                    log.warning("%s x %s: seed %d appears twice (%s and %s); using the first", bench, label, r.seed, unique[r.seed].path, r.path)
                    continue
                unique[r.seed] = r
            kept = list(unique.values())
            groups[(bench, label)] = Group(bench, label, name, kept[0].params, kept[0].budget, sorted({r.benchmark_sha256 for r in kept}),
                                           [r.seed for r in kept], np.array([r.final for r in kept]), np.array([r.auc for r in kept]),
                                           kept[0].budget_kind)
    return groups


@dataclass
class ResultSet:
    """Groups from a results folder or a baseline JSON, with where they came from."""

    source: Path
    groups: dict[tuple[str, str], Group]
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _read_baseline_json(path: Path) -> ResultSet:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NasHarnessError(f"cannot read baseline {path} ({exc}); give a results folder or a JSON from `nas-harness regress --save-baseline`") from None
    if not isinstance(doc, dict) or doc.get("format") != BASELINE_FORMAT:
        raise NasHarnessError(f"{path} is not a regress baseline (no \"format\": \"{BASELINE_FORMAT}\"); create one with `nas-harness regress --save-baseline RESULTS OUT.json`")
    if int(doc.get("version", 0)) > BASELINE_VERSION:
        raise NasHarnessError(f"{path} is baseline format version {doc.get('version')}; this nas-harness reads up to {BASELINE_VERSION}: upgrade nas-harness")
    groups = {}
    for i, g in enumerate(doc.get("groups", [])):
        try:
            group = Group.from_json(g)
        except (KeyError, TypeError, ValueError) as exc:
            raise NasHarnessError(f"{path}: group {i} is malformed ({exc}); regenerate the baseline") from None
        groups[(group.benchmark, group.strategy)] = group
    if not groups:
        raise NasHarnessError(f"baseline {path} holds no groups")
    return ResultSet(path, groups, list(doc.get("notes", [])), {k: doc.get(k) for k in ("created", "versions", "git_commit", "run_versions")})


def load_result_set(path: str | Path, budget: int | None = None, time_budget: float | None = None) -> ResultSet:
    """A results folder (loaded and grouped) or a baseline JSON file."""
    path = Path(path)
    if path.is_dir():
        loaded = load_runs(path, budget, time_budget)
        return ResultSet(path, group_runs(loaded.runs), loaded.notes())
    if path.is_file():
        rs = _read_baseline_json(path)
        if budget is not None or time_budget is not None:
            want = (EVALUATIONS, float(budget)) if budget is not None else (SIM_SECONDS, float(time_budget))
            option = f"--budget {budget}" if budget is not None else f"--time-budget {seconds_text(float(time_budget)).replace(',', '')}"
            wrong = sorted({g.budget_text for g in rs.groups.values() if g.budget_key != want})
            if wrong:
                raise NasHarnessError(f"baseline {path} was saved at {', '.join(wrong)}; it cannot be cut to {option}: "
                                      f"save a new baseline with {option}")
        return rs
    raise NasHarnessError(f"{path} does not exist; give a results folder or a baseline JSON")


def save_baseline(results: str | Path, out: str | Path, *, budget: int | None = None, time_budget: float | None = None,
                  force: bool = False) -> Path:
    """Write the compact baseline of a results folder: per-seed values, budget, sha256, versions."""
    out = Path(out)
    if out.exists() and not force:
        raise NasHarnessError(f"{out} exists; pass --force to overwrite it")
    if out.suffix.lower() != ".json":
        raise NasHarnessError(f"baseline file {out} should end in .json")
    loaded = load_runs(Path(results), budget, time_budget)
    groups = group_runs(loaded.runs)
    run_versions: dict[str, list[str]] = {}
    for run in loaded.runs:
        manifest = read_manifest(run.path)
        for key, value in [("nas-harness", manifest.get("versions", {}).get("nas-harness")), ("git_commit", manifest.get("git_commit"))]:
            if value and value not in run_versions.setdefault(key, []):
                run_versions[key].append(value)
    doc = {
        "format": BASELINE_FORMAT,
        # Version 1 readers know only evaluation budgets; they must refuse a time-budget baseline.
        "version": BASELINE_VERSION if any(g.budget_kind != EVALUATIONS for g in groups.values()) else 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": str(Path(results)),
        "versions": versions(),
        "git_commit": git_commit(),
        "run_versions": run_versions,
        "notes": loaded.notes(),
        "groups": [g.to_json() for _, g in sorted(groups.items())],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
    return out


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------
def holm(pvalues: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: p_(i) * (m - i + 1), made monotone, capped at 1.

    Rejecting every hypothesis with adjusted p < alpha is exactly Holm's procedure at level alpha,
    which controls the family-wise error rate under any dependence between the tests.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (m - np.arange(m))
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


def worse_p_value(baseline: np.ndarray, candidate: np.ndarray) -> float:
    """One-sided Mann-Whitney U p-value of "candidate regret tends to be larger than baseline's"."""
    if len(baseline) == 0 or len(candidate) == 0:
        return math.nan
    p = float(stats.mannwhitneyu(candidate, baseline, alternative="greater").pvalue)
    return 1.0 if math.isnan(p) else p


def bootstrap_mean_diff_ci(baseline: np.ndarray, candidate: np.ndarray, *, n_boot: int = DEFAULT_BOOTSTRAP,
                           level: float = 0.95, seed: int | list[int] = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(candidate) - mean(baseline), each set resampled on its own."""
    b = np.asarray(baseline, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    if n_boot < 1 or b.size == 0 or c.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    mb = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
    mc = c[rng.integers(0, c.size, size=(n_boot, c.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(mc - mb, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


@dataclass
class Comparison:
    benchmark: str
    strategy: str
    metric: str
    n_base: int
    n_cand: int
    mean_base: float
    mean_cand: float
    diff: float
    ci: tuple[float, float]
    p: float
    p_holm: float = math.nan
    regression: bool = False
    note: str = ""
    budget: str = ""  # e.g. "100 evaluations", "200,000 simulated s"
    budget_kind: str = EVALUATIONS

    @property
    def title(self) -> str:
        """The metric's name; the AUC of a time budget is a time-average, not a mean over evaluations."""
        return TIME_AUC_TITLE if self.metric == "auc" and self.budget_kind == SIM_SECONDS else METRIC_TITLES[self.metric]


@dataclass
class RegressReport:
    baseline: str
    candidate: str
    rows: list[Comparison]
    tolerance: float
    alpha: float
    level: float
    n_boot: int
    only_baseline: list[str] = field(default_factory=list)
    only_candidate: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return any(r.regression for r in self.rows)

    @property
    def regressions(self) -> list[Comparison]:
        return [r for r in self.rows if r.regression]


def _match(base: ResultSet, cand: ResultSet) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Pairs of (baseline key, candidate key) to compare.

    Equal labels match. A plain label on one side (`rs`: one variant in that set) also matches the
    variant on the other side with identical settings (`rs[replace=false]`), so adding a variant to
    one set does not hide the comparison.
    """
    pairs = [(k, k) for k in sorted(set(base.groups) & set(cand.groups))]
    left_b = sorted(set(base.groups) - set(cand.groups))
    left_c = sorted(set(cand.groups) - set(base.groups))
    for kb in list(left_b):
        gb = base.groups[kb]
        hits = [kc for kc in left_c if kc[0] == kb[0] and cand.groups[kc].strategy_name == gb.strategy_name
                and cand.groups[kc].params == gb.params]
        if len(hits) == 1:
            pairs.append((kb, hits[0]))
            left_b.remove(kb)
            left_c.remove(hits[0])
    return sorted(pairs)


def _check_data(base: ResultSet, cand: ResultSet, pairs: list[tuple[tuple[str, str], tuple[str, str]]], allow: bool) -> list[str]:
    """Refuse (or, with allow, warn about) benchmarks whose store sha256 differs between the sets."""
    changed: dict[str, tuple[list[str], list[str]]] = {}
    for kb, kc in pairs:
        b, c = base.groups[kb].shas, cand.groups[kc].shas
        if set(b) != set(c) or len(b) > 1:
            changed.setdefault(kb[0], (b, c))
    if changed and not allow:
        bench, (b, c) = next(iter(sorted(changed.items())))
        more = f" (and {len(changed) - 1} more benchmarks)" if len(changed) > 1 else ""
        raise NasHarnessError(f"benchmark store of {bench} differs between baseline (sha256 {', '.join(s[:12] for s in b)}) and "
                              f"candidate ({', '.join(s[:12] for s in c)}){more}: regrets are not comparable; re-run the baseline "
                              "on the same data, or pass --allow-data-change")
    return [f"WARNING: benchmark store of {bench} differs (baseline {', '.join(s[:12] for s in b)} vs candidate "
            f"{', '.join(s[:12] for s in c)}); compared anyway (--allow-data-change)" for bench, (b, c) in sorted(changed.items())]


def compare_sets(base: ResultSet, cand: ResultSet, *, tolerance: float = 0.0, alpha: float = 0.05, level: float = 0.95,
                 n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0, allow_data_change: bool = False) -> RegressReport:
    """Compare every (benchmark, strategy) present in both sets on final regret and AUC."""
    if not 0 < alpha < 1:
        raise NasHarnessError(f"--alpha must be in (0, 1), got {alpha}")
    if tolerance < 0 or not math.isfinite(tolerance):
        raise NasHarnessError(f"--tolerance must be a non-negative number (regret units), got {tolerance}")
    pairs = _match(base, cand)
    matched_b = {kb for kb, _ in pairs}
    matched_c = {kc for _, kc in pairs}
    report = RegressReport(str(base.source), str(cand.source), [], tolerance, alpha, level, n_boot,
                           only_baseline=[f"{b} x {s}" for b, s in sorted(set(base.groups) - matched_b)],
                           only_candidate=[f"{b} x {s}" for b, s in sorted(set(cand.groups) - matched_c)],
                           notes=[*base.notes, *cand.notes])
    if not pairs:
        raise NasHarnessError(f"baseline and candidate share no (benchmark, strategy): baseline has {', '.join(report.only_baseline)}; "
                              f"candidate has {', '.join(report.only_candidate)}")
    report.notes += _check_data(base, cand, pairs, allow_data_change)
    for kb, kc in pairs:
        b, c = base.groups[kb], cand.groups[kc]
        label = kb[1] if kb == kc else max(kb[1], kc[1], key=len)
        if b.budget_key != c.budget_key:
            raise NasHarnessError(f"{kb[0]} x {label}: baseline budget {b.budget_text} but candidate budget {c.budget_text}; "
                                  + _budget_options([b.budget_key, c.budget_key]))
        differs = sorted(k for k in set(b.params) | set(c.params) if b.params.get(k) != c.params.get(k))
        if differs:
            report.notes.append(f"{kb[0]} x {label}: settings differ: " + ", ".join(f"{k} {b.params.get(k)!r} -> {c.params.get(k)!r}" for k in differs))
        for metric in METRICS:
            vb, vc = b.values(metric), c.values(metric)
            note = "few seeds: low power" if min(vb.size, vc.size) < 5 else ""
            report.rows.append(Comparison(
                kb[0], label, metric, int(vb.size), int(vc.size), float(vb.mean()), float(vc.mean()), float(vc.mean() - vb.mean()),
                bootstrap_mean_diff_ci(vb, vc, n_boot=n_boot, level=level, seed=[seed, len(report.rows)]),
                worse_p_value(vb, vc), note=note, budget=b.budget_text, budget_kind=b.budget_kind))
    adjusted = holm([r.p for r in report.rows])
    for row, p_adj in zip(report.rows, adjusted):
        row.p_holm = float(p_adj)
        row.regression = bool(row.diff > tolerance and p_adj < alpha)
    return report


def regress(baseline: str | Path, candidate: str | Path, *, tolerance: float = 0.0, alpha: float = 0.05, budget: int | None = None,
            allow_data_change: bool = False, n_boot: int = DEFAULT_BOOTSTRAP, level: float = 0.95, seed: int = 0,
            time_budget: float | None = None) -> RegressReport:
    """Load both sets (folders or baseline JSON) and compare them, at each run's own budget or cut
    at `budget` evaluations or `time_budget` simulated seconds."""
    if budget is not None and time_budget is not None:
        raise NasHarnessError("give --budget (evaluations) or --time-budget (simulated seconds), not both")
    if time_budget is not None and not (math.isfinite(time_budget) and time_budget > 0):
        raise NasHarnessError(f"--time-budget must be a positive number of simulated seconds, got {time_budget}")
    if budget is not None and budget < 1:
        raise NasHarnessError(f"--budget must be a positive number of evaluations, got {budget}")
    base = load_result_set(baseline, budget, time_budget)
    cand = load_result_set(candidate, budget, time_budget)
    return compare_sets(base, cand, tolerance=tolerance, alpha=alpha, level=level, n_boot=n_boot, seed=seed,
                        allow_data_change=allow_data_change)


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
_HEADER = ("benchmark", "strategy", "budget", "metric", "n_base", "n_cand", "mean_base", "mean_cand", "diff", "CI", "p", "p_holm", "verdict")


def _cells(r: Comparison, report: RegressReport) -> list[str]:
    if r.regression:
        verdict = "REGRESSION"
    elif r.diff > report.tolerance:
        verdict = "worse, not significant"
    elif r.diff > 0:
        verdict = "ok (within tolerance)"
    else:
        verdict = "ok"
    ci = f"[{r.ci[0]:+.4f}, {r.ci[1]:+.4f}]" if math.isfinite(r.ci[0]) else "n/a"
    verdict += f" ({r.note})" if r.note else ""
    return [r.benchmark, r.strategy, r.budget, r.title, str(r.n_base), str(r.n_cand), f"{r.mean_base:.4f}",
            f"{r.mean_cand:.4f}", f"{r.diff:+.4f}", ci, f"{r.p:.3g}", f"{r.p_holm:.3g}", verdict]


def _summary(report: RegressReport) -> list[str]:
    lines = [f"baseline:  {report.baseline}", f"candidate: {report.candidate}",
             f"regression = mean difference > {report.tolerance:g} AND Holm-adjusted one-sided Mann-Whitney p < {report.alpha:g} "
             f"({len(report.rows)} comparisons; CI: {report.level:.0%} percentile bootstrap of the difference in means, {report.n_boot} resamples)"]
    if any(r.budget_kind == SIM_SECONDS for r in report.rows):
        lines.append("time budgets: final regret = regret of the incumbent at the time budget T (the last evaluation completed by T); "
                     "AUC = time-average of the incumbent's regret over [first completion, T] on the simulated clock")
    if report.only_baseline:
        lines.append("only in baseline (not compared): " + ", ".join(report.only_baseline))
    if report.only_candidate:
        lines.append("only in candidate (not compared): " + ", ".join(report.only_candidate))
    lines += [f"note: {n}" for n in report.notes]
    n_reg = len(report.regressions)
    lines.append(f"RESULT: {n_reg} significant regression(s)" if n_reg else "RESULT: no significant regression")
    return lines


def format_table(report: RegressReport) -> str:
    """The comparison as a fixed-width text table with a summary (what the CLI prints)."""
    rows = [list(_HEADER)] + [_cells(r, report) for r in report.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(text + [""] + _summary(report))


def to_markdown(report: RegressReport) -> str:
    lines = ["# nas-harness regress", "", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(_cells(r, report)) + " |" for r in report.rows]
    lines += [""] + [f"- {line}" for line in _summary(report)]
    return "\n".join(lines) + "\n"


def write_report(report: RegressReport, out: Path) -> Path:
    """Write regress.md (atomic). `out` is a file path or a folder to put regress.md in."""
    out = Path(out)
    if out.is_dir():
        out = out / REPORT_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, to_markdown(report).encode())
    return out


def default_report_path(candidate: Path) -> Path:
    """regress.md inside the candidate folder, or next to a candidate JSON."""
    candidate = Path(candidate)
    return candidate / REPORT_NAME if candidate.is_dir() else candidate.with_name(candidate.stem + "." + REPORT_NAME)
