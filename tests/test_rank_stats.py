"""Rank statistics: every number against scipy, brute force or a closed form; sources against real tables."""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness import rank_stats as rk
from harness.stats_cli import add_rank_stats_parser
from tabular.errors import NasHarnessError
from tests.conftest import shared_file


def _data(kind: str, n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 0.6 * x + rng.normal(size=n)
    if kind == "tied":  # few distinct values, like rounded accuracies
        x, y = np.round(x, 0), np.round(y * 2, 0) / 2
    return x, y


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="nas-harness")
    add_rank_stats_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


# -- correlations -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["random", "tied"])
def test_correlations_equal_scipy_after_dropping_nan_pairs(kind):
    x, y = _data(kind)
    x[[3, 17]] = np.nan
    y[[17, 40, 41]] = np.inf
    res = rk.correlate(rk.Source("x", x), rk.Source("y", y), n_boot=0, decimals=(0, 1))
    keep = np.isfinite(x) & np.isfinite(y)
    assert res.n_dropped == 4 and res.n == keep.sum() == 296
    rho = stats.spearmanr(x[keep], y[keep])
    tau = stats.kendalltau(x[keep], y[keep])
    assert res.spearman == pytest.approx(rho.statistic, abs=1e-12) and res.spearman_p == pytest.approx(
        rho.pvalue, rel=1e-12
    )
    assert res.kendall == pytest.approx(tau.statistic, abs=1e-12) and res.kendall_p == pytest.approx(
        tau.pvalue, rel=1e-12
    )
    for d in (0, 1):  # NB301's sparse tau rounds the prediction only
        expected = stats.kendalltau(x[keep], np.round(y[keep], d)).statistic
        assert res.sparse_kendall[str(d)] == pytest.approx(expected, abs=1e-12)


def test_sparse_kendall_rounds_prediction_or_both():
    truth = np.array([91.04, 91.06, 90.2, 89.91, 89.94, 85.0])
    pred = np.array([90.96, 91.04, 90.25, 89.96, 89.90, 86.1])
    # Rounded to 0.1: pred = 91.0, 91.0, 90.2 (round half to even), 90.0, 89.9, 86.1
    manual = stats.kendalltau(truth, [91.0, 91.0, 90.2, 90.0, 89.9, 86.1]).statistic
    assert rk.sparse_kendall(truth, pred, 1)[0] == pytest.approx(manual, abs=1e-12)
    both = stats.kendalltau([91.0, 91.1, 90.2, 89.9, 89.9, 85.0], [91.0, 91.0, 90.2, 90.0, 89.9, 86.1]).statistic
    assert rk.sparse_kendall(truth, pred, 1, round_truth=True)[0] == pytest.approx(both, abs=1e-12)
    assert rk.sparse_kendall(truth, pred, 1)[0] != pytest.approx(rk.kendall(truth, pred)[0])


def test_sampling_uses_the_seeded_subset_of_finite_pairs():
    x, y = _data("random", n=500)
    x[:50] = np.nan
    a = rk.correlate(rk.Source("x", x), rk.Source("y", y), sample=100, seed=7, n_boot=0)
    b = rk.correlate(rk.Source("x", x), rk.Source("y", y), sample=100, seed=7, n_boot=0)
    c = rk.correlate(rk.Source("x", x), rk.Source("y", y), sample=100, seed=8, n_boot=0)
    assert a.n == 100 and a.n_dropped == 50 and a.spearman == b.spearman != c.spearman
    keep = np.flatnonzero(np.isfinite(x))
    pick = keep[np.sort(np.random.default_rng(7).choice(keep.size, 100, replace=False))]
    assert a.spearman == pytest.approx(stats.spearmanr(x[pick], y[pick]).statistic, abs=1e-12)
    with pytest.raises(NasHarnessError, match="--sample"):
        rk.correlate(rk.Source("x", x), rk.Source("y", y), sample=451, n_boot=0)


# -- bootstrap ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["random", "tied"])
def test_vectorised_spearman_replicates_equal_scipy_on_each_resample(kind):
    x, y = _data(kind, n=60, seed=3)
    idx = np.random.default_rng(1).integers(0, x.size, size=(40, x.size))
    fast = rk.spearman_replicates(x, y, idx)
    slow = np.array([stats.spearmanr(x[r], y[r]).statistic for r in idx])
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)
    kend = rk.kendall_replicates(x, y, idx)
    np.testing.assert_allclose(kend, [stats.kendalltau(x[r], y[r]).statistic for r in idx], rtol=0, atol=1e-12)


