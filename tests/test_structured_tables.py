"""User tables with a declared structured space, CSV id and cell hygiene, store names, and
rank-stats alignment of stores by id.

Truth is computed here independently: itertools products and Hamming distances for the space's
moves, pandas merges for id alignment, scipy for correlations, the raw cells for conversion.
"""
from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.catalog import local as local_catalog
from harness.spaces.codes import CodeTable
from tabular.converters import generic_table
from tabular.errors import NasHarnessError
from tabular.writer import MetricArray, StoreData, write_store

PER_POSITION = [[0, 1, 2], [0, 1], [3, 5, 7]]


def _write(tmp_path: Path, frame: pd.DataFrame, meta: dict | None, name: str = "t.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    if meta is not None:
        path.with_name(path.name + ".meta.json").write_text(json.dumps(meta))
    return path


def _grid(choices: list[list[int]]) -> np.ndarray:
    return np.array(list(itertools.product(*choices)))


def _arch(values) -> str:
    return "-".join(str(v) for v in values)


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    return tmp_path / "data"


def _convert(path: Path) -> None:
    from harness.cli import main

    assert main(["convert", "table", str(path)]) == 0


# -------------------------------------------------------------------------------------------------
# 1. The structured space
# -------------------------------------------------------------------------------------------------
def test_per_position_space_converts_and_loads_with_one_position_moves(tmp_path, data):
    from harness.benchmarks import load_benchmark

    grid = _grid(PER_POSITION)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"arch": [_arch(v) for v in grid], "valid_acc": rng.uniform(0, 1, len(grid))})
    frame = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    frame.loc[0, "arch"] = "[" + ", ".join(frame.loc[0, "arch"].split("-")) + "]"  # the JSON-list spelling
    path = _write(tmp_path, frame, {"name": "mine/grid", "space": {"choices": PER_POSITION}})
    _convert(path)
    bench = load_benchmark("mine/grid")
    space = bench.space
    assert space.name == "structured:mine/grid" and space.size == len(grid) == 18
    # rows: every combination, sorted by codes, spelled with '-'
    assert [space.arch_at(i) for i in range(space.size)] == [_arch(v) for v in grid]
    assert bench.store.provenance["structured_space"] == {"choices": PER_POSITION}
    truth = dict(
        zip(
            frame["arch"].map(lambda a: _arch(json.loads(a)) if a.startswith("[") else a),
            frame["valid_acc"],
            strict=True,
        )
    )
    np.testing.assert_array_equal(bench.store.seed_mean("valid_acc"), [truth[_arch(v)] for v in grid])
    rng = np.random.default_rng(1)
    for index in (0, 7, 17):
        arch = space.arch_at(index)
        values = grid[index]
        expected = [_arch(v) for v in grid if np.count_nonzero(v != values) == 1]
        assert sorted(space.neighbours(arch)) == sorted(expected) and len(expected) == 2 + 1 + 2
        mutations = {space.mutate(arch, rng) for _ in range(300)}
        assert mutations == set(expected)
    assert space.index_of("2-1-7") == space.index_of([2, 1, 7.0]) == space.index_of("2-1-7.0") == 17
    onehot = space.encode([space.arch_at(i) for i in range(space.size)], "onehot")
    assert onehot.shape == (18, 8) and np.all(onehot.sum(axis=1) == 3)
    codes = space.encode([space.arch_at(i) for i in range(space.size)], "index")
    np.testing.assert_array_equal(codes, _grid([range(len(c)) for c in PER_POSITION]))
    table = CodeTable.of(space, "tpe")
    assert table.cardinalities == (3, 2, 3) and table.decode(np.array([1, 0, 2])) == "1-0-7"
    for bad in ("1-0", "1-0-4", "x-0-3", 5):
        with pytest.raises(NasHarnessError):
            space.index_of(bad)
    bench.store.close()


