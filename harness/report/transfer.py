"""Score each run's pick on other benchmarks of the same search space (`report --score-on`).

The NAS-Bench-201 paper searched on CIFAR-10 and reported the test accuracy of the architecture each
run returned on CIFAR-10, CIFAR-100 and ImageNet16-120. `transfer_table` does that for any results
folder: for every complete run it finds the run's final pick, looks its test metric up in each
named benchmark's table, and summarises the values per searched task and method (mean, standard
deviation, n), as the paper's table does.

The pick is the evaluation the engine's incumbent rule selects (harness.engine: the best observed
validation value among the evaluations at the highest fidelity the run evaluated, or at the highest
`budget` where a strategy's budgets are nominal (Hyperband/BOHB `nominal_budgets`), the earliest on
ties) over the whole trajectory, i.e. at the run's own budget; for a one-shot run, the cell it
picked last. It is the evaluated architecture (`arch_index`), not the isomorphism-class
representative the trajectory prints, because NB201 measured isomorphic cells separately. The
value scored is the target benchmark's test metric at its highest fidelity, averaged over the
seeds the table measured (what the paper's tables report).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.report.load import ResultSet, Run
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

SUMMARY_CSV = "transfer.csv"
RUNS_CSV = "transfer_runs.csv"
MARKDOWN = "transfer.md"
OPTIMUM = "(best architecture in the table)"


@dataclass(frozen=True)
class Target:
    """One benchmark a pick is scored on, and what is read from it."""

    benchmark: str
    metric: str
    fidelity: float

    @property
    def label(self) -> str:
        """How the target is named in tables: benchmark, metric and fidelity."""
        return f"{self.benchmark} {self.metric}@{self.fidelity:g}"


def parse_score_on(text: str | None) -> list[str]:
    """`--score-on nb201/cifar10,nb201/cifar100` -> benchmark names (distinct, in order); unknown names fail."""
    if text is None:
        return []
    from harness.benchmarks import get_spec

    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise NasHarnessError(
            "--score-on needs at least one benchmark name, e.g. --score-on nb201/cifar10,nb201/cifar100"
        )
    for name in names:
        get_spec(name)  # one line listing the known benchmarks when the name is not one
    return names


def pick_row(run: Run, maximize: bool) -> int:
    """Benchmark row of the architecture `run` returns at the end of its trajectory (see module doc)."""
    if run.traj is None or run.n_rows == 0:
        raise NasHarnessError(f"run {run.run_id} has no evaluations to pick from")
    names = run.column_names
    if "arch_index" not in names:
        raise NasHarnessError(
            f"run {run.run_id}: its trajectory has no arch_index column (written by an older nas-harness); "
            "run it again to score its pick on other benchmarks"
        )
    fidelity = np.asarray(run.column("fidelity"), dtype=np.float64)
    if run.is_oneshot or np.isnan(fidelity).all():
        return int(run.column("arch_index")[-1])
    if "budget" in names:  # the engine's incumbent level: the fidelity, or a strategy's nominal budget
        fidelity = np.asarray(run.column("budget"), dtype=np.float64)
    candidates = np.flatnonzero(fidelity == np.nanmax(fidelity))
    observed = np.asarray(run.column("valid"), dtype=np.float64)[candidates]
    signed = np.where(np.isnan(observed), -np.inf, observed if maximize else -observed)
    return int(run.column("arch_index")[candidates[int(np.argmax(signed))]])


def _target(bench, name: str) -> Target:
    store = bench.store
    if not store.test_metric:
        raise NasHarnessError(
            f"--score-on {name}: the benchmark has no test metric to score picks with; choose benchmarks that have one "
            "(`nas-harness benchmarks` lists them)"
        )
    return Target(name, store.test_metric, float(store.fidelities[-1]))


def transfer_table(result: ResultSet, score_on: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, per-run) tables of the picks' test values on each benchmark of `score_on`.

    summary: one row per (task, method, scored benchmark) with n, mean, std (ddof 1), se, min, max,
    plus a row per scored benchmark for the best architecture in its table. per-run: one row per
    complete run with its pick and one column of values per scored benchmark.
    """
    from harness.benchmarks import load_benchmark

    if not result.complete:
        raise NasHarnessError(f"no complete runs under {result.root} to score")
    targets = {name: load_benchmark(name) for name in score_on}
    sources: dict[str, object] = {}
    try:
        target_info = {name: _target(bench, name) for name, bench in targets.items()}
        rows = []
        picked: dict[str, list[int]] = {name: [] for name in targets}  # per scored benchmark: row of each run's pick
        target_rows: dict[tuple[str, str], int] = {}
        for run in sorted(
            result.complete, key=lambda r: (r.task, r.method, r.seed if r.seed is not None else -1, r.run_id)
        ):
            if run.benchmark not in sources:
                sources[run.benchmark] = load_benchmark(run.benchmark)
            src = sources[run.benchmark]
            maximize = src.store.higher_is_better(src.store.valid_metric)
            row = pick_row(run, maximize)
            arch = src.space.arch_at(row)
            if not run.is_oneshot and "incumbent_arch" in run.column_names:
                recorded = str(run.column("incumbent_arch")[-1])
                if src.space.canonical(arch) != recorded:
                    raise NasHarnessError(
                        f"run {run.run_id}: the pick found by the incumbent rule ({arch}) is not the incumbent its "
                        f"trajectory records ({recorded}); the run was not written by this engine version"
                    )
            record = {
                "run_id": run.run_id,
                "task": run.task,
                "method": run.method,
                "seed": run.seed,
                "benchmark": run.benchmark,
                "pick_row": row,
                "pick_arch": arch,
            }
            for name, bench in targets.items():
                if bench.space.name != src.space.name:
                    raise NasHarnessError(
                        f"--score-on {name}: its search space {bench.space.name!r} is not that of {run.benchmark} "
                        f"({src.space.name!r}); picks can only be scored on benchmarks of the same space"
                    )
                if (name, arch) not in target_rows:  # many runs pick the same architecture
                    target_rows[(name, arch)] = bench.space.index_of(arch)
                picked[name].append(target_rows[(name, arch)])
            rows.append(record)
        for name, bench in targets.items():  # one lookup per scored benchmark for all picks
            info = target_info[name]
            values = bench.store.seed_mean(info.metric, info.fidelity)[np.asarray(picked[name], dtype=np.int64)]
            for record, value in zip(rows, values.tolist(), strict=True):
                record[info.label] = float(value)
        runs = pd.DataFrame(rows)
        runs["seed"] = runs["seed"].astype("Int64")
        summary_rows = []
        for (task, method), cell in runs.groupby(["task", "method"], sort=True):
            for name in score_on:
                info = target_info[name]
                values = cell[info.label].to_numpy(dtype=np.float64)
                finite = values[np.isfinite(values)]
                n = finite.size
                std = float(np.std(finite, ddof=1)) if n > 1 else float("nan")
                summary_rows.append(
                    {
                        "task": task,
                        "method": method,
                        "score_on": name,
                        "metric": info.metric,
                        "fidelity": info.fidelity,
                        "runs": len(values),
                        "n": n,
                        "mean": float(np.mean(finite)) if n else float("nan"),
                        "std": std,
                        "se": std / np.sqrt(n) if n > 1 else float("nan"),
                        "min": float(np.min(finite)) if n else float("nan"),
                        "max": float(np.max(finite)) if n else float("nan"),
                    }
                )
        for name in score_on:
            info, store = target_info[name], targets[name].store
            means = store.seed_mean(info.metric, info.fidelity)
            best = float(np.nanmax(means) if store.higher_is_better(info.metric) else np.nanmin(means))
            summary_rows.append(
                {
                    "task": OPTIMUM,
                    "method": "",
                    "score_on": name,
                    "metric": info.metric,
                    "fidelity": info.fidelity,
                    "runs": 0,
                    "n": 1,
                    "mean": best,
                    "std": float("nan"),
                    "se": float("nan"),
                    "min": best,
                    "max": best,
                }
            )
        return pd.DataFrame(summary_rows), runs
    finally:
        for bench in list(targets.values()) + list(sources.values()):
            bench.store.close()


