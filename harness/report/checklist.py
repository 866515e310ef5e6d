"""Fill Lindauer & Hutter's NAS best-practices checklist from what the run manifests can show.

Lindauer & Hutter, "Best Practices for Scientific Research on Neural Architecture Search", JMLR 21
(2020): 14 practices in three groups (releasing code, comparing methods, reporting details). The
item texts below are our paraphrases. Each item gets a status — yes, partly, no, n/a, or "cannot
show" when the manifests hold no evidence either way — and the evidence it rests on, so a reader
sees what the harness checked and what is left to the author.

One more item, not among Lindauer & Hutter's 14, follows them under "Harness checks": whether the
runs selected architectures on the benchmark's test metric (`_selection`), e.g. a user table whose
validation role is its test accuracy, or that holds only a test accuracy, or runs whose
`benchmark.objectives` name a test metric. Picks chosen by test
performance and then reported on that test performance overstate how well a method generalises.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from harness.report.load import ResultSet, budget_text
from tabular.protocol import Store

YES, PARTLY, NO, NA, CANNOT = "yes", "partly", "no", "n/a", "cannot show"
_TEST_WORDS = re.compile(r"\btest[- ](accuracy|error|set|split|data)\b", re.IGNORECASE)
# A metric name that says test (test_acc, halfway_test_acc, NB201's valtest_acc), not "latest_acc".
_TEST_NAME = re.compile(r"(?:^|[^a-z])(?:val)?test", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    group: str
    number: int
    practice: str
    status: str
    evidence: str


def _join(values, limit: int = 6) -> str:
    values = list(values)
    text = ", ".join(str(v) for v in values[:limit])
    return text + (f", … ({len(values)} in all)" if len(values) > limit else "")


def _sha_evidence(result: ResultSet, store_sha: dict[str, str | None]) -> tuple[str, str]:
    shas: dict[str, set[str]] = defaultdict(set)
    for r in result.complete:
        shas[r.benchmark].add(str((r.manifest or {}).get("benchmark_sha256")))
    parts, status = [], YES
    for bench, values in sorted(shas.items()):
        if len(values) > 1:
            status = NO
            parts.append(f"{bench}: {len(values)} different store versions across runs")
        else:
            sha = next(iter(values))
            now = store_sha.get(bench)
            tail = (
                ""
                if now is None
                else (" (matches the current store)" if now == sha else " (the current store differs)")
            )
            parts.append(f"{bench}: store sha256 {sha[:12]}…{tail}")
    return status, "; ".join(parts)


def _protocol(result: ResultSet) -> tuple[str, str]:
    problems = []
    tasks = result.tasks()
    methods = result.methods()
    for task in tasks:
        per_method: dict[str, set[tuple]] = defaultdict(set)
        seeds: dict[str, frozenset] = {}
        for m in result.methods(task):
            runs = result.cell(task, m)
            for r in runs:
                per_method[m].add((budget_text(r), r.seed_policy))
            seeds[m] = frozenset(r.seed for r in runs)
        if len({frozenset(v) for v in per_method.values()}) > 1:
            problems.append(f"{task}: budgets or seed policies differ between methods")
        if len(set(seeds.values())) > 1:
            problems.append(f"{task}: seed sets differ between methods")
        missing = sorted(set(methods) - set(per_method))
        if missing:
            problems.append(f"{task}: not run for {_join(missing)}")
    if problems:
        return PARTLY, "; ".join(problems)
    return (
        YES,
        f"all {len(methods)} methods ran on the same {len(tasks)} task(s) "
        "with identical budgets, seed policies and seed sets",
    )


def _selection_problem(store: Store) -> str:
    """Why runs on `store` select on test data ("" when nothing shows it); see the module doc."""
    valid, test = str(store.valid_metric or ""), str(store.test_metric or "")
    if not valid:
        return ""
    if valid == test:
        return f"its validation metric is its test metric {test!r}"
    if _TEST_NAME.search(valid):
        return f"its validation metric {valid!r} is named as a test metric"
    described = str(store.metric_attrs(valid).get("description", ""))
    if _TEST_WORDS.search(described) and "valid" not in described.lower():
        return f"its validation metric {valid!r} is described as test data ({described!r})"
    if test and store.tabulated:
        a, b = np.asarray(store.seed_mean(valid)), np.asarray(store.seed_mean(test))
        if a.shape == b.shape and np.isfinite(a).any() and np.array_equal(a, b, equal_nan=True):
            return f"its validation metric {valid!r} holds exactly the values of its test metric {test!r}"
    return ""


def _objectives_problem(store: Store, objectives: set[str]) -> str:
    """Why runs that chose these `benchmark.objectives` select on test data ("" when none is a test
    metric): the store's roles may be sound while a run optimises (and picks by) its test metric."""
    test = str(store.test_metric or "")
    hits = sorted(o for o in objectives if o == test or _TEST_NAME.search(o))
    return f"runs chose objective(s) {', '.join(repr(o) for o in hits)}, test data" if hits else ""