def test_partial_table_restricts_the_space_and_mutation_falls_back_to_nearest(tmp_path):
    listed = ["0-0-0-0", "0-0-0-1", "0-0-1-1", "2-2-2-2", "2-2-1-2"]  # 2-2-2-2 and 2-2-1-2 are neighbours
    frame = pd.DataFrame({"arch": listed, "valid_acc": np.arange(5.0)})
    path = _write(tmp_path, frame, {"space": {"layers": 4, "choices": [0, 1, 2]}})
    data = local_catalog.convert_table(path)
    assert data.arch_strings == sorted(listed) and data.search_space == "structured:table/t"
    np.testing.assert_array_equal(data.metrics["valid_acc"].values[:, 0, 0], [listed.index(a) for a in sorted(listed)])
    from harness.spaces.structured import StructuredSpace

    space = StructuredSpace(data.search_space, data.provenance["structured_space"]["choices"], data.arch_encoding)
    # one-edit rings of 2 and 1 < half a full ring (4): the Hamming ball grows until it holds 4 (here: all),
    # ordered by distance, then row (tests/test_sparse_tables.py checks the rule against brute force)
    assert space.neighbours("0-0-0-1") == ["0-0-0-0", "0-0-1-1", "2-2-1-2", "2-2-2-2"]
    assert space.neighbours("2-2-2-2") == ["2-2-1-2", "0-0-0-0", "0-0-0-1", "0-0-1-1"]
    lonely = StructuredSpace("s", [[0, 1, 2]] * 4, np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 2, 2, 0], [2, 2, 2, 2]]))
    rng = np.random.default_rng(0)
    assert lonely.neighbours("0-0-0-0") == ["0-2-2-0", "1-1-0-0", "2-2-2-2"]
    assert {lonely.mutate("0-0-0-0", rng) for _ in range(100)} == {"1-1-0-0", "0-2-2-0", "2-2-2-2"}
    with pytest.raises(NasHarnessError, match="does not list it"):
        space.index_of("1-1-1-1")


def test_position_columns_parquet_and_string_choices(tmp_path):
    choices = [["conv3", "conv5", "skip"], [16, 32]]
    frame = pd.DataFrame({"op": ["skip", "conv3", "conv5"], "width": [32, 16, 16], "valid_acc": [1.0, 2.0, 3.0]})
    path = _write(tmp_path, frame, {"space": {"columns": ["op", "width"], "choices": choices}}, "w.parquet")
    data = local_catalog.convert_table(path)
    assert data.arch_strings == ["conv3-16", "conv5-16", "skip-32"]
    assert sorted(data.metrics) == ["valid_acc"]  # position columns are not metrics
    np.testing.assert_array_equal(data.arch_encoding, [[0, 0], [1, 0], [2, 1]])


@pytest.mark.parametrize(
    ("arch", "space", "message"),
    [
        (["0-1", "0-3"], {"layers": 2, "choices": [0, 1, 2]}, r"row 2 \(line 3\).*position 1 is '3', not one of the "
                                                              r"declared choices 0, 1, 2"),
        (["0-1", "0-1-1"], {"layers": 2, "choices": [0, 1, 2]}, r"row 2 \(line 3\).*has 3 positions"),
        (["0-1"], {"choices": [0, 1, 2]}, "give space.layers"),
        (["0-1"], {"layers": 2, "choices": [0, 1, 1]}, "lists a choice twice"),
        (["0-1"], {"layers": 2, "choices": [-1, 1]}, "must not be empty or contain"),
        (["0-1"], {"layers": 3, "choices": [[0, 1], [0, 1]]}, "space.layers is 3"),
        (["0-1"], {"layers": 2, "choices": [0, 1], "kind": "chain"}, "unknown space key"),
    ],
)
def test_structured_mistakes_are_one_line_errors(tmp_path, arch, space, message):
    path = _write(
        tmp_path, pd.DataFrame({"arch": arch, "valid_acc": np.arange(len(arch), dtype=float)}), {"space": space}
    )
    with pytest.raises(NasHarnessError, match=message) as excinfo:
        local_catalog.convert_table(path)
    assert "\n" not in str(excinfo.value)