def test_bootstrap_ci_is_deterministic_and_contains_the_estimate():
    x, y = _data("random", n=200, seed=5)
    src = rk.Source("x", x), rk.Source("y", y)
    a = rk.correlate(*src, n_boot=300, seed=11)
    b = rk.correlate(*src, n_boot=300, seed=11)
    c = rk.correlate(*src, n_boot=300, seed=12)
    assert a.spearman_ci == b.spearman_ci and a.kendall_ci == b.kendall_ci
    assert a.spearman_ci != c.spearman_ci
    assert a.spearman_ci[0] < a.spearman < a.spearman_ci[1]
    assert a.kendall_ci[0] < a.kendall < a.kendall_ci[1]
    # The resamples do not depend on how they are blocked for memory.
    small_blocks = pytest.MonkeyPatch()
    small_blocks.setattr(rk.stats, "_CHUNK_ELEMENTS", 7 * 200)  # where the blocks are drawn
    try:
        assert rk.correlate(*src, n_boot=300, seed=11).spearman_ci == a.spearman_ci
    finally:
        small_blocks.undo()
    # Percentile interval of exactly these replicates (same seed, same resamples).
    reps = rk.bootstrap_correlations(x, y, 300, 11)["spearman"]
    assert a.spearman_ci == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])), abs=1e-12)


# -- top-k --------------------------------------------------------------------------------------
def _brute_top_k(truth, pred, k):
    """Average overlap over every tie-breaking order of both rankings (independent draws)."""
    n = len(truth)

    def tops(v):
        out = []
        for perm in itertools.permutations(range(n)):  # perm = tie-breaking priority of each item
            order = sorted(range(n), key=lambda i: (-v[i], perm[i]))
            out.append(frozenset(order[:k]))
        return out

    tt, tp = tops(truth), tops(pred)
    return np.mean([len(a & b) / k for a in tt for b in tp])


@pytest.mark.parametrize(
    "truth, pred",
    [
        ([5, 4, 3, 2, 1], [1, 5, 3, 4, 2]),  # no ties
        ([5, 4, 4, 4, 1], [2, 2, 3, 2, 2]),  # ties at the cut in both
        ([3, 3, 3, 3, 3], [1, 2, 3, 4, 5]),  # all tied
    ],
)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_overlap_equals_brute_force_over_tie_breaks(truth, pred, k):
    assert rk.top_k_overlap(np.array(truth, float), np.array(pred, float), k) == pytest.approx(
        _brute_top_k(truth, pred, k), abs=1e-12
    )


def test_top_k_without_ties_is_set_overlap_and_direction_flips():
    rng = np.random.default_rng(2)
    t, p = rng.normal(size=100), rng.normal(size=100)
    for k in (1, 10, 37):
        expect = len(set(np.argsort(-t)[:k]) & set(np.argsort(-p)[:k])) / k
        assert rk.top_k_overlap(t, p, k) == pytest.approx(expect, abs=1e-12)
        lower = len(set(np.argsort(t)[:k]) & set(np.argsort(-p)[:k])) / k
        assert rk.top_k_overlap(t, p, k, truth_higher=False) == pytest.approx(lower, abs=1e-12)
    assert rk.parse_k("1%", 15625) == 156 and rk.parse_k("10", 5) == 10
    with pytest.raises(NasHarnessError):
        rk.top_k_overlap(t, p, 101)


# -- Kendall's W --------------------------------------------------------------------------------
@pytest.mark.parametrize("tied", [False, True])
def test_kendalls_w_is_friedmans_statistic_over_m_n_minus_1(tied):
    rng = np.random.default_rng(4)
    scores = rng.normal(size=(6, 5)) + np.arange(5)  # 6 raters (benchmarks), 5 strategies
    if tied:
        scores = np.round(scores)
    res = rk.kendalls_w(scores)
    fried = stats.friedmanchisquare(*scores.T)  # one argument per object, measured in every block
    assert res.w == pytest.approx(fried.statistic / (6 * 4), abs=1e-12)
    assert res.chi2 == pytest.approx(fried.statistic, abs=1e-10) and res.p_value == pytest.approx(
        fried.pvalue, rel=1e-10
    )


