"""issue 21: a stray short run does not move a task's budget; ties with the best method are tested.

The budget rule and the tests against the best are checked on the real quickstart grid written by
the real CLI, and the statistics against scipy and Holm's procedure done by hand.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from harness.regress import compare_sets, format_table
from harness.regress.groups import Group, GroupSet
from harness.regress.stats import worse_test
from harness.report.budgets import EVALUATIONS, SIM_SECONDS, RunBudget, default_budget, majority_value
from harness.report.leaderboard import versus_best
from harness.report.stats import MANN_WHITNEY, WILCOXON, holm, seed_test

REPO = Path(__file__).resolve().parents[1]
METHODS = ("ls", "re", "rs", "tpe")


def _nas(args: list[str], home: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NAS_HARNESS_DATA=str(home))
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def quickstart(data_home, tmp_path_factory):
    """The README's quickstart grid (3 seeds instead of 10) in ./results, and a copy with one stray
    `nas-harness run` of 20 evaluations written beside it (a seed the grid does not have)."""
    from harness.benchmarks import ensure_store

    ensure_store("nb201/cifar10")
    root = tmp_path_factory.mktemp("quickstart")
    grid = _nas(["run", "-m", f"strategy={','.join(METHODS)}", "benchmark=nb201/cifar10",
                 "seed=range(0,3)", "budget.evaluations=100"], data_home, root)
    assert grid.returncode == 0, grid.stderr
    clean = root / "clean"
    shutil.copytree(root / "results", clean)
    stray = _nas(["run", "strategy=re", "seed=42", "budget.evaluations=20"], data_home, root)
    assert stray.returncode == 0, stray.stderr
    return data_home, root, clean


@pytest.mark.slow
def test_stray_short_run_keeps_the_task_budget_and_warns(quickstart):
    home, root, _ = quickstart
    done = _nas(["report", "results"], home, root)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "differ in budget" in line]
    assert len(warnings) == 1, done.stderr  # one line on stderr for the task
    assert warnings[0].startswith("warning: nb201/cifar10: runs differ in budget")
    assert "compared after 100 evaluations" in warnings[0] and "1 shorter run (re) left out" in warnings[0]
    assert "mixed budgets on nb201/cifar10" not in done.stderr  # said once, not twice
    md = (root / "results" / "report" / "leaderboard.md").read_text()
    assert "### After 100 evaluations" in md and "After 20 evaluations" not in md
    assert "runs differ in budget" in md  # and in the report itself
    board = md.split("## Leaderboard", 1)[1].split("Friedman", 1)[0]
    rows = [line for line in board.splitlines() if line.startswith("| ") and "avg rank" not in line]
    ranked = [line.split("|")[1].strip() for line in rows]
    assert sorted(ranked) == sorted(METHODS)
    csv = pd.read_csv(root / "results" / "report" / "leaderboard.csv")
    assert set(csv["budget"]) == {"100 evaluations"}
    assert sorted(csv["method"]) == sorted(METHODS) and csv["rank"].notna().all()
    # Only the 100-evaluation runs are compared: 3 seeds each; the stray run of re is counted as short.
    assert dict(zip(csv["method"], csv["n_seeds"], strict=True)) == {m: 3 for m in METHODS}
    assert int(csv.loc[csv["method"] == "re", "n_short"].iloc[0]) == 1


def test_checklist_says_the_seed_count_once_when_equal(quickstart):
    from harness.report import build_report

    _, root, clean = quickstart
    item = next(i for i in build_report(clean, n_boot=100).checklist if "multiple runs" in i.practice)
    assert item.evidence.startswith("3 seeds per method and task"), item.evidence
    item = next(i for i in build_report(root / "results", n_boot=100).checklist if "multiple runs" in i.practice)
    assert item.evidence.startswith("3–4 seeds per method and task"), item.evidence


def test_report_ties_use_paired_wilcoxon_with_holm(quickstart):
    """The leaderboard's tests against the best, recomputed from the trajectories with scipy."""
    from harness.report import build_report

    _, _, clean = quickstart
    report = build_report(clean, n_boot=100)
    (lb,) = report.leaderboards
    regret = {}
    for run in report.result.complete:
        regret.setdefault(run.method, {})[run.seed] = float(run.trajectory["regret"].iloc[99])
    means = {m: np.mean(list(v.values())) for m, v in regret.items()}
    best = min(means, key=means.get)
    others = sorted(m for m in regret if m != best)
    p = [sps.wilcoxon([regret[m][s] for s in range(3)], [regret[best][s] for s in range(3)]).pvalue
         if any(regret[m][s] != regret[best][s] for s in range(3)) else 1.0 for m in others]
    adjusted = holm(p)
    for m, pm, pa in zip(others, p, adjusted, strict=True):
        v = lb.versus_best[("nb201/cifar10", m)]
        assert v.best == best and v.test == WILCOXON
        assert v.p_value == pytest.approx(pm, rel=1e-12) and v.p_holm == pytest.approx(pa, rel=1e-12)
        assert v.tied == (not pa < 0.05)
    assert lb.versus_best[("nb201/cifar10", best)].is_best