def test_space_and_search_space_together_or_with_arch_id_are_refused(tmp_path):
    path = _write(
        tmp_path,
        pd.DataFrame({"arch": ["0-1"], "acc": [1.0]}),
        {"space": {"layers": 2, "choices": [0, 1]}, "search_space": "nb201"},
    )
    with pytest.raises(NasHarnessError, match="not both"):
        local_catalog.convert_table(path)
    path = _write(
        tmp_path, pd.DataFrame({"arch_id": ["0-1"], "acc": [1.0]}), {"space": {"layers": 2, "choices": [0, 1]}}
    )
    with pytest.raises(NasHarnessError, match="not by 'arch_id'"):
        local_catalog.convert_table(path)


# -------------------------------------------------------------------------------------------------
# RE, LS and BANANAS mutate on a structured table and beat random search
# -------------------------------------------------------------------------------------------------
L, K = 6, 4  # 4,096 architectures: a full grid


@pytest.fixture
def smooth_bench(tmp_path, data):
    """valid_acc = -sum |position - target| + noise: smooth in the positions."""
    from harness.benchmarks import load_benchmark

    rng = np.random.default_rng(0)
    grid = _grid([range(K)] * L)
    target = rng.integers(K, size=L)
    valid = -np.abs(grid - target).sum(axis=1) + rng.normal(0.0, 0.3, len(grid))
    frame = pd.DataFrame({"arch": [_arch(v) for v in grid], "valid_acc": valid})
    _convert(_write(tmp_path, frame, {"name": "mine/smooth", "space": {"layers": L, "choices": list(range(K))}}))
    bench = load_benchmark("mine/smooth")
    yield bench
    bench.store.close()


def _hamming_to_earlier(archs: list[str]) -> list[int]:
    """For each proposal after the first, the smallest Hamming distance to an earlier one."""
    codes = np.array([[int(t) for t in a.split("-")] for a in archs])
    return [int(np.count_nonzero(codes[:i] != codes[i], axis=1).min()) for i in range(1, len(codes))]


def test_re_and_ls_propose_one_position_neighbours_and_beat_random_search(smooth_bench):
    from harness.engine import Budget, run_search

    budget, seeds = 60, 20
    re_traj = run_search(smooth_bench, "re", seed=0, budget=Budget(evaluations=budget))
    population = 10  # RE's default: the first 10 are random, every later one a mutation
    distances = _hamming_to_earlier(re_traj["arch"].tolist())
    assert all(d == 1 for d in distances[population - 1:] if d > 0)  # d == 0: re-proposed a known arch
    assert sum(d == 1 for d in distances[population - 1:]) >= 30
    assert sum(d > 1 for d in distances[: population - 1]) >= population // 2  # the random start is not local
    ls_traj = run_search(smooth_bench, "ls", seed=0, budget=Budget(evaluations=budget))
    jumps = sum(d > 1 for d in _hamming_to_earlier(ls_traj["arch"].tolist()))
    assert jumps <= budget // (L * (K - 1))  # only restarts, at most one per full neighbourhood

    final = {s: np.array([run_search(smooth_bench, s, seed=seed, budget=Budget(evaluations=budget))["regret"].iloc[-1]
                          for seed in range(seeds)]) for s in ("rs", "re", "ls")}
    for strategy in ("re", "ls"):
        assert final[strategy].mean() < final["rs"].mean()
        assert stats.mannwhitneyu(final[strategy], final["rs"], alternative="less").pvalue < 0.01