def to_markdown(summary: pd.DataFrame, score_on: list[str]) -> str:
    """The paper-style table: one row per searched task and method, `mean ± std (n)` per scored benchmark."""
    labels = {}
    for name in score_on:
        first = summary[summary["score_on"] == name].iloc[0]
        labels[name] = f"{name} {first['metric']}@{first['fidelity']:g}"
    lines = [
        "# Picks scored on other benchmarks",
        "",
        "Each complete run's final pick (the incumbent at the end of its run) looked up in each benchmark's table: "
        "its test metric at the highest fidelity, averaged over the table's seeds. "
        "Cells: mean ± standard deviation over runs (n runs).",
        "",
        "| searched on | method | " + " | ".join(labels[n] for n in score_on) + " |",
        "|---|---|" + "---|" * len(score_on),
    ]
    for (task, method), cell in summary.groupby(["task", "method"], sort=False):
        cells = []
        for name in score_on:
            r = cell[cell["score_on"] == name].iloc[0]
            if task == OPTIMUM:
                cells.append(f"{r['mean']:.2f}")
            else:
                std = "–" if np.isnan(r["std"]) else f"{r['std']:.2f}"
                cells.append(f"{r['mean']:.2f} ± {std} ({int(r['n'])})")
        lines.append(f"| {task} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def transfer_files(tables: tuple[pd.DataFrame, pd.DataFrame], score_on: list[str]) -> dict[str, bytes]:
    """`transfer_table`'s (summary, per-run) tables as the bytes of transfer.md, transfer.csv and transfer_runs.csv.

    The report writes these with its other files, so its report.json lists them and a later report
    without --score-on removes them instead of leaving stale numbers next to new ones.
    """
    summary, runs = tables
    return {
        MARKDOWN: to_markdown(summary, score_on).encode(),
        SUMMARY_CSV: summary.to_csv(index=False).encode(),
        RUNS_CSV: runs.to_csv(index=False).encode(),
    }