def _selection(result: ResultSet, stores: dict[str, Store] | None) -> tuple[str, str]:
    """Did the runs select on a validation metric distinct from the test metric? (status, evidence)."""
    objectives: dict[str, set[str]] = defaultdict(set)
    for r in result.complete:
        if not r.is_oneshot:
            objectives[r.benchmark].update(r.objectives or [])
    benches = sorted(objectives)
    if not benches:
        return NA, "only one-shot runs, which pick by their own supernet validation, not by a table metric"
    flagged, unknown, fine = [], [], []
    for bench in benches:
        store = (stores or {}).get(bench)
        if store is None:
            unknown.append(f"{bench} (its table is not available)")
            continue
        problem = "; ".join(p for p in (_selection_problem(store), _objectives_problem(store, objectives[bench])) if p)
        if problem:
            flagged.append(f"{bench}: {problem}")
        elif not store.test_metric:
            unknown.append(
                f"{bench} (no test metric: whether {store.valid_metric!r} is held-out validation data cannot be shown)"
            )
        else:
            fine.append(f"{bench} ({store.valid_metric} vs {store.test_metric})")
    if flagged:
        return NO, ("SELECTION ON THE TEST METRIC: " + "; ".join(flagged)
                    + ". The picks' test values are then not an unbiased estimate; give the table a validation metric "
                    "(the sidecar's valid_metric) or report such results as an upper bound")
    parts = ([f"runs selected on a validation metric distinct from the test metric: {_join(fine)}"] if fine else []) + \
        ([f"cannot show for {_join(unknown)}"] if unknown else [])
    return (YES if not unknown else PARTLY if fine else CANNOT), "; ".join(parts)


