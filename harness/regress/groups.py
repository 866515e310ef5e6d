"""The two sides of a regression test, and the baseline file format.

A side is a results folder (read through harness.results.load_scores, so its runs, labels and
counts are those of `nas-harness report` and `rank-stats --strategies`) or a compact baseline JSON
(`save_baseline`) holding the per-seed values, budget (kind and value), store sha256 and versions,
small enough to check into a repository. Either way it becomes a `GroupSet`: per-seed final regret
and AUC of each (task, method).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.results import (
    EVALUATIONS,
    KINDS,
    SIM_SECONDS,
    RunScore,
    Scores,
    environment,
    load_scores,
    seconds_text,
)
from harness.results.resultset import strategy_settings
from harness.results.scores import METRICS, budget_label
from tabular.atomic import atomic_write_bytes
from tabular.errors import NasHarnessError

BASELINE_FORMAT = "nas-harness/regress-baseline"
BASELINE_VERSION = 2  # 2 added budget_kind (time budgets); files with only evaluation budgets are still written as 1
# Run settings that change what a run measures. They are part of the task label when they differ
# between runs; they are also kept in a group's params so saved baselines match by settings.
_RUN_SETTINGS = ("n_workers", "seed_policy", "fixed_seed", "objectives")


@dataclass
class Group:
    """Per-seed final regret and AUC of one method on one task at one budget."""

    benchmark: str  # the task label (the benchmark name, plus settings that differ between its runs)
    strategy: str  # the method label: the name, plus the settings that tell apart variants in the same result set
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
        """(kind, value) of the group's budget, for comparing budgets."""
        return (self.budget_kind, float(self.budget))

    @property
    def budget_text(self) -> str:
        """'100 evaluations' / '200,000 simulated s'."""
        return budget_label(self.budget_kind, self.budget)

    def values(self, metric: str) -> np.ndarray:
        """Per-seed values of `metric` ("final" or "auc")."""
        if metric not in METRICS:
            raise NasHarnessError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        return self.final if metric == "final" else self.auc

    def to_json(self) -> dict[str, Any]:
        """The group as a baseline file stores it."""
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
        """A group read back from a baseline file (ValueError, KeyError or TypeError when malformed)."""
        final = np.asarray(d["final_regret"], dtype=np.float64)
        auc = np.asarray(d["auc_regret"], dtype=np.float64)
        if final.shape != auc.shape or len(d["seeds"]) != final.size or final.size == 0:
            raise ValueError("per-seed arrays differ in length")
        shas = d["benchmark_sha256"]
        kind = str(d.get("budget_kind", EVALUATIONS))
        if kind not in KINDS:
            raise ValueError(f"unknown budget_kind {kind!r}")
        budget = int(d["budget"]) if kind == EVALUATIONS else float(d["budget"])
        return cls(
            str(d["benchmark"]),
            str(d["strategy"]),
            str(d.get("strategy_name", d["strategy"])),
            dict(d.get("params", {})),
            budget,
            [shas] if isinstance(shas, str) else list(shas),
            [int(s) for s in d["seeds"]],
            final,
            auc,
            kind,
        )


@dataclass
class GroupSet:
    """Groups from a results folder or a baseline JSON, with where they came from."""

    source: Path
    groups: dict[tuple[str, str], Group]
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def run_params(score: RunScore) -> dict[str, Any]:
    """The settings that identify a run's experiment: its strategy settings and the run settings."""
    config = score.run.config
    bench_cfg = config.get("benchmark", {}) or {}
    params = strategy_settings(score.run)
    for key in _RUN_SETTINGS:
        params[key] = config.get(key, bench_cfg.get(key))
    return params


def group_runs(runs: list[RunScore]) -> dict[tuple[str, str], Group]:
    """Scored runs grouped by harness.results' (task, method) labels, ordered by seed."""
    cells: dict[tuple[str, str], list[RunScore]] = {}
    for score in runs:
        cells.setdefault((score.run.task, score.run.method), []).append(score)
    groups: dict[tuple[str, str], Group] = {}
    for (task, method), members in sorted(cells.items()):
        members = sorted(members, key=lambda s: (s.seed, str(s.path)))
        first = members[0]
        groups[(task, method)] = Group(
            task,
            method,
            first.run.strategy,
            run_params(first),
            first.budget,
            sorted({s.run.benchmark_sha256 for s in members}),
            [s.seed for s in members],
            np.array([s.final for s in members]),
            np.array([s.auc for s in members]),
            first.budget_kind,
        )
    return groups


def groups_of(scores: Scores) -> dict[tuple[str, str], Group]:
    """The groups of a scored results folder."""
    return group_runs(scores.runs)