# -- the default budget rule ----------------------------------------------------------------------
def _runs(spec: list[tuple[str, int, int]]) -> list[RunBudget]:
    """(method, evaluations recorded, rows) -> RunBudget of a run stopped on its evaluations."""
    return [RunBudget({"evaluations": e, "sim_seconds": None}, n, float(n), m) for m, e, n in spec]


def test_majority_value_is_the_lower_median():
    assert majority_value([100] * 40 + [20]) == 100
    assert majority_value([50, 100]) == 50  # an even split keeps every run
    assert majority_value([50, 100, 200]) == 100
    assert majority_value([7]) == 7
    for seed in range(5):
        xs = np.random.default_rng(seed).integers(1, 50, size=11)
        # largest value that more than half of the values reach, by brute force
        want = max(v for v in xs if 2 * np.sum(xs >= v) > xs.size)
        assert majority_value(list(xs)) == want


def test_default_budget_per_task_from_its_own_runs():
    grid = [(m, 100, 100) for m in METHODS for _ in range(10)]
    runs = {
        "a": _runs(grid + [("re", 20, 20)]),  # a stray run of a method of the grid
        "b": _runs(grid + [("bohb", 20, 20)]),  # a stray run of a new method
        "c": _runs([("rs", 30, 30)] * 5),  # another task with a shorter budget: does not move a or b
    }
    budget, notes, warnings = default_budget(runs)
    assert budget.cut("a").value == 100 and budget.cut("b").value == 100 and budget.cut("c").value == 30
    assert budget.uniform is None and "each task is compared at its own default budget" in notes[0]
    assert [w.split(":", 1)[0] for w in warnings] == ["a", "b"]
    assert "1 shorter run (bohb) left out (--budgets 20 compares every run)" in warnings[1]
    same, _, none = default_budget({"a": _runs(grid)})
    assert same.uniform is not None and same.uniform.value == 100 and none == []


def test_default_time_budget_by_majority():
    timed = [RunBudget({"evaluations": None, "sim_seconds": 200000.0}, 90, 200000.0, "rs") for _ in range(9)]
    stray = RunBudget({"evaluations": 20, "sim_seconds": None}, 20, 30000.0, "re")
    budget, _, warnings = default_budget({"t": timed + [stray]})
    cut = budget.cut("t")
    assert cut.kind == SIM_SECONDS and cut.value == 200000.0
    assert len(warnings) == 1 and "1 shorter run (re) left out" in warnings[0]
    mostly_evals = [stray] * 3 + timed[:2]
    assert default_budget({"t": mostly_evals})[0].cut("t").kind == EVALUATIONS


# -- tests against the best, and regress --------------------------------------------------------
def test_seed_test_equals_scipy():
    rng = np.random.default_rng(3)
    a = dict(enumerate(rng.normal(1.0, 0.3, 10)))
    b = dict(enumerate(rng.normal(1.3, 0.3, 10)))
    got = seed_test(a, b)
    want = sps.wilcoxon(list(b.values()), list(a.values()))
    assert got.test == WILCOXON and got.p_value == want.pvalue and got.statistic == want.statistic
    b_other = {s + 10: v for s, v in b.items()}  # different seeds: no pairs
    got = seed_test(a, b_other)
    want = sps.mannwhitneyu(list(b.values()), list(a.values()))
    assert got.test == MANN_WHITNEY and got.p_value == want.pvalue
    assert seed_test(a, dict(a)).p_value == 1.0  # identical runs
    shuffled = {s: b[s] for s in reversed(list(b))}  # pairing is by seed, not by order
    assert seed_test(a, shuffled).p_value == seed_test(a, b).p_value


def test_holm_by_hand():
    # sorted: 0.01 * 3 = 0.03; 0.03 * 2 = 0.06; 0.04 * 1 = 0.04 -> monotone 0.06; NaN is not counted
    assert holm([0.01, 0.04, 0.03, np.nan])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(holm([0.01, 0.04, 0.03, np.nan])[3])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_versus_best_marks_ties_by_hand():
    from harness.report.budgets import Budget, Cut

    rng = np.random.default_rng(0)
    seeds = range(10)
    best = rng.normal(0.3, 0.05, 10)
    close = best + 0.005 + 0.05 * (-1.0) ** np.arange(10) * np.arange(1, 11) / 10  # higher mean, mixed signs
    vals = {"best": best, "close": close, "bad": rng.normal(1.0, 0.05, 10)}
    budget = Budget("100 evaluations", {"t": Cut(EVALUATIONS, 100)})
    values = {("100 evaluations", "t", m): dict(zip(seeds, v, strict=True)) for m, v in vals.items()}
    out = versus_best(values, budget, ["t"], 0.05)
    p = {m: sps.wilcoxon(vals[m], vals["best"]).pvalue for m in ("bad", "close")}
    # Holm over the two comparisons, by hand
    lo, hi = sorted(p, key=p.get)
    adj = {lo: min(1.0, 2 * p[lo])}
    adj[hi] = min(1.0, max(adj[lo], p[hi]))
    for m in ("bad", "close"):
        assert out[("t", m)].p_holm == pytest.approx(adj[m], rel=1e-12)
    assert out[("t", "best")].is_best and out[("t", "close")].tied and not out[("t", "bad")].tied