def test_kendalls_w_closed_forms():
    rng = np.random.default_rng(9)
    scores = rng.normal(size=(4, 7))
    res = rk.kendalls_w(scores)
    # Without ties the mean pairwise Spearman rho between raters is (m W - 1) / (m - 1).
    rhos = [stats.spearmanr(scores[i], scores[j]).statistic for i, j in itertools.combinations(range(4), 2)]
    assert np.mean(rhos) == pytest.approx((4 * res.w - 1) / 3, abs=1e-12)
    assert rk.kendalls_w(np.tile(np.arange(5.0), (3, 1))).w == pytest.approx(1.0)
    # Two raters in exactly opposite order: S = 0, W = 0.
    assert rk.kendalls_w(np.array([[1.0, 2, 3, 4], [4, 3, 2, 1]])).w == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(NasHarnessError):
        rk.kendalls_w(np.ones((1, 3)))


# -- sources ------------------------------------------------------------------------------------
def test_parse_specs_grammar(data_home):
    specs = rk.parse_specs(
        ["nb201/cifar10", "valid_acc", "params:min", "t.csv:col:key=arch:max", "nb201/cifar100:valid_acc:fidelity=200"]
    )
    assert [s.origin for s in specs] == ["nb201/cifar10", "nb201/cifar10", "t.csv", "nb201/cifar100"]
    assert (
        specs[1].direction == "min"
        and specs[2].key == "arch"
        and specs[2].direction == "max"
        and specs[3].fidelity == 200.0
    )
    with pytest.raises(NasHarnessError, match="names no source"):
        rk.parse_specs(["valid_acc"])
    with pytest.raises(NasHarnessError, match="unknown modifier"):
        rk.parse_spec("t.csv:col:bogus")