def test_bananas_candidates_are_one_position_mutations_on_onehot(smooth_bench):
    from harness.strategies import Objective, Observation, Problem, make_strategy

    space = smooth_bench.space
    problem = Problem(objectives=(Objective("valid_acc", True),), fidelities=(1.0,))
    strat = make_strategy(
        "bananas", space, problem, np.random.default_rng(0), {"encoding": "onehot", "num_candidates": 40}
    )
    values = smooth_bench.store.seed_mean("valid_acc")
    for _ in range(10):
        proposal = strat.ask()
        strat.tell(proposal, Observation({"valid_acc": float(values[space.index_of(proposal.arch)])}, 1.0, 1.0))
    candidates = strat._candidates()
    assert len(candidates) >= 40
    evaluated = space.codes[strat._train_idx]
    for index in candidates:
        assert np.count_nonzero(evaluated != space.codes[index], axis=1).min() == 1
    # The chain space has no path encoding: the default (path) becomes onehot, so `strategy=bananas` runs as is;
    # an encoding the space lacks otherwise, or path truncation, is still refused.
    assert make_strategy("bananas", space, problem, np.random.default_rng(0), {}).config.encoding == "onehot"
    with pytest.raises(NasHarnessError, match="path"):
        make_strategy("bananas", space, problem, np.random.default_rng(0), {"encoding": "path", "path_cutoff": 3})
    with pytest.raises(NasHarnessError, match="adjacency"):
        make_strategy("bananas", space, problem, np.random.default_rng(0), {"encoding": "adjacency"})


