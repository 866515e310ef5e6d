"""NAS-Bench-101 fixtures: tfrecord files in the exact official framing, built from the 52 real cells
of ../shared/data/nb101 (their real 108-epoch metrics) or from the synthetic record of
../shared/docs/format_vectors.json. Nothing here computes an expected value for a test."""
from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path

import numpy as np

from tabular.converters.nb101_tfrecord import encode_model_metrics, frame_records
from tests.conftest import SHARED_DATA, shared_doc, shared_file

PICKLES = ("nasbench_api_dict_25.pkl", "nasbench_api_dict_30.pkl")


def real_cells() -> dict[str, tuple[dict, dict]]:
    """{official hash: (fixed_stat, computed_stat)} of the shared pickles (skips when absent)."""
    cells: dict[str, tuple[dict, dict]] = {}
    for name in PICKLES:
        with open(shared_file("nb101", name), "rb") as handle:
            cells.update(pickle.load(handle))  # a data file named by the project brief
    return cells


def vectors() -> dict:
    with open(shared_doc("format_vectors.json")) as handle:
        return json.load(handle)


def payload(module_hash: str, epochs: int, matrix, ops: list[str], evaluations: list[list[float]], params: int,
            total_time: float = 0.0) -> bytes:
    """One record's data exactly as the official files write it (json.dumps of the 5-list)."""
    adjacency = "".join(str(int(x)) for x in np.asarray(matrix).reshape(-1))
    blob = base64.b64encode(encode_model_metrics(evaluations, params, total_time)).decode("ascii")
    return json.dumps([module_hash, epochs, adjacency, ",".join(ops), blob]).encode("utf-8")


def real_payloads(cells: dict[str, tuple[dict, dict]], epochs: tuple[int, ...] = (108,)) -> list[bytes]:
    """3 records per (cell, budget), in file order budget-major like the official full file. Budgets
    other than 108 reuse the 108-epoch values scaled by epochs/108 (the real pickles have 108 only)."""
    out = []
    for e in epochs:
        scale = e / 108
        for module_hash, (fixed, computed) in cells.items():
            for rep in computed[108]:
                evals = [
                    [0.0, 0.0, 0.1, 0.1, 0.1],
                    [
                        e / 2,
                        rep["halfway_training_time"] * scale,
                        rep["halfway_train_accuracy"],
                        rep["halfway_validation_accuracy"] * scale,
                        rep["halfway_test_accuracy"],
                    ],
                    [
                        float(e),
                        rep["final_training_time"] * scale,
                        rep["final_train_accuracy"],
                        rep["final_validation_accuracy"] * scale,
                        rep["final_test_accuracy"],
                    ],
                ]
                out.append(
                    payload(
                        module_hash,
                        e,
                        fixed["module_adjacency"],
                        fixed["module_operations"],
                        evals,
                        fixed["trainable_parameters"],
                    )
                )
    return out


def write_tfrecord(path: Path, payloads: list[bytes]) -> list[int]:
    """Write framed records; returns each record's byte offset."""
    data = frame_records(payloads)
    path.write_bytes(data)
    offsets, pos = [], 0
    for p in payloads:
        offsets.append(pos)
        pos += 16 + len(p)
    return offsets


def has_shared_nb101() -> bool:
    return (SHARED_DATA / "nb101" / PICKLES[0]).is_file()
