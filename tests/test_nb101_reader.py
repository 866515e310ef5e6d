"""The NB101 tfrecord reader against the official framing (format_vectors.json's record bytes and
the CRC-32C check value), the protobuf package as an independent decoder, and the real values of
the 52 shared cells written into official-format fixtures."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from harness.benchmarks import load_benchmark
from harness.catalog.nb101 import cell_rules
from harness.convert import convert
from tabular.converters.nb101_tfrecord import (
    RecordError,
    convert_tfrecord,
    crc32c,
    crc32c_many,
    decode_model_metrics,
    frame_record,
)
from tabular.errors import StoreError
from tabular.store import open_store
from tests.nb101_fixtures import payload, real_cells, real_payloads, vectors, write_tfrecord

RULES = cell_rules()  # the NB101 cell rules the catalogue passes to the reader


@pytest.fixture(scope="module")
def synthetic():
    return vectors()["nb101_tfrecord_synthetic"]


@pytest.fixture(scope="module")
def cells():
    return real_cells()


def test_crc32c_check_value_and_batch(synthetic):
    assert crc32c(synthetic["crc32c_check"]["input_ascii"].encode()) == int(
        synthetic["crc32c_check"]["crc32c_unmasked"], 16
    )
    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, size=5000, dtype=np.uint8)
    starts = rng.integers(0, 4000, size=50)
    lengths = rng.integers(0, 1000, size=50)
    got = crc32c_many(buf, starts, lengths)
    assert [int(g) for g in got] == [crc32c(buf[s:s + n].tobytes()) for s, n in zip(starts, lengths, strict=True)]


def test_official_record_bytes_round_trip(synthetic, tmp_path):
    record = bytes.fromhex(synthetic["record_hex"])
    data = synthetic["payload_utf8"].encode()
    assert frame_record(data) == record
    assert record[:8].hex() == synthetic["length_field_hex"]
    assert record[8:12].hex() == synthetic["length_crc_hex"] and record[-4:].hex() == synthetic["data_crc_hex"]
    path = tmp_path / "one.tfrecord"
    path.write_bytes(record)
    store = convert_tfrecord(path, rules=RULES, progress=False)
    assert store.arch_strings == ["111100.00001.0001.001.10.1|c3,c1,mp,c3,c3"]
    assert store.provenance["records_in_file"] == 1 and store.provenance["records_read"] == 1


def _protobuf_class():
    pb = pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    del pb
    fdp = descriptor_pb2.FileDescriptorProto(name="nb101_model_metrics_test.proto", package="nbtest", syntax="proto2")
    ev = fdp.message_type.add(name="EvaluationData")
    for number, name in enumerate(
        ("current_epoch", "training_time", "train_accuracy", "validation_accuracy", "test_accuracy"), start=1
    ):
        ev.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE, label=1)
    ev.field.add(name="checkpoint_path", number=6, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING, label=1)
    mm = fdp.message_type.add(name="ModelMetrics")
    mm.field.add(
        name="evaluation_data",
        number=1,
        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
        label=3,
        type_name=".nbtest.EvaluationData",
    )
    mm.field.add(name="trainable_parameters", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32, label=1)
    mm.field.add(name="total_time", number=3, type=descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE, label=1)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nbtest.ModelMetrics"))


def test_protobuf_decoder_agrees_with_the_protobuf_package(synthetic):
    cls = _protobuf_class()
    blob = base64.b64decode(json.loads(synthetic["payload_utf8"])[4])
    rng = np.random.default_rng(1)
    messages = [blob]
    for _ in range(20):  # also with checkpoint paths and negative parameter counts
        m = cls()
        for _ in range(3):
            e = m.evaluation_data.add(
                current_epoch=rng.random(),
                training_time=rng.random() * 1e4,
                train_accuracy=rng.random(),
                validation_accuracy=rng.random(),
                test_accuracy=rng.random(),
            )
            if rng.random() < 0.5:
                e.checkpoint_path = "gs://bucket/model.ckpt-" + str(int(rng.integers(1e6)))
        m.trainable_parameters = int(rng.integers(-(2**31), 2**31))
        m.total_time = rng.random() * 1e4
        messages.append(m.SerializeToString())
    for raw in messages:
        ref = cls.FromString(raw)
        evals, params, total = decode_model_metrics(raw)
        assert params == ref.trainable_parameters and total == ref.total_time
        assert evals == [
            [e.current_epoch, e.training_time, e.train_accuracy, e.validation_accuracy, e.test_accuracy]
            for e in ref.evaluation_data
        ]


def test_real_cells_round_trip_all_budgets(cells, tmp_path):
    path = tmp_path / "full.tfrecord"
    write_tfrecord(path, real_payloads(cells, (4, 12, 36, 108)))
    data = convert_tfrecord(path, rules=RULES, progress=False, chunk_bytes=999)  # records straddle every chunk boundary
    assert data.fidelities.tolist() == [4, 12, 36, 108] and data.seeds.tolist() == [0, 1, 2]
    assert data.provenance["records_in_file"] == data.provenance["records_read"] == 52 * 4 * 3
    assert data.provenance["complete"] and data.provenance["cells"] == 52
    from harness.spaces.nb101 import NB101Space

    space = NB101Space()
    rows = {space.arch_of(f["module_adjacency"], f["module_operations"]): h for h, (f, _) in cells.items()}
    assert set(rows) == set(data.arch_strings)
    for row, arch in enumerate(data.arch_strings):
        fixed, computed = cells[rows[arch]]
        for rep, run in enumerate(computed[108]):
            assert data.metrics["test_acc"].values[row, rep, 3] == pytest.approx(
                100 * run["final_test_accuracy"], rel=1e-12
            )
            assert data.metrics["valid_acc"].values[row, rep, 0] == pytest.approx(
                100 * run["final_validation_accuracy"] * 4 / 108, rel=1e-12
            )
            assert data.metrics["halfway_train_acc"].values[row, rep, 2] == pytest.approx(
                100 * run["halfway_train_accuracy"], rel=1e-12
            )
            assert data.metrics["train_time"].values[row, rep, 1] == pytest.approx(
                run["final_training_time"] * 12 / 108, rel=1e-12
            )
        assert data.static["params"].values[row] == fixed["trainable_parameters"]


def _records(cells, n=6):
    payloads = real_payloads(dict(list(cells.items())[:2]))[:n]
    return payloads


@pytest.mark.parametrize("field", ["length", "length_crc", "payload", "data_crc"])
def test_a_flipped_byte_in_any_field_is_caught(cells, tmp_path, field):
    payloads = _records(cells)
    path = tmp_path / "bad.tfrecord"
    offsets = write_tfrecord(path, payloads)
    raw = bytearray(path.read_bytes())
    k = 3
    at = {"length": 0, "length_crc": 9, "payload": 12 + len(payloads[k]) // 2, "data_crc": 12 + len(payloads[k]) + 1}[
        field
    ]
    raw[offsets[k] + at] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordError) as info:
        convert_tfrecord(path, rules=RULES, progress=False)
    assert (
        info.value.offset == offsets[k]
        and f"byte offset {offsets[k]}" in str(info.value)
        and "\n" not in str(info.value)
    )
    data = convert_tfrecord(path, rules=RULES, progress=False, skip_bad=True)
    prov = data.provenance
    assert (prov["records_in_file"], prov["records_read"], prov["records_skipped"]) == (6, 5, 1)
    assert prov["skipped_offsets"] == [offsets[k]] and not prov["complete"]
    assert int(np.isnan(data.metrics["valid_acc"].values).sum()) == 1


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (b'["not json', "not JSON"),
        (json.dumps(["0" * 32, 108, "0100", "input,output", "!!!"]).encode(), "base64"),
        (
            json.dumps(
                ["0" * 32, 108, "0100", "input,output", base64.b64encode(b"\x0a\x05\x09\x00").decode()]
            ).encode(),
            "protobuf",
        ),
        (json.dumps(["0" * 32, 7, "0100", "input,output", ""]).encode(), "epochs"),
    ],
)
def test_bad_payloads_stop_with_their_offset(cells, tmp_path, bad, words):
    payloads = _records(cells)
    payloads.insert(2, bad)
    path = tmp_path / "bad.tfrecord"
    offsets = write_tfrecord(path, payloads)
    with pytest.raises(RecordError, match=words) as info:
        convert_tfrecord(path, rules=RULES, progress=False)
    assert info.value.offset == offsets[2]
    prov = convert_tfrecord(path, rules=RULES, progress=False, skip_bad=True).provenance
    assert (prov["records_in_file"], prov["records_read"], prov["records_skipped"]) == (7, 6, 1)


def test_a_hash_that_is_not_the_cells_is_rejected(cells, tmp_path):
    (h, (fixed, computed)), (h2, _) = list(cells.items())[:2]
    run = computed[108][0]
    evals = [[0, 0, 0, 0, 0], [54, 1, 0.5, 0.5, 0.5], [108, 2, run["final_train_accuracy"], 0.9, 0.9]]
    path = tmp_path / "wrong.tfrecord"
    write_tfrecord(path, [payload(h2, 108, fixed["module_adjacency"], fixed["module_operations"], evals, 5)])
    with pytest.raises(RecordError, match="not the hash"):
        convert_tfrecord(path, rules=RULES, progress=False)


def test_truncated_file(cells, tmp_path):
    payloads = _records(cells)
    path = tmp_path / "cut.tfrecord"
    offsets = write_tfrecord(path, payloads)
    path.write_bytes(path.read_bytes()[: offsets[5] + 40])
    with pytest.raises(RecordError, match="ends inside") as info:
        convert_tfrecord(path, rules=RULES, progress=False)
    assert info.value.offset == offsets[5]
    prov = convert_tfrecord(path, rules=RULES, progress=False, skip_bad=True).provenance
    assert prov["truncated_at"] == offsets[5] and prov["records_skipped"] == 1 and prov["records_in_file"] == 6


def test_not_a_tfrecord(tmp_path):
    path = tmp_path / "x.tfrecord"
    path.write_bytes(b"hello world, this is not a tfrecord file at all")
    with pytest.raises(RecordError):
        convert_tfrecord(path, rules=RULES, progress=False)


def test_convert_command_and_cifar10_benchmark_from_sources(cells, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_HARNESS_DATA", str(tmp_path / "data"))
    src = tmp_path / "data" / "sources" / "nasbench_only108.tfrecord"
    src.parent.mkdir(parents=True)
    write_tfrecord(src, real_payloads(cells))
    out = tmp_path / "out.h5"
    assert convert("nb101-tfrecord", src, out) == [out]
    with pytest.raises(StoreError, match="already exists"):
        convert("nb101-tfrecord", src, out)
    with open_store(out) as store:
        assert store.n_archs == 52 and store.fidelities.tolist() == [108.0] and store.cost_metric == "train_time"
    bench = load_benchmark("nb101/cifar10")
    try:
        assert bench.space.size == 52
        h, (fixed, computed) = next(iter(cells.items()))
        row = bench.space.index_of_hash(h)
        assert bench.space.index_of(bench.space.arch_of(fixed["module_adjacency"], fixed["module_operations"])) == row
        means = bench.store.query("valid_acc", [row], seed_policy="mean")[0]
        assert means == pytest.approx(100 * np.mean([r["final_validation_accuracy"] for r in computed[108]]), rel=1e-12)
    finally:
        bench.store.close()


def test_cli_skip_bad_flag(cells, tmp_path, capsys):
    """`nas-harness convert nb101-tfrecord FILE --skip-bad` skips and counts; without it, it stops."""
    from harness.cli import main
    from tabular.store import open_store

    payloads = _records(cells)
    path = tmp_path / "nasbench_only108.tfrecord"
    offsets = write_tfrecord(path, payloads)
    raw = bytearray(path.read_bytes())
    raw[offsets[1] + 12 + len(payloads[1]) // 2] ^= 0x40  # corrupt the second record's payload
    path.write_bytes(bytes(raw))
    assert main(["convert", "nb101-tfrecord", str(path), "--out", str(tmp_path / "a.h5")]) == 2
    assert f"byte offset {offsets[1]}" in capsys.readouterr().err
    assert main(["convert", "nb101-tfrecord", str(path), "--out", str(tmp_path / "b.h5"), "--skip-bad"]) == 0
    with open_store(tmp_path / "b.h5") as store:
        assert store.provenance["records_skipped"] == 1
    assert main(["convert", "table", str(path), "--skip-bad"]) == 2
    assert "no --skip-bad" in capsys.readouterr().err