def _group(seeds, final) -> Group:
    final = np.asarray(final, dtype=float)
    return Group("nb201/cifar10", "rs", "rs", {}, 100, ["5" * 64], list(seeds), final, final.copy())


def test_regress_pairs_same_seeds_and_says_which_test():
    rng = np.random.default_rng(1)
    base = rng.normal(0.5, 0.1, 10)
    cand = base + rng.normal(0.05, 0.03, 10)
    test, p = worse_test(list(range(10)), base, list(range(10)), cand)
    assert test == WILCOXON and p == sps.wilcoxon(cand, base, alternative="greater").pvalue
    order = list(reversed(range(10)))  # the candidate listed in another seed order pairs by seed
    assert worse_test(list(range(10)), base, order, cand[::-1]) == (test, p)
    test, p = worse_test(list(range(10)), base, list(range(10, 20)), cand)
    assert test == MANN_WHITNEY and p == sps.mannwhitneyu(cand, base, alternative="greater").pvalue
    assert worse_test([0, 1], np.array([1.0, 2.0]), [0, 1], np.array([1.0, 2.0])) == (WILCOXON, 1.0)

    def sets(seeds_c):
        b = GroupSet(Path("base"), {("nb201/cifar10", "rs"): _group(range(10), base)})
        c = GroupSet(Path("cand"), {("nb201/cifar10", "rs"): _group(seeds_c, cand)})
        return compare_sets(b, c, n_boot=100)

    paired = sets(range(10))
    assert all(r.test == WILCOXON for r in paired.rows)
    assert paired.rows[0].p == sps.wilcoxon(cand, base, alternative="greater").pvalue
    text = format_table(paired)
    assert "Wilcoxon (paired)" in text and "tests: Wilcoxon signed-rank on per-seed differences for 2" in text
    unpaired = sets(range(10, 20))
    assert all(r.test == MANN_WHITNEY for r in unpaired.rows)
    assert "tests: Mann-Whitney U for 2 comparison(s) whose seeds differ" in format_table(unpaired)


# -- plots for papers -------------------------------------------------------------------------------
def test_method_titles_come_from_the_strategy_registry():
    from harness.report.labels import legend_label, method_title
    from harness.strategies import DISPLAY_NAMES

    assert method_title("re") == DISPLAY_NAMES["re"] == "Regularized evolution"
    assert method_title("rs[replace=true]") == "Random search [replace=true]"
    assert legend_label("rs[replace=true]", 3) == "Random search (rs[replace=true]), n=3"
    assert method_title("my_module:Greedy") == "my_module:Greedy"  # unknown methods keep their label
    assert legend_label("my_module:Greedy", 2) == "my_module:Greedy, n=2"
    assert method_title("darts") == "DARTS"  # one-shot methods: the name of their registry line


def test_curve_plot_names_axes_ticks_and_zero_regret(quickstart):
    from harness.report import build_report
    from harness.report.plots import FONT_LEGEND, ZOOM_AT, _colours, _curve_panels

    _, _, clean = quickstart
    report = build_report(clean, n_boot=100)
    info = report.tasks["nb201/cifar10"]
    assert info.valid_label == "validation accuracy" and info.test_label == "test accuracy"  # store descriptions
    assert report.method_titles["ls"] == "Local search"
    fig = _curve_panels(info, info.eval_bands, _colours(report.result.methods()), "evaluations")
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert "Random search (rs), n=3" in texts and "Regularized evolution (re), n=3" in texts
    assert min(t.get_fontsize() for t in legend.get_texts()) == FONT_LEGEND >= 10
    valid_ax, test_ax, regret_ax = fig.axes[:3]
    assert valid_ax.get_ylabel() == "validation accuracy (%)" and test_ax.get_ylabel() == "test accuracy (%)"
    assert regret_ax.get_ylabel() == "validation regret (%)" and "validation regret" in regret_ax.get_title()
    # A regret of 0 is a real value on a symmetric-log axis that starts at 0, not an axis floor.
    assert regret_ax.get_yscale() == "symlog" and regret_ax.get_ylim()[0] == 0.0
    for ax in fig.axes[:3]:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    # The validation panel starts at the worst method mean at 10 % of the horizon (minus a 5 % pad).
    bands = [mb["valid"] for mb in info.eval_bands.values()]
    x_end = max(b.x[-1] for b in bands)
    cut = bands[0].x[0] + ZOOM_AT * (x_end - bands[0].x[0])
    starts = [b.mean[np.searchsorted(b.x, cut, side="right") - 1] for b in bands]
    ref = info.reference
    starts.append(ref.valid_mean[np.searchsorted(ref.ks, cut, side="right") - 1])
    lo, hi = valid_ax.get_ylim()
    assert lo == pytest.approx(min(starts) - 0.05 * (hi - lo) / 1.1, rel=1e-6)
    assert lo > min(float(b.lo.min()) for b in bands)  # the poor first evaluations run off the axis