# -------------------------------------------------------------------------------------------------
# 3. CSV ids keep leading zeros; 4. non-numeric cells
# -------------------------------------------------------------------------------------------------
def test_csv_ids_are_text_so_leading_zeros_are_distinct_ids(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("arch_id,valid_acc\n007,1.5\n7,2.5\n0007,3.5\n")
    data = local_catalog.convert_table(path)
    assert data.arch_strings == ["0007", "007", "7"] and data.arch_ids is None
    np.testing.assert_array_equal(data.metrics["valid_acc"].values[:, 0, 0], [3.5, 1.5, 2.5])
    path.write_text("arch_id,valid_acc\n10,1.0\n9,2.0\n100,3.0\n-2,4.0\n")
    data = local_catalog.convert_table(path)
    assert data.arch_strings == ["-2", "9", "10", "100"] and data.arch_ids.tolist() == [-2, 9, 10, 100]
    np.testing.assert_array_equal(data.metrics["valid_acc"].values[:, 0, 0], [4.0, 2.0, 1.0, 3.0])


@pytest.mark.parametrize("cell", ["12.3%", "n/a", "-", "N/A"])
def test_a_bad_metric_cell_names_file_column_and_row(tmp_path, cell):
    path = tmp_path / "bad.csv"
    path.write_text(f"arch_id,valid_acc,note\na,1.0,x\nb,2.0,y\nc,{cell},z\nd,,w\n")
    with pytest.raises(NasHarnessError) as excinfo:
        local_catalog.convert_table(path)
    message = str(excinfo.value)
    assert str(path) in message and "'valid_acc'" in message and "row 3 (line 4)" in message and repr(cell) in message
    assert "\n" not in message


def test_missing_markers_are_nan_and_text_columns_are_ignored_with_a_log(tmp_path, caplog):
    path = tmp_path / "ok.csv"
    path.write_text("arch_id,valid_acc,host,ratio\na,1.0,node1,0.5\nb,,node2,\nc,nan,node3,NA\nd,NA,node4,2\n")
    with caplog.at_level(logging.WARNING, logger="tabular.converters.generic_table"):
        data = local_catalog.convert_table(path)
    np.testing.assert_array_equal(data.metrics["valid_acc"].values[:, 0, 0], [1.0, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(data.metrics["ratio"].values[:, 0, 0], [0.5, np.nan, np.nan, 2.0])
    assert "host" not in data.metrics and "'host'" in caplog.text


def test_parquet_text_metric_with_a_bad_cell_and_declared_text_metric(tmp_path):
    frame = pd.DataFrame({"arch_id": ["a", "b", "c"], "score": ["1.5", "2", "oops"]})
    path = _write(tmp_path, frame, None, "p.parquet")
    with pytest.raises(NasHarnessError, match=r"column 'score', row 3: 'oops' is not a number"):
        local_catalog.convert_table(path)
    frame = pd.DataFrame({"arch_id": ["a", "b"], "score": [1.0, 2.0], "valid_acc": ["92%", "93%"]})
    path = _write(tmp_path, frame, None, "q.parquet")  # valid_acc is a role name: never silently dropped
    with pytest.raises(NasHarnessError, match=r"column 'valid_acc', row 1: '92%'"):
        local_catalog.convert_table(path)


# -------------------------------------------------------------------------------------------------
# 5. Store names
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["/etc/x", "../x", "a/../b", "a\\b", "a//b", "mine", "a/b/c", "a b/c", ".x/y", "",
                                  "nb201/cifar10", "NBgraph/Cora", "surrogate/mine", 7])
def test_bad_or_builtin_sidecar_names_are_refused_at_convert_time(tmp_path, data, name, capsys):
    from harness.cli import main

    path = _write(tmp_path, pd.DataFrame({"arch_id": ["a", "b"], "valid_acc": [1.0, 2.0]}), {"name": name})
    with pytest.raises(NasHarnessError, match="name") as excinfo:
        local_catalog.convert_table(path)
    assert "\n" not in str(excinfo.value)
    assert main(["convert", "table", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not list(tmp_path.rglob("*.h5"))


def test_good_names_and_default_stems(tmp_path):
    path = _write(tmp_path, pd.DataFrame({"arch_id": ["a"], "valid_acc": [1.0]}), {"name": "mine/cifar10-v2.1"})
    assert local_catalog.convert_table(path).name == "mine/cifar10-v2.1"
    odd = _write(tmp_path, pd.DataFrame({"arch_id": ["a"], "valid_acc": [1.0]}), None, "my results (1).csv")
    assert local_catalog.table_store_name(odd) == "table/my_results_1_"


def _tiny_store(name: str, fmt: str) -> StoreData:
    return StoreData(name=name, search_space="ids:x", arch_strings=["a", "b"], arch_encoding=np.arange(2)[:, None],
                     fidelities=np.array([1.0]), seeds=np.array([0]),
                     metrics={"valid_acc": MetricArray(np.ones((2, 1, 1)), "", True, "")}, test_metric="",
                     provenance={"format": fmt})


def test_local_catalog_ignores_stores_that_shadow_builtins(data, caplog):
    from harness.catalog import local
    from tabular.data_dir import store_path

    write_store(_tiny_store("mine/x", "generic table (long format)"), store_path("mine/x"))
    write_store(_tiny_store("nb201/cifar10", "generic table (long format)"), store_path("nb201/cifar10"))
    write_store(_tiny_store("nbgraph/cora", "NAS-Bench-Graph"), store_path("nbgraph/cora"))  # a built-in's own cache
    with caplog.at_level(logging.WARNING, logger="harness.catalog.local"):
        names = [spec.name for spec in local.specs()]
    assert names == ["mine/x"]
    assert "shadows the built-in benchmark nb201/cifar10" in caplog.text and "nbgraph/cora" not in caplog.text
    from harness.benchmarks import get_spec

    assert get_spec("mine/x").space == "ids:x"
    assert "converted locally" not in get_spec("nb201/cifar10").source


# -------------------------------------------------------------------------------------------------
# 2. rank-stats aligns stores by id, or refuses
# -------------------------------------------------------------------------------------------------
def _id_store(tmp_path: Path, stem: str, ids: list[str], values: list[float], meta: dict) -> Path:
    frame = pd.DataFrame({"arch_id": ids, "valid_acc": values})
    path = _write(tmp_path, frame, meta, f"{stem}.csv")
    out = tmp_path / f"{stem}.h5"
    generic_table.convert(path, out, local_catalog.space_kit())
    return out


def test_rank_stats_aligns_two_id_stores_by_id_not_by_row(tmp_path):
    from harness import rank_stats as rk

    rng = np.random.default_rng(0)
    ids_a = [f"n{i:02d}" for i in range(30)]
    ids_b = ids_a[5:] + ["x1", "x2", "x3", "x4", "x5"]  # same size, partly different ids
    truth = dict(zip(ids_a + ids_b[-5:], rng.normal(size=35), strict=True))
    va = [truth[i] for i in ids_a]
    vb = [truth[i] + 0.3 * rng.normal() for i in ids_b]
    # same sidecar name, so the same space `ids:mine/acc`: by row, row i of both would be compared
    a = _id_store(tmp_path, "a", ids_a, va, {"name": "mine/acc"})
    b = _id_store(tmp_path, "b", ids_b, vb, {"name": "mine/acc"})
    sources = rk.resolve_sources([f"{a}:valid_acc", f"{b}:valid_acc"])
    result = rk.correlate(sources[0], sources[1], n_boot=0)
    merged = pd.DataFrame({"id": ids_a, "a": va}).merge(pd.DataFrame({"id": ids_b, "b": vb}), on="id")
    assert result.n == len(merged) == 25
    assert result.spearman == pytest.approx(stats.spearmanr(merged["a"], merged["b"]).statistic)
    assert result.n_total == 35 and result.n_dropped == 10
    # two different names (ids:mine/acc and ids:other/acc) still share plain ids
    c = _id_store(tmp_path, "c", ids_b, vb, {"name": "other/acc"})
    again = rk.correlate(*rk.resolve_sources([f"{a}:valid_acc", f"{c}:valid_acc"]), n_boot=0)
    assert again.spearman == result.spearman


def test_rank_stats_refuses_stores_whose_ids_cannot_be_aligned(tmp_path):
    from harness import rank_stats as rk

    a = _id_store(tmp_path, "a", ["0-1", "1-0", "1-1"], [1.0, 2.0, 3.0], {"name": "mine/ids"})
    frame = pd.DataFrame({"arch": ["0-0", "0-1", "1-1"], "valid_acc": [1.0, 2.0, 3.0]})
    path = _write(tmp_path, frame, {"name": "mine/grid", "space": {"layers": 2, "choices": [0, 1]}}, "s.csv")
    s = tmp_path / "s.h5"
    generic_table.convert(path, s, local_catalog.space_kit())
    with pytest.raises(NasHarnessError) as excinfo:
        rk.resolve_sources([f"{a}:valid_acc", f"{s}:valid_acc"])
    message = str(excinfo.value)
    assert str(a) in message and str(s) in message and "row 0 is id '0-1'" in message and "'0-0'" in message
    assert "refusing to align them by row" in message and "\n" not in message


def test_minus_zero_is_its_own_text_id_not_integer_zero(tmp_path):
    """`-0` is not written plainly as an integer: read as integers, `0` and `-0` would merge."""
    path = tmp_path / "ids.csv"
    path.write_text("arch_id,seed,valid_acc\n0,0,1.0\n-0,1,2.0\n")
    data = local_catalog.convert_table(path)
    assert data.arch_strings == ["-0", "0"] and data.arch_ids is None
    np.testing.assert_array_equal(data.metrics["valid_acc"].values[:, :, 0], [[np.nan, 2.0], [1.0, np.nan]])


def test_parquet_float_ids_beyond_int64_stay_distinct(tmp_path):
    """Whole-number float ids too large for an exact int64 must not wrap onto one integer id."""
    path = tmp_path / "big.parquet"
    pd.DataFrame(
        {"arch_id": [1.0, 2.0, 1e19, 3e19], "seed": [0, 0, 0, 1], "valid_acc": [1.0, 2.0, 3.0, 4.0]}
    ).to_parquet(path)
    data = local_catalog.convert_table(path)
    assert len(data.arch_strings) == 4 and data.arch_ids is None
    values = data.metrics["valid_acc"].values[:, :, 0]
    assert sorted(np.nansum(values, axis=1).tolist()) == [1.0, 2.0, 3.0, 4.0]
    path = tmp_path / "small.parquet"
    pd.DataFrame({"arch_id": [10.0, 2.0], "valid_acc": [1.0, 2.0]}).to_parquet(path)
    data = local_catalog.convert_table(path)
    assert data.arch_strings == ["2", "10"] and data.arch_ids.tolist() == [2, 10]
