"""Read the official NAS-Bench-101 files (`nasbench_full.tfrecord`, `nasbench_only108.tfrecord`)
without TensorFlow, streaming, into one store.

Formats (as google-research/nasbench writes them): a TFRecord file is records of
`uint64 length | uint32 masked CRC-32C(length bytes) | data | uint32 masked CRC-32C(data)`; each data
is a JSON list `[module_hash, epochs, raw_adjacency, raw_operations, base64(ModelMetrics)]`.

Design:
- The file is read in fixed-size chunks; records are framed in Python but their CRCs are checked
  with numpy over a whole chunk at once (CRC-32C is sequential per record, not across records), so
  no C extension is needed and memory is the chunk plus the output arrays, whatever the file size.
- `ModelMetrics` is decoded by a small strict protobuf reader for its two message types rather than
  the `protobuf` package: the schema is tiny and frozen, nas-harness then needs no protobuf runtime,
  and malformed bytes are reported with the record's byte offset instead of a generic DecodeError.
- Output arrays are allocated for the space's 423,624 cells with `np.empty` (pages are only touched
  as rows arrive), so peak memory follows the number of distinct cells (at most the space size),
  never the number of records or bytes. The file's sha256 is computed in the same pass.
- A corrupt record (bad length CRC, bad data CRC, bad JSON, bad base64, bad protobuf, a payload
  that breaks the NB101 rules) stops the conversion with its byte offset, or with `skip_bad` is
  skipped and counted; a file that ends inside a record is reported with the record's offset. The
  store's provenance records how many records the file had, how many were read and skipped.

Store layout (docs/NB101.md): rows = distinct cells in order of first appearance (as the official
API's dicts); seeds 0, 1, 2 = the repeat's position in file order (the official "repeat index");
fidelities = the epoch budgets present (4, 12, 36, 108 or 108); accuracies in percent (the file
holds fractions); `train_time` (the cost metric) = training seconds at the end of that budget;
`halfway_*` = the same run's evaluation at epochs/2 (what the official `stop_halfway=True` returns);
static `params` = trainable parameters; ids = the first 64 bits of the official module hash.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tabular.converters.tfrecord import (  # re-exported: the reader's public names stay here
    CHUNK_BYTES,
    MAX_RECORD,
    ReadStats,
    RecordError,
    crc32c,
    crc32c_many,
    frame_record,
    frame_records,
    iter_records,
    mask_crc,
)
from tabular.errors import StoreError
from tabular.writer import MetricArray, StaticMetric, StoreData, write_store

log = logging.getLogger(__name__)

__all__ = [  # the TFRecord container's names (tabular.converters.tfrecord) stay importable from here
    "CHUNK_BYTES", "MAX_RECORD", "ReadStats", "RecordError", "crc32c", "crc32c_many", "frame_record", "frame_records",
    "iter_records", "mask_crc", "CellRules", "EPOCHS", "METRICS", "N_REPEATS", "OFFICIAL_FILES", "cell_of", "convert",
    "convert_tfrecord", "decode_model_metrics", "encode_model_metrics", "parse_payload",
]


@dataclass(frozen=True)
class CellRules:
    """The NB101 cell rules the readers need (harness.spaces.nb101), passed in from above.

    Why passed in: tabular is the lowest layer and imports no search space; the catalogue
    (harness.catalog.nb101.cell_rules) builds this from the space module. `error` is the exception
    `to_cell` raises for a cell that breaks the rules; `n_cells` sizes the output arrays.
    """

    to_cell: Callable[[Any, Sequence[str]], tuple[np.ndarray, tuple[int, ...]]]
    graph_hash: Callable[[np.ndarray, Sequence[int]], str]
    canonical_cell: Callable[[np.ndarray, Sequence[int]], tuple[np.ndarray, tuple[int, ...]]]
    format_cell: Callable[[np.ndarray, Sequence[int]], str]
    padded: Callable[[np.ndarray, Sequence[int]], tuple[np.ndarray, np.ndarray, np.ndarray]]
    hash_id: Callable[[str], int]
    error: type[Exception]
    n_cells: int

# -- protobuf (ModelMetrics) ---------------------------------------------------------------------
class _PbError(ValueError):
    pass


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end:
            raise _PbError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise _PbError("varint longer than 10 bytes")


def _skip(buf: bytes, pos: int, end: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, pos, end)[1]
    if wire == 1:
        pos += 8
    elif wire == 2:
        length, pos = _varint(buf, pos, end)
        pos += length
    elif wire == 5:
        pos += 4
    else:
        raise _PbError(f"unsupported wire type {wire}")
    if pos > end:
        raise _PbError("field runs past the end of its message")
    return pos


_DOUBLE = struct.Struct("<d")
# EvaluationData fields 1-5 are doubles: current_epoch, training_time, train/validation/test accuracy.
_EVAL_FIELDS = 5


_FAST_EVAL = struct.Struct("<xdxdxdxdxd")  # fields 1-5 as protobuf writes them: tag byte + double
_FAST_TAGS = bytes([0x09, 0x11, 0x19, 0x21, 0x29])


def _evaluation(buf: bytes, pos: int, end: int) -> list[float]:
    if end - pos >= 45 and buf[pos: pos + 45: 9] == _FAST_TAGS:
        values = list(_FAST_EVAL.unpack_from(buf, pos))  # the common layout, read in one call
        pos += 45
    else:
        values = [float("nan")] * _EVAL_FIELDS
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if 1 <= number <= _EVAL_FIELDS:
            if wire != 1:
                raise _PbError(f"EvaluationData field {number} has wire type {wire}, expected 1 (double)")
            if pos + 8 > end:
                raise _PbError("truncated double")
            values[number - 1] = _DOUBLE.unpack_from(buf, pos)[0]
            pos += 8
        elif number == 6 and wire != 2:
            raise _PbError(f"EvaluationData field 6 has wire type {wire}, expected 2 (string)")
        elif number == 0:
            raise _PbError("field number 0")
        else:
            pos = _skip(buf, pos, end, wire)
    return values


def decode_model_metrics(buf: bytes) -> tuple[list[list[float]], int | None, float | None]:
    """(evaluation_data as [epoch, training_time, train, valid, test] lists, trainable_parameters,
    total_time) of a serialized ModelMetrics; ValueError for malformed bytes."""
    evals: list[list[float]] = []
    params: int | None = None
    total: float | None = None
    pos, end = 0, len(buf)
    while pos < end:
        key = buf[pos]
        if key < 0x80:  # every ModelMetrics key is one byte
            pos += 1
        else:
            key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 1:
            if wire != 2:
                raise _PbError(f"ModelMetrics field 1 has wire type {wire}, expected 2 (message)")
            length = buf[pos] if pos < end else 0x80
            if length < 0x80:
                pos += 1
            else:
                length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise _PbError("evaluation_data runs past the end of the message")
            evals.append(_evaluation(buf, pos, pos + length))
            pos += length
        elif number == 2:
            if wire != 0:
                raise _PbError(f"ModelMetrics field 2 has wire type {wire}, expected 0 (varint)")
            value, pos = _varint(buf, pos, end)
            value &= (1 << 64) - 1
            params = value - (1 << 64) if value >= 1 << 63 else value  # int32 is sign-extended to 64 bits
        elif number == 3:
            if wire != 1:
                raise _PbError(f"ModelMetrics field 3 has wire type {wire}, expected 1 (double)")
            if pos + 8 > end:
                raise _PbError("truncated double")
            total = _DOUBLE.unpack_from(buf, pos)[0]
            pos += 8
        elif number == 0:
            raise _PbError("field number 0")
        else:
            pos = _skip(buf, pos, end, wire)
    return evals, params, total


def _put_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_model_metrics(evaluations: list[list[float]], trainable_parameters: int, total_time: float) -> bytes:
    """Serialize a ModelMetrics (fields in number order, as protobuf writes them)."""
    out = bytearray()
    for ev in evaluations:
        body = b"".join(bytes([(k + 1) << 3 | 1]) + _DOUBLE.pack(float(x)) for k, x in enumerate(ev))
        out += b"\x0a" + _put_varint(len(body)) + body
    out += b"\x10" + _put_varint(int(trainable_parameters))
    out += b"\x19" + _DOUBLE.pack(float(total_time))
    return bytes(out)


# -- payloads and the store -----------------------------------------------------------------------
EPOCHS = (4, 12, 36, 108)
N_REPEATS = 3
_EPOCH_POS = {e: i for i, e in enumerate(EPOCHS)}
_HEX = frozenset("0123456789abcdef")
OFFICIAL_FILES = {  # name -> (sha256 from the official README, records, cells)
    "nasbench_full.tfrecord": ("3d64db8180fb1b0207212f9032205064312b6907a3bbc81eabea10db2f5c7e9c", 5_083_488, 423_624),
    "nasbench_only108.tfrecord": (
        "4c39c3936e36a85269881d659e44e61a245babcb72cb374eacacf75d0e5f4fd1",
        1_270_872,
        423_624,
    ),
}
# Stored metric -> (evaluation index, field in EvaluationData order, unit, higher is better, description)
METRICS = {
    "valid_acc": (2, 3, "%", True, "validation accuracy at the end of the budget (10k held-out training images)"),
    "test_acc": (2, 4, "%", True, "CIFAR-10 test accuracy at the end of the budget"),
    "train_acc": (2, 2, "%", True, "training accuracy at the end of the budget (fixed 10k subset of the training set)"),
    "train_time": (2, 1, "s", False, "training seconds of the run to the end of the budget (excludes evaluation)"),
    "halfway_valid_acc": (1, 3, "%", True, "validation accuracy of the same run at epochs/2 (official "
                                           "stop_halfway=True)"),
    "halfway_test_acc": (1, 4, "%", True, "test accuracy of the same run at epochs/2"),
    "halfway_train_acc": (1, 2, "%", True, "training accuracy of the same run at epochs/2"),
    "halfway_train_time": (1, 1, "s", False, "training seconds of the same run up to epochs/2"),
}


class _BadPayload(ValueError):
    pass


def parse_payload(data: bytes) -> tuple[str, int, str, str, list[list[float]], int]:
    """(module_hash, epochs, raw adjacency, raw operations, evaluations, trainable_parameters) of one
    record's data; ValueError naming the broken rule. The adjacency and operations strings are only
    checked here; `cell_of` turns them into a matrix for a cell seen for the first time."""
    try:
        row = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadPayload(f"its data is not JSON ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(row, list) or len(row) != 5:
        raise _BadPayload("its JSON is not a list of 5 elements [module_hash, epochs, adjacency, operations, metrics]")
    module_hash, epochs, raw_adjacency, raw_ops, raw_metrics = row
    if not isinstance(module_hash, str) or len(module_hash) != 32 or not _HEX.issuperset(module_hash):
        raise _BadPayload(f"module_hash {module_hash!r} is not 32 lowercase hex digits")
    if isinstance(epochs, bool) or epochs not in _EPOCH_POS:
        raise _BadPayload(f"epochs {epochs!r} is not one of {EPOCHS}")
    if not isinstance(raw_adjacency, str) or not isinstance(raw_ops, str) or not isinstance(raw_metrics, str):
        raise _BadPayload("adjacency, operations and metrics must be strings")
    try:
        blob = base64.b64decode(raw_metrics, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _BadPayload(f"its metrics are not valid base64 ({exc})") from None
    try:
        evals, params, _ = decode_model_metrics(blob)
    except _PbError as exc:
        raise _BadPayload(f"its metrics are not a valid ModelMetrics protobuf ({exc})") from None
    if len(evals) < 3:
        raise _BadPayload(f"its ModelMetrics has {len(evals)} evaluations; expected 3 (start, halfway, end)")
    if params is None:
        raise _BadPayload("its ModelMetrics has no trainable_parameters")
    return module_hash, epochs, raw_adjacency, raw_ops, evals, params


def cell_of(raw_adjacency: str, raw_ops: str) -> tuple[np.ndarray, list[str]]:
    """The matrix and op list of a record's adjacency and operations strings."""
    v = int(round(len(raw_adjacency) ** 0.5))
    if v * v != len(raw_adjacency) or not 2 <= v <= 7 or set(raw_adjacency) - {"0", "1"}:
        raise _BadPayload(f"adjacency {raw_adjacency!r} is not a V x V string of 0/1 with 2 <= V <= 7")
    ops = raw_ops.split(",")
    if len(ops) != v:
        raise _BadPayload(f"operations {raw_ops!r} do not list {v} ops")
    adjacency = np.frombuffer(raw_adjacency.encode("ascii"), dtype=np.uint8).reshape(v, v) - ord("0")
    return adjacency.astype(np.int8), ops


