"""Per-task facts of a report: objective direction, reference curve, bands and hypervolumes.

Why apart: these need the benchmark's store (for the direction, units and the exact random-search
reference), while everything else in the report is computed from the trajectories alone.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from harness.report.budgets import OK, Budget
from harness.report.curves import (
    METRICS,
    RunCurves,
    band,
    bands_by_evaluations,
    bands_by_time,
    hv_curve,
    objective_points,
    time_grid,
)
from harness.report.model import TaskInfo
from harness.report.reference import rs_reference
from harness.report.stats import pareto_mask, summarise
from harness.results import ResultSet
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)


def metric_words(store, metric: str) -> str:
    """A metric's name in words for an axis label: its description up to the first colon, comma or
    parenthesis ("valid_acc" -> "validation accuracy"), or the key when the store has no short one."""
    text = re.split(r"[:,;(]", str(store.metric_attrs(metric).get("description", "") or ""), maxsplit=1)[0].strip()
    return text if 0 < len(text) <= 40 else metric


def _infer_maximize(curves: list[RunCurves]) -> bool:
    """Direction from the trajectory alone: valid + regret is constant (the optimum) when maximised."""
    c = curves[0]
    return bool(np.allclose(c.valid + c.regret, c.valid[0] + c.regret[0], equal_nan=True))


def _load_store(benchmark: str, manifest_shas: set[str], cache: dict) -> tuple[object | None, str]:
    """The benchmark's current store (cached) and a note when it is missing or differs from the runs' one."""
    if benchmark in cache:
        return cache[benchmark]
    try:
        from harness.benchmarks import load_benchmark

        store = load_benchmark(benchmark).store
    except NasHarnessError as exc:
        cache[benchmark] = (None, f"benchmark table not available ({exc}); no reference curve")
        return cache[benchmark]
    note = ""
    if store.sha256 not in manifest_shas:
        note = (
            f"the current {benchmark} store (sha256 {store.sha256[:12]}…) differs from the one the runs used "
            f"({', '.join(s[:12] + '…' for s in sorted(manifest_shas))}): the table changed since; the reference curve "
            "and objective directions come from the current table"
        )
        log.info("%s", note)
    cache[benchmark] = (store, note)
    return cache[benchmark]


def task_info(
    result: ResultSet,
    task: str,
    curves: dict[str, list[RunCurves]],
    ks_max: int,
    store_cache: dict,
    n_boot: int,
    seed: int,
) -> TaskInfo:
    """What the report shows about one task: direction and units from its store, reference curve, bands."""
    runs = result.task_runs(task)
    bench = runs[0].benchmark
    shas = {str((r.manifest or {}).get("benchmark_sha256")) for r in runs}
    store, note = _load_store(bench, shas, store_cache)
    all_curves = [c for cs in curves.values() for c in cs]
    objectives = runs[0].objectives or []
    multi = len(objectives) > 1
    if store is not None:
        maximize = store.higher_is_better(store.valid_metric)
        info = TaskInfo(
            task,
            bench,
            maximize,
            store.valid_metric,
            str(store.metric_attrs(store.valid_metric).get("unit", "")),
            bool(store.test_metric),
            multi,
            objectives,
        )
        info.store_sha = store.sha256
        info.valid_label = metric_words(store, store.valid_metric)
        info.test_label = metric_words(store, store.test_metric) if store.test_metric else ""
        info.obj_maximize = [store.higher_is_better(o) if o in store.metric_names else False for o in objectives]
    else:
        maximize = _infer_maximize(all_curves)
        info = TaskInfo(task, bench, maximize, "validation", "", True, multi, objectives)
        info.obj_maximize = [maximize] + [False] * (len(objectives) - 1)
        if multi:
            note += "; objective directions assumed (first as the validation metric, others minimised)"
    info.clocks = {m: result.clock(task, m) for m in sorted(curves)}
    info.has_test = info.has_test and any(np.isfinite(c.test).any() for c in all_curves)
    info.reference_note = note
    if store is not None and not store.tabulated:
        # A surrogate over a space too large to tabulate (nb301/yahpo): no exact random-search curve.
        info.reference_note = (
            note + "; " if note else ""
        ) + "no random-search reference curve for a surrogate over a space too large to enumerate"
    elif store is not None and not multi:
        policies = {(r.seed_policy, (r.config.get("benchmark") or {}).get("fixed_seed")) for r in runs}
        if len(policies) == 1:
            policy, fixed = next(iter(policies))
            info.reference = rs_reference(
                store, np.arange(1, ks_max + 1), seed_policy=policy, fixed_seed=fixed, benchmark=bench
            )
        else:
            info.reference_note = (
                note + "; " if note else ""
            ) + "runs use different seed policies; no single reference curve"
    for method, cs in sorted(curves.items()):
        info.eval_bands[method] = bands_by_evaluations(cs, METRICS, n_boot=n_boot, seed=seed)
    grid = time_grid(all_curves)
    if grid is not None and grid.size > 1:
        info.time_grid = grid
        for method, cs in sorted(curves.items()):
            info.time_bands[method] = bands_by_time(cs, METRICS, grid, n_boot=n_boot, seed=seed)
    return info


def _nan_max(values: np.ndarray) -> float:
    """The largest non-NaN value (NaN when there is none), as pandas' Series.max gives it, without a Series."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    return float(x.max()) if x.size else float("nan")