def test_table_rows_align_by_arch_string_index_or_row_order(tmp_path, nb201_cifar10):
    space = nb201_cifar10.space
    rng = np.random.default_rng(0)
    rows = rng.permutation(space.size)[:500]
    frame = pd.DataFrame({"arch_str": [space.arch_at(int(i)) for i in rows], "score": rows * 2.0})
    frame.to_csv(tmp_path / "by_arch.csv", index=False)
    (src,) = rk.resolve_sources([f"{tmp_path / 'by_arch.csv'}:score"])
    assert np.isnan(src.values).sum() == space.size - 500
    np.testing.assert_array_equal(src.values[rows], rows * 2.0)
    frame.assign(nb201_index=rows).to_parquet(tmp_path / "both.parquet")
    (src2,) = rk.resolve_sources([f"{tmp_path / 'both.parquet'}:score"])
    np.testing.assert_array_equal(src2.values, src.values)
    frame.assign(nb201_index=np.roll(rows, 1)).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(NasHarnessError, match="disagree"):
        rk.resolve_sources([f"{tmp_path / 'bad.csv'}:score"])
    pd.DataFrame({"v": np.arange(space.size, dtype=float)}).to_csv(tmp_path / "order.csv", index=False)
    (src3,) = rk.resolve_sources([f"{tmp_path / 'order.csv'}:v"])
    np.testing.assert_array_equal(src3.values, np.arange(space.size))
    pd.DataFrame({"v": [1.0, 2.0]}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(NasHarnessError, match="key=COLUMN"):
        rk.resolve_sources([f"{tmp_path / 'short.csv'}:v"])
    with pytest.raises(NasHarnessError, match="no column 'nope'"):
        rk.resolve_sources([f"{tmp_path / 'by_arch.csv'}:nope"])


def test_store_sources_and_cli_on_a_benchmark(nb201_cifar10, tmp_path, capsys):
    store = nb201_cifar10.store
    valid, params = rk.resolve_sources(["nb201/cifar10", "valid_acc", "params"])
    np.testing.assert_array_equal(valid.values, store.seed_mean("valid_acc"))
    np.testing.assert_array_equal(params.values, store.static("params"))
    assert (
        cli(["rank-stats", "nb201/cifar10", "valid_acc", "params", "--sample", "400", "--bootstrap", "50", "--json"])
        == 0
    )
    (out,) = json.loads(capsys.readouterr().out)
    rows = np.flatnonzero(np.isfinite(valid.values) & np.isfinite(params.values))
    pick = rows[np.sort(np.random.default_rng(0).choice(rows.size, 400, replace=False))]
    assert out["n"] == 400 and out["spearman"] == pytest.approx(
        stats.spearmanr(valid.values[pick], params.values[pick]).statistic, abs=1e-12
    )
    assert cli(["rank-stats", "nb201/cifar10", "valid_acc", "params", "--bootstrap", "0"]) == 0
    text = capsys.readouterr().out
    assert "nb201/cifar10:params" in text and "spearman" in text
    with pytest.raises(NasHarnessError, match="two metrics"):
        cli(["rank-stats", "nb201/cifar10:valid_acc"])


# -- real tables (skipped without ../shared/data) --------------------------------------------
def test_zero_cost_json_keys_map_to_the_official_nb201_index():
    """NAS-Bench-Suite-Zero's cifar10 val_accuracy equals NASLib's csv (keyed by nb201_index) after mapping."""
    zc = shared_file("nb201", "zc_proxies_nb201.json")
    csv = shared_file("nb201", "naslib_val_acc_200ep.csv")
    zc_val, csv_val = rk.resolve_sources([f"{zc}:cifar10/val_accuracy", f"{csv}:cifar10_val_acc"])
    have = np.isfinite(zc_val.values)
    assert have.sum() == 725
    np.testing.assert_allclose(zc_val.values[have], csv_val.values[have], rtol=0, atol=1e-9)
    synflow, synflow_t = rk.resolve_sources([f"{zc}:cifar10/synflow", f"{zc}:cifar10/synflow/time"])
    assert np.isfinite(synflow.values).sum() >= 720 and synflow_t.label.endswith("synflow/time")
    raw = json.loads(Path(zc).read_text())["cifar10"]["(0, 2, 3, 2, 3, 1)"]
    from harness.spaces import get_space

    # NASLib (0,2,3,2,3,1): edges 0->1 skip, 0->2 conv3, 0->3 conv1, 1->2 conv3, 1->3 conv1, 2->3 none.
    index = get_space("nb201").index_of(
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    )
    assert synflow.values[index] == raw["synflow"]["score"]


def test_real_tables_align_and_rank_as_published():
    nats = shared_file("nb201", "nats_tss_test_acc_200ep.csv")
    mini = shared_file("nb201", "mini_nb201_12ep.pd")
    test10, val12 = rk.resolve_sources([f"{nats}:CIFAR10TestAccuracy200Epochs", f"{mini}:cifar10-val"])
    assert np.nanmax(test10.values) == pytest.approx(94.373, abs=1e-3)  # the published optimum (README)
    # The csv's rows are the official order: its ArchitectureString column agrees with the row number.
    res = rk.correlate(test10, val12, n_boot=0)
    assert res.n == 15625 and 0.5 < res.spearman < 1.0


def test_strategy_concordance_uses_the_results_labels_of_strategy_variants(tmp_path, capsys):
    """rank-stats --strategies names variants as report and regress do (`rs[replace=true]`) and counts the same runs."""
    from harness.results import load_results, load_scores
    from tests.test_regress import run_config, write_run

    # Mean final regret: re < rs[replace=false] < rs[replace=true] on b1, and the reverse of the last two on b2.
    levels = {
        "b1": {("re", None): 0.1, ("rs", False): 0.2, ("rs", True): 0.3},
        "b2": {("re", None): 0.1, ("rs", False): 0.3, ("rs", True): 0.2},
    }
    for bench, by_variant in levels.items():
        for (strategy, replace), level in by_variant.items():
            params = {} if replace is None else {"replace": replace}
            for seed in range(3):
                write_run(
                    tmp_path,
                    run_config(seed, 10, bench=f"nb201/{bench}", strategy=strategy, **params),
                    np.full(10, level + 0.001 * seed),
                )
    res = rk.strategy_concordance(tmp_path, by="benchmark")
    labels = ["re", "rs[replace=false]", "rs[replace=true]"]
    assert res.overall.objects == labels and res.overall.raters == ["nb201/b1", "nb201/b2"]
    assert {run.method for run in load_results(tmp_path).complete} == set(labels)
    # Ranks (1 = lowest regret): b1 1,2,3 and b2 1,3,2; sums 2,5,5 around a mean of 4: S = 4+1+1 = 6,
    # W = 12 S / (m^2 (n^3 - n)) = 72 / 96.
    assert res.overall.w == pytest.approx(72 / 96, abs=1e-12) and res.overall.mean_ranks == [1.0, 2.5, 2.5]
    scores = load_scores(tmp_path)
    assert len(scores.cells) == 6
    assert all(scores.values(task, method, "final").size == 3 for task, method in scores.cells)
    assert cli(["rank-stats", "--strategies", str(tmp_path)]) == 0
    assert "rs[replace=true] 2.50" in capsys.readouterr().out