class _Table:
    """Output arrays for up to `capacity` cells; rows are touched (and cost memory) only when used."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        shape = (capacity, N_REPEATS, len(EPOCHS))
        self.values = {name: np.empty(shape, dtype=np.float64) for name in METRICS}
        self.repeats = np.empty((capacity, len(EPOCHS)), dtype=np.int8)
        self.params = np.empty(capacity, dtype=np.float64)
        self.encoding = np.empty((capacity, 26), dtype=np.int8)
        self.rows: dict[str, int] = {}
        self.archs: list[str] = []
        self.hashes: list[str] = []

    def new_row(self, module_hash: str, arch: str, encoding: np.ndarray, params: int) -> int:
        row = len(self.archs)
        if row >= self.capacity:
            raise _BadPayload(f"more than {self.capacity} distinct cells; NAS-Bench-101 has {self.capacity}")
        for arr in self.values.values():
            arr[row] = np.nan
        self.repeats[row] = 0
        self.params[row] = params
        self.encoding[row] = encoding
        self.rows[module_hash] = row
        self.archs.append(arch)
        self.hashes.append(module_hash)
        return row


def convert_tfrecord(path: str | Path, *, rules: CellRules, skip_bad: bool = False, progress: bool | None = None,
                     name: str = "nb101/cifar10", verify_hashes: bool = True, chunk_bytes: int = CHUNK_BYTES,
                     capacity: int | None = None) -> StoreData:
    """Stream an official NB101 tfrecord into a StoreData (see the module docstring).

    `verify_hashes` recomputes each new cell's official hash from its adjacency and ops and treats a
    mismatch as a corrupt record; `progress` shows a bar of MB read, MB/s and records (None: only
    on a terminal); `rules` are the NB101 cell rules (CellRules)."""
    from tqdm import tqdm

    to_cell, graph_hash, canonical_cell, padded = rules.to_cell, rules.graph_hash, rules.canonical_cell, rules.padded
    format_cell, hash_id, ArchitectureError, N_CELLS = rules.format_cell, rules.hash_id, rules.error, rules.n_cells

    path = Path(path)
    if not path.is_file():
        raise StoreError(f"{path} is not a file; pass the path of nasbench_full.tfrecord or nasbench_only108.tfrecord")
    size = path.stat().st_size
    table = _Table(capacity or N_CELLS)
    stats = ReadStats()
    seen_epochs: set[int] = set()
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        desc=path.name,
        disable=(not progress) if progress is not None else None,
        dynamic_ncols=True,
        leave=False,
    )
    fields = [(arr, ev, f) for arr, (ev, f, *_) in zip(table.values.values(), METRICS.values(), strict=True)]
    try:
        for count, (offset, data) in enumerate(
            iter_records(path, stats, skip_bad=skip_bad, chunk_bytes=chunk_bytes, progress=bar)
        ):
            if count % 65536 == 0:
                bar.set_postfix(records=f"{count:,}", refresh=False)
            try:
                module_hash, epochs, raw_adjacency, raw_ops, evals, params = parse_payload(data)
                row = table.rows.get(module_hash)
                if row is None:
                    try:
                        cell = to_cell(*cell_of(raw_adjacency, raw_ops))
                    except ArchitectureError as exc:
                        raise _BadPayload(f"its cell breaks the NB101 rules ({exc})") from None
                    if verify_hashes and graph_hash(*cell) != module_hash:
                        raise _BadPayload(f"module_hash {module_hash} is not the hash of its adjacency and operations")
                    canon = canonical_cell(*cell)
                    edges, codes, _ = padded(*canon)
                    row = table.new_row(module_hash, format_cell(*canon), np.concatenate([edges, codes]), params)
                fi = _EPOCH_POS[epochs]
                rep = int(table.repeats[row, fi])
                if rep >= N_REPEATS:
                    raise _BadPayload(f"cell {module_hash} has more than {N_REPEATS} repeats at {epochs} epochs")
            except _BadPayload as exc:
                stats.records_read -= 1
                stats.records_in_file -= 1  # counted again by skip()
                if not skip_bad:
                    raise RecordError(path, offset, str(exc)) from None
                log.warning("skipping the record at byte offset %d: %s", offset, exc)
                stats.skip(offset)
                continue
            table.repeats[row, fi] = rep + 1
            seen_epochs.add(epochs)
            for arr, ev, f in fields:
                value = evals[ev][f]
                arr[row, rep, fi] = value * 100.0 if f >= 2 else value
        bar.set_postfix(records=f"{stats.records_read:,}", refresh=True)
    finally:
        bar.close()
    n = len(table.archs)
    if n == 0:
        raise StoreError(f"{path} holds no readable NB101 record; it is not an NB101 tfrecord file")
    fid_pos = [i for i, e in enumerate(EPOCHS) if e in seen_epochs]
    ids = np.asarray([hash_id(h) for h in table.hashes], dtype=np.int64)
    if np.unique(ids).size != n:
        raise StoreError(f"{path}: two module hashes share their first 64 bits; the store cannot use them as ids")
    missing = int((table.repeats[:n][:, fid_pos] < N_REPEATS).sum())
    official = OFFICIAL_FILES.get(path.name)
    complete = official is None or (stats.records_read == official[1] and n == official[2])
    if missing:
        log.warning("%d (cell, budget) pairs have fewer than %d repeats; their missing seeds are "
                    "NaN", missing, N_REPEATS)
    if not complete:
        log.warning("%s has %d records of %d cells; the official file has %d of "
                    "%d", path.name, stats.records_read, n, official[1], official[2])

    def cut(arr: np.ndarray) -> np.ndarray:
        view = arr[:n]  # a view: no copy of the (large) full-file arrays
        return view if len(fid_pos) == len(EPOCHS) else view[:, :, fid_pos]

    metrics = {
        name_: MetricArray(cut(table.values[name_]), unit, hib, desc)
        for name_, (_, _, unit, hib, desc) in METRICS.items()
    }
    return StoreData(
        name=name,
        search_space="nb101",
        arch_strings=table.archs,
        arch_encoding=table.encoding[:n].astype(np.int64),
        fidelities=np.asarray([EPOCHS[i] for i in fid_pos], dtype=np.float64),
        seeds=np.arange(N_REPEATS, dtype=np.int64),
        metrics=metrics,
        static={
            "params": StaticMetric(
                table.params[:n].copy(),
                "count",
                "params",
                "",
                "trainable parameters (ModelMetrics.trainable_parameters of the cell's first record)",
            )
        },
        arch_ids=ids,
        fidelity_name="epochs",
        valid_metric="valid_acc",
        test_metric="test_acc",
        cost_metric="train_time",
        provenance={
            "sources": [{"name": path.name, "sha256": stats.sha256}],
            "official_sha256_match": None if official is None else stats.sha256 == official[0],
            "records_in_file": stats.records_in_file,
            "records_read": stats.records_read,
            "records_skipped": stats.records_skipped,
            "skipped_offsets": stats.skipped_offsets,
            "truncated_at": stats.truncated_at,
            "cells": n,
            "missing_repeats": missing,
            "complete": bool(complete and not missing and not stats.records_skipped),
            "licence": "Apache-2.0 (NAS-Bench-101 data, google-research/nasbench)",
            "citation": "Ying, Klein, Real, Christiansen, Murphy & Hutter, NAS-Bench-101, ICML 2019",
            "notes": (
                "rows: cells in order of first appearance; ids: first 64 bits of the official module hash (signed); "
                "seeds 0-2: repeat index in file order; accuracies in percent (the file holds fractions); "
                "halfway_* metrics: evaluation at epochs/2 of the same run (stop_halfway); see docs/NB101.md"
            ),
        },
    )


def convert(source: str | Path, out: str | Path, *, rules: CellRules, force: bool = False, skip_bad: bool = False,
            progress: bool | None = None) -> Path:
    """Convert one official file into the store file `out` (checked before the long read)."""
    out = Path(out)
    if out.exists() and not force:
        raise StoreError(f"{out} already exists; pass --force (force=True) to overwrite it")
    return write_store(convert_tfrecord(source, rules=rules, skip_bad=skip_bad, progress=progress), out, force=force)