def _read_baseline_json(path: Path, role: str) -> GroupSet:
    saved = "a JSON from `nas-harness regress --save-baseline`"
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise NasHarnessError(
            f"{role} {path} cannot be read ({type(exc).__name__}); give a results folder or {saved}"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != BASELINE_FORMAT:
        noun = "regress baseline" if role == "baseline" else "results folder nor a saved regress result set"
        raise NasHarnessError(
            f'{role} {path} is not a {noun} (no "format": "{BASELINE_FORMAT}"); '
            "create one with `nas-harness regress --save-baseline RESULTS OUT.json`"
        )
    try:
        version = int(doc.get("version", 0))
    except (TypeError, ValueError):
        version = BASELINE_VERSION + 1
    if version > BASELINE_VERSION:
        raise NasHarnessError(
            f"{role} {path} is regress file format version {doc.get('version')!r:.20}; this nas-harness "
            f"reads up to {BASELINE_VERSION}: upgrade nas-harness"
        )
    raw_groups = doc.get("groups", [])
    groups = {}
    for i, g in enumerate(raw_groups if isinstance(raw_groups, list) else []):
        try:
            group = Group.from_json(g)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise NasHarnessError(f"{role} {path}: group {i} is malformed ({exc}); save it again") from None
        groups[(group.benchmark, group.strategy)] = group
    if not groups:
        raise NasHarnessError(
            f"{role} {path} holds no groups; save it again with `nas-harness regress --save-baseline`"
        )
    notes = doc.get("notes", [])
    return GroupSet(
        path,
        groups,
        [str(n) for n in notes] if isinstance(notes, list) else [],
        {k: doc.get(k) for k in ("created", "versions", "git_commit", "run_versions")},
    )


def load_result_set(
    path: str | Path, budget: int | None = None, time_budget: float | None = None, *, role: str = "baseline"
) -> GroupSet:
    """A results folder (loaded and grouped) or a saved JSON; `role` ("baseline" or "candidate")
    names the side in error messages."""
    path = Path(path)
    if path.is_dir():
        scores = load_scores(path, budget, time_budget)
        return GroupSet(path, groups_of(scores), scores.notes())
    if path.is_file():
        rs = _read_baseline_json(path, role)
        if budget is not None or time_budget is not None:
            want = (EVALUATIONS, float(budget)) if budget is not None else (SIM_SECONDS, float(time_budget or 0))
            option = (
                f"--budget {budget}"
                if budget is not None
                else f"--time-budget {seconds_text(float(time_budget or 0)).replace(',', '')}"
            )
            wrong = sorted({g.budget_text for g in rs.groups.values() if g.budget_key != want})
            if wrong:
                raise NasHarnessError(
                    f"{role} {path} was saved at {', '.join(wrong)}; it cannot be cut to {option}: "
                    f"save it again with {option}"
                )
        return rs
    raise NasHarnessError(
        f"{role} {path} does not exist; give a results folder or a JSON saved by `nas-harness regress --save-baseline`"
    )


def save_baseline(
    results: str | Path,
    out: str | Path,
    *,
    budget: int | None = None,
    time_budget: float | None = None,
    force: bool = False,
) -> Path:
    """Write the compact baseline of a results folder: per-seed values, budget, sha256, versions."""
    out = Path(out)
    if out.exists() and not force:
        raise NasHarnessError(f"{out} exists; pass --force to overwrite it")
    if out.suffix.lower() != ".json":
        raise NasHarnessError(f"baseline file {out} should end in .json")
    scores = load_scores(Path(results), budget, time_budget)
    groups = groups_of(scores)
    run_versions: dict[str, list[str]] = {}
    for score in scores.runs:
        manifest = score.run.manifest or {}
        for key, value in [
            ("nas-harness", manifest.get("versions", {}).get("nas-harness")),
            ("git_commit", manifest.get("git_commit")),
        ]:
            if value and value not in run_versions.setdefault(key, []):
                run_versions[key].append(value)
    env = environment()
    doc = {
        "format": BASELINE_FORMAT,
        # Version 1 readers know only evaluation budgets; they must refuse a time-budget baseline.
        "version": BASELINE_VERSION if any(g.budget_kind != EVALUATIONS for g in groups.values()) else 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": str(Path(results)),
        "versions": env.get("versions"),
        "git_commit": env.get("git_commit"),
        "run_versions": run_versions,
        "notes": scores.notes(),
        "groups": [g.to_json() for _, g in sorted(groups.items())],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, (json.dumps(doc, indent=1) + "\n").encode())
    return out
