"""The generic table converter ("bring your own benchmark"): CSV/Parquet long tables -> stores.

Truth is the table each test writes (pandas frames built here), and the real NATS-Bench extract in
../shared/data, whose row i is official NB201 index i.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.catalog import local as local_catalog
from harness.spaces.nb201 import NB201Space
from tabular.converters import generic_table
from tabular.errors import NasHarnessError, StoreError
from tabular.store import open_store
from tests.conftest import shared_file

SPACE = NB201Space()
INDICES = (15624, 3, 977)  # deliberately not in index order


def _long_frame() -> pd.DataFrame:
    """3 archs x 2 seeds x 2 fidelities, with two combinations missing and a text column."""
    rng = np.random.default_rng(0)
    rows = []
    for index in INDICES:
        params = 0.1 + index / 1e5
        for seed in (7, 3):
            for fidelity in (200, 12):
                if (index, seed, fidelity) in {(3, 7, 12), (977, 3, 200)}:
                    continue
                rows.append({
                    "arch": SPACE.arch_at(index), "seed": seed, "fidelity": fidelity,
                    "valid_acc": rng.uniform(10, 95), "train_loss": rng.uniform(0, 3),
                    "train_time": rng.uniform(1, 1e4), "params": params, "note": f"run {index}",
                })
    return pd.DataFrame(rows).sample(frac=1.0, random_state=1).reset_index(drop=True)


def _sidecar(path: Path, meta: dict) -> Path:
    side = path.with_name(path.name + ".meta.json")
    side.write_text(json.dumps(meta))
    return side


SIDECAR = {
    "name": "mine/cifar10",
    "search_space": "nb201",
    "valid_metric": "valid_acc",
    "cost_metric": "train_time",
    "metrics": {"valid_acc": {"unit": "%", "description": "validation accuracy"}, "train_time": {"unit": "s"}},
    "static": {"params": {"unit": "M", "kind": "params"}},
    "provenance": {"licence": "CC0-1.0", "citation": "nobody"},
}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_long_table_pivots_into_space_order_with_nan_for_missing(tmp_path, suffix):
    frame = _long_frame()
    path = tmp_path / f"results{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    side = _sidecar(path, SIDECAR)
    data = local_catalog.convert_table(path)
    assert (data.name, data.search_space, len(data.arch_strings)) == ("mine/cifar10", "nb201", SPACE.size)
    assert data.arch_strings[977] == SPACE.arch_at(977)
    assert data.seeds.tolist() == [3, 7] and data.fidelities.tolist() == [12.0, 200.0]
    assert sorted(data.metrics) == ["train_loss", "train_time", "valid_acc"]  # 'note' is text, 'params' static
    for metric in data.metrics:
        values = data.metrics[metric].values
        expected = np.full(values.shape, np.nan)
        for rec in frame.itertuples():
            expected[SPACE.index_of(rec.arch), [3, 7].index(rec.seed), [12, 200].index(rec.fidelity)] = getattr(
                rec, metric
            )
        np.testing.assert_array_equal(values, expected)
    assert np.isnan(data.metrics["valid_acc"].values[3, 1, 0]) and np.isnan(data.metrics["valid_acc"].values[977, 0, 1])
    params = data.static["params"]
    assert params.kind == "params" and params.unit == "M"
    assert params.values[15624] == 0.1 + 15624 / 1e5 and np.isnan(params.values[0])
    assert (data.valid_metric, data.test_metric, data.cost_metric) == ("valid_acc", "", "train_time")
    assert data.metrics["valid_acc"].higher_is_better and not data.metrics["train_loss"].higher_is_better
    assert data.metrics["valid_acc"].unit == "%"
    sources = {s["name"]: s["sha256"] for s in data.provenance["sources"]}
    assert sources == {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest(),
        side.name: hashlib.sha256(side.read_bytes()).hexdigest(),
    }
    assert data.provenance["licence"] == "CC0-1.0"
    assert np.array_equal(data.arch_encoding[977], SPACE.encode([SPACE.arch_at(977)], "index")[0])


def test_real_nats_extract_lands_in_official_index_order(tmp_path):
    """The NATS-Bench CSV (row i = official index i), shuffled, converts back into index order."""
    raw = pd.read_csv(shared_file("nb201", "nats_tss_test_acc_200ep.csv"))
    table = raw.rename(columns={"ArchitectureString": "arch"}).sample(frac=1.0, random_state=0)
    path = tmp_path / "nats_test_acc.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "store.h5"
    generic_table.convert(path, out, local_catalog.space_kit())
    with open_store(out) as store:
        assert store.name == "table/nats_test_acc" and store.search_space == "nb201"
        assert store.arch_strings.tolist() == raw["ArchitectureString"].tolist()
        values = store.metric_array("CIFAR10TestAccuracy200Epochs")[:, 0, 0]
        np.testing.assert_array_equal(values, raw["CIFAR10TestAccuracy200Epochs"].to_numpy())
        assert store.best("CIFAR10TestAccuracy200Epochs")[1] == pytest.approx(94.373, abs=1e-3)  # published optimum
        assert "UniqueString" not in store.metric_names
        assert store.valid_metric == "" and store.seeds.tolist() == [0] and store.fidelities.tolist() == [1.0]


def test_bad_arch_string_names_the_row(tmp_path):
    frame = _long_frame()
    frame.loc[3, "arch"] = "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(NasHarnessError, match=r"row 4 \(line 5\).*unknown op 'conv'") as excinfo:
        local_catalog.convert_table(path)
    assert "\n" not in str(excinfo.value)


def test_duplicate_combination_names_both_rows(tmp_path):
    frame = _long_frame()
    frame = pd.concat([frame, frame.iloc[[4]]], ignore_index=True)
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(NasHarnessError, match=rf"row 5 \(line 6\) and row {len(frame)} "):
        local_catalog.convert_table(path)


@pytest.mark.parametrize("ids", [[30, 10, 20, 10], ["b", "a", "c", "a"]])
def test_arch_id_tables_sort_ids_and_get_an_ids_space(tmp_path, ids):
    frame = pd.DataFrame(
        {"arch_id": ids, "seed": [0, 0, 0, 1], "test_acc": [1.0, 2.0, 3.0, 4.0], "latency_ms": [5, 6, 7, 8]}
    )
    path = tmp_path / "graphs.parquet"
    frame.to_parquet(path, index=False)
    data = local_catalog.convert_table(path)
    assert data.search_space == "ids:table/graphs" and data.test_metric == "test_acc"
    order = sorted(set(ids))
    assert data.arch_strings == [str(i) for i in order]
    if isinstance(ids[0], int):
        assert data.arch_ids.tolist() == order
    values = data.metrics["test_acc"].values[:, :, 0]
    for i, s, v in zip(ids, frame["seed"], frame["test_acc"], strict=True):
        assert values[order.index(i), s] == v
    assert np.isnan(values[order.index(ids[0]), 1])
    assert not data.metrics["latency_ms"].higher_is_better


@pytest.mark.parametrize(
    ("columns", "meta", "message"),
    [
        ({"arch": [SPACE.arch_at(0)], "arch_id": [0], "acc": [1.0]}, None, "both 'arch' and 'arch_id'"),
        ({"acc": [1.0]}, None, "neither an 'arch' nor an 'arch_id'"),
        ({"arch": [SPACE.arch_at(0)], "acc": [1.0]}, {"valid_metrc": "acc"}, "unknown key"),
        ({"arch": [SPACE.arch_at(0)], "acc": [1.0]}, {"valid_metric": "valid_acc"}, "valid_metric 'valid_acc' is not "
                                                                                    "a metric"),
        ({"arch": [SPACE.arch_at(0)], "acc": [1.0]}, {"search_space": "nosuchspace"}, "unknown search space"),
        ({"arch": [SPACE.arch_at(0)], "seed": [1.5], "acc": [1.0]}, None, "is not an integer"),
        ({"arch": [SPACE.arch_at(0)] * 2, "seed": [0, 1], "acc": [1.0, 2.0], "params": [1.0, 2.0]},
         {"static": {"params": {"kind": "params"}}}, "varies between the rows"),
        ({"arch": [SPACE.arch_at(0)], "note": ["x"]}, None, "no numeric metric column"),
    ],
)
def test_table_mistakes_are_one_line_errors(tmp_path, columns, meta, message):
    path = tmp_path / "t.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    if meta is not None:
        _sidecar(path, meta)
    with pytest.raises(NasHarnessError, match=message) as excinfo:
        local_catalog.convert_table(path)
    assert "\n" not in str(excinfo.value)


def test_truncated_parquet_is_one_clear_error(tmp_path):
    path = tmp_path / "t.parquet"
    _long_frame().to_parquet(path, index=False)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(NasHarnessError, match="truncated or corrupt"):
        local_catalog.convert_table(path)


def test_cli_convert_table_default_out_refusal_and_force(tmp_path, monkeypatch, capsys):
    from harness.cli import main
    from tabular.data_dir import store_path

    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    path = tmp_path / "bench.csv"
    _long_frame().to_csv(path, index=False)
    assert main(["convert", "table", str(path)]) == 0
    target = store_path("table/bench")
    assert capsys.readouterr().out.strip() == str(target) and target.is_file()
    assert main(["convert", "table", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--force" in err
    assert main(["convert", "table", str(path), "--force"]) == 0
    (tmp_path / "elsewhere").mkdir()
    assert main(["convert", "table", str(path), "--out", str(tmp_path / "elsewhere")]) == 0
    with open_store(tmp_path / "elsewhere" / "table" / "bench.h5") as store:
        assert store.n_archs == SPACE.size and store.cost_metric == "train_time"
        assert store.fidelity_name == "epochs"
    with pytest.raises(StoreError):
        generic_table.convert(path, target, local_catalog.space_kit())