def build_checklist(result: ResultSet, *, store_sha: dict[str, str | None], time_axis: dict[str, bool],
                    total_wall_s: float, total_gpu_h: float, total_real_h: float = 0.0,
                    stores: dict[str, Store] | None = None) -> list[Item]:
    """The 14 items with statuses and evidence from the manifests of `result`, then the harness's own checks.

    `total_gpu_h` is the simulated training cost of the simulated-clock runs; `total_real_h` the
    real compute of the real-clock runs (one-shot methods), which is never called simulated.
    `stores` (benchmark name -> its open store) lets the checklist see each benchmark's metric roles.
    """
    real = result.real_methods()
    complete = result.complete
    manifests = [r.manifest or {} for r in result.runs if r.manifest]
    items: list[Item] = []

    def add(group: str, practice: str, status: str, evidence: str) -> None:
        items.append(Item(group, len(items) + 1, practice, status, evidence))

    code = "Releasing code"
    cites = sorted(
        {str(((r.manifest or {}).get("benchmark_provenance") or {}).get("citation", "")) for r in complete} - {""}
    )
    add(code, "Publish the training pipeline(s) that produced the evaluated architectures' scores", NA,
        "tabular benchmarks: every score is looked up in the benchmark's table, whose authors' pipeline produced it"
        + (f" ({_join(cites)})" if cites else ""))
    commits = [m.get("git_commit") for m in manifests]
    known = sorted({c for c in commits if c})
    add(
        code,
        "Publish the code of the NAS method(s), with their hyperparameters and seeds",
        PARTLY if known else CANNOT,
        (
            f"git commit recorded in {sum(bool(c) for c in commits)}/{len(commits)} manifests "
            f"({_join(c[:10] for c in known)}); "
            "hyperparameters and seeds are in every manifest; whether the code is public, and whether the checkout had "
            "uncommitted changes, cannot be shown"
        )
        if known
        else "no git commit recorded in the manifests",
    )
    add(
        code,
        "Release code as it is rather than waiting to clean it up",
        CANNOT,
        "a practice of the authors, not a property of the results",
    )

    cmp_ = "Comparing methods"
    status, evidence = _sha_evidence(result, store_sha)
    add(
        cmp_,
        "Compare on the same benchmark (same data, split, search space and training pipeline), "
        "not only the same dataset",
        status,
        evidence,
    )
    variants = defaultdict(set)
    for r in complete:
        variants[r.strategy].add(r.method)
    ablations = {s: m for s, m in variants.items() if len(m) > 1}
    add(cmp_, "Run ablation studies of the method's components", PARTLY if ablations else CANNOT,
        ("configuration variants present: " + "; ".join(f"{_join(sorted(m))}" for m in ablations.values()))
        if ablations else "no two configurations of one strategy were run; ablations are not recorded in manifests")
    status, evidence = _protocol(result)
    add(cmp_, "Use the same evaluation protocol for every method compared", status, evidence)
    with_time = sorted(t for t, ok in time_axis.items() if ok)
    without = sorted(t for t, ok in time_axis.items() if not ok)
    add(
        cmp_,
        "Compare performance over time (anytime curves), not only final results",
        YES if not without else PARTLY,
        "curves against evaluations for every task"
        + (f"; against {'simulated time' if not real else 'time'} for {_join(with_time)}" if with_time else "")
        + (f" (real compute seconds for {_join(real)})" if real and with_time else "")
        + (f"; no simulated time for {_join(without)} (the benchmark records no training cost)" if without else ""),
    )
    rs_tasks = {r.task for r in complete if r.strategy == "rs"}
    missing_rs = sorted(set(result.tasks()) - rs_tasks)
    add(cmp_, "Compare against random search", YES if not missing_rs and rs_tasks else (PARTLY if rs_tasks else NO),
        ("random search ran on every task" if not missing_rs else f"no random-search runs on {_join(missing_rs)}")
        + "; the exact expected curve of random search without replacement is drawn on every plot against evaluations")
    seeds = {
        (t, m): sorted(r.seed for r in result.cell(t, m) if r.seed is not None)
        for t in result.tasks()
        for m in result.methods(t)
    }
    n_min = min(len(v) for v in seeds.values())
    n_max = max(len(v) for v in seeds.values())
    all_seeds = sorted({s for v in seeds.values() for s in v})
    add(cmp_, "Perform multiple runs with different seeds and report the seeds", YES if n_min >= 2 else NO,
        f"{n_min if n_min == n_max else f'{n_min}–{n_max}'} seed{'s' if n_max != 1 else ''} per method and task; "
        f"seeds used: {_join(all_seeds, 30)}")
    add(cmp_, "Use tabular or surrogate benchmarks for in-depth evaluations", YES,
        f"every run queried a tabular benchmark store ({_join(sorted({r.benchmark for r in complete}))})")
    versions = {json.dumps(m.get("versions", {}), sort_keys=True) for m in manifests}
    pythons = sorted({str(m.get("python")) for m in manifests})
    hosts = sorted({str(m.get("host")) for m in manifests})
    conf_status = YES if len(versions) == 1 and len(pythons) == 1 else PARTLY
    add(
        cmp_,
        "Control confounding factors (hardware, library versions, run time differences)",
        conf_status,
        (
            "cost is simulated from the benchmark's recorded training times, so hardware does not affect results; "
            if not real
            else f"cost is simulated from the benchmark's recorded training times except for {_join(real)}, "
            "whose time is real compute seconds of the machine that ran them, "
            "so hardware affects their time axis (not their picks' table values); "
        )
        + (
            "one set of package versions across all runs"
            if len(versions) == 1
            else f"{len(versions)} different package-version sets across runs"
        )
        + f"; python {_join(pythons)}; {len(hosts)} host(s)",
    )

    rep = "Reporting details"
    hyper = defaultdict(set)
    for r in complete:
        cfg = {k: v for k, v in (r.config.get("strategy") or {}).items() if k != "name"}
        hyper[r.method].add(json.dumps(cfg, sort_keys=True))
    add(
        rep,
        "Report how hyperparameters were tuned and what the tuning cost",
        PARTLY,
        "hyperparameters of every method are listed in this report (from the manifests); "
        "how they were chosen and any tuning cost are not recorded",
    )
    add(
        rep,
        "Report the time of the entire end-to-end NAS method, not only the search phase",
        YES,
        f"total simulated training cost {total_gpu_h:.4g} GPU-hours"
        + (
            f" (simulated-clock methods), {total_real_h:.4g} real CPU/GPU hours of this machine ({_join(real)})"
            if real
            else ""
        )
        + f" and {total_wall_s:.4g} s of wall-clock time over all runs; "
        "the final evaluation is a table lookup (no retraining), so the search is the whole pipeline",
    )
    add(rep, "Report all details of the experimental setup", YES,
        f"{len(manifests)} manifests record config, seeds, budgets, benchmark version, package versions and host; "
        "every run folder is listed in this report")

    status, evidence = _selection(result, stores)
    add(
        "Harness checks",
        "Select architectures on validation data, never on the test metric that is reported",
        status,
        evidence,
    )
    return items