def multi_objective(info: TaskInfo, result: ResultSet, n_boot: int, seed: int) -> list[dict]:
    """Normalised hypervolume curves and final fronts; returns rows for the HV table input."""
    runs = result.task_runs(info.task)
    max_fid = max(_nan_max(r.column("fidelity")) for r in runs)
    pts = {r.run_id: objective_points(r, info.objectives, info.obj_maximize, max_fid) for r in runs}
    stacked = np.vstack(list(pts.values()))
    finite = stacked[np.all(np.isfinite(stacked), axis=1)]
    if finite.size == 0:
        info.reference_note += "; no evaluation at the highest fidelity with all objectives measured"
        return []
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    sign = np.where(info.obj_maximize, -1.0, 1.0)
    info.hv_ref, info.hv_lo = hi * sign, lo * sign
    ref = np.ones(len(info.objectives))
    per_run: dict[str, np.ndarray] = {}
    for r in runs:
        per_run[r.run_id] = hv_curve((pts[r.run_id] - lo) / span, ref)
    for method in result.methods(info.task):
        cell = result.cell(info.task, method)
        curves = [per_run[r.run_id] for r in cell]
        length = min(c.size for c in curves)
        info.hv_bands[method] = band(
            np.arange(1, length + 1), np.vstack([c[:length] for c in curves]), n_boot=n_boot, seed=seed
        )
        union = np.vstack([pts[r.run_id] for r in cell])
        union = union[np.all(np.isfinite(union), axis=1)]
        front = np.unique(union[pareto_mask(union)], axis=0) if union.size else union
        info.fronts[method] = front * sign
    return [{"run": r, "hv": per_run[r.run_id]} for r in runs]


def hv_table(mo_rows: dict[str, list[dict]], budgets: list[Budget], by_id: dict[str, RunCurves]) -> pd.DataFrame:
    """Hypervolume of each run at each budget (the row `cut_index` selects, as for regret)."""
    rows = []
    for task, items in mo_rows.items():
        by_method: dict[str, list[tuple[np.ndarray, RunCurves]]] = {}
        for it in items:
            by_method.setdefault(it["run"].method, []).append((it["hv"], by_id[it["run"].run_id]))
        for b in budgets:
            cut = b.cut(task)
            if cut is None:
                continue
            for method, hvs in sorted(by_method.items()):
                values = []
                for h, c in hvs:
                    i, st = c.index(cut)
                    values.append(h[i] if st == OK else np.nan)
                s = summarise(np.array(values, dtype=np.float64))
                rows.append(
                    {
                        "budget": b.key,
                        "budget_kind": cut.kind,
                        "budget_value": cut.value,
                        "task": task,
                        "method": method,
                        "runs": len(hvs),
                        "n_seeds": s.n,
                        "hv_mean": s.mean,
                        "hv_se": s.se,
                        "hv_median": s.median,
                        "hv_q25": s.q25,
                        "hv_q75": s.q75,
                    }
                )
    return pd.DataFrame(rows)
