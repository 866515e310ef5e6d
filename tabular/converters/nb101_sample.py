"""The `nb101/sample` store: the 52 real NAS-Bench-101 cells of NASLib's NB101 test assets.

The two pickles (`nasbench_api_dict_25.pkl`, `nasbench_api_dict_30.pkl`, NASLib test assets)
hold cells in the official API's in-memory layout, `{module_hash: (fixed_stat, computed_stat)}`,
with the 108-epoch budget only. They are read with the plain-data allow-list of
`tabular.safe_pickle`, which refuses every class but numpy's arrays and scalars, so only plain
dicts, lists, strings, numbers and arrays come out. Each cell is checked and its official hash
recomputed (a mismatch stops the conversion). Rows are sorted by hash, so the store does not
depend on the order of the files; everything else is as the tfrecord converter's stores.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tabular import safe_pickle
from tabular.converters.nb101_tfrecord import METRICS, N_REPEATS, CellRules
from tabular.errors import SourceMissingError, StoreError
from tabular.hashing import sha256_file
from tabular.sources import NB101_SAMPLE_FILES
from tabular.writer import MetricArray, StaticMetric, StoreData

FILES = NB101_SAMPLE_FILES
# Stored metric -> the official computed_stat key.
_KEYS = {
    "valid_acc": "final_validation_accuracy",
    "test_acc": "final_test_accuracy",
    "train_acc": "final_train_accuracy",
    "train_time": "final_training_time",
    "halfway_valid_acc": "halfway_validation_accuracy",
    "halfway_test_acc": "halfway_test_accuracy",
    "halfway_train_acc": "halfway_train_accuracy",
    "halfway_train_time": "halfway_training_time",
}


def load_cells(folder: Path) -> dict[str, tuple[dict, dict]]:
    """{module_hash: (fixed_stat, computed_stat)} of every pickle in `folder`."""
    cells: dict[str, tuple[dict, dict]] = {}
    for name in FILES:
        path = folder / name
        if not path.is_file():
            raise SourceMissingError(f"{path} is missing; nb101/sample needs {', '.join(FILES)} in {folder}")
        data = safe_pickle.load_path(path, allowed=safe_pickle.PLAIN_GLOBALS, error=StoreError, what="NB101 sample",
                                     hint="expected plain dicts, lists and numpy arrays only; replace the file with "
                                          "the original",
                                     damaged="replace the file")
        if not isinstance(data, dict):
            raise StoreError(f"{path} does not hold a dict of cells (found {type(data).__name__})")
        cells.update(data)
    return cells


def convert_sample(folder: Path, rules: CellRules, name: str = "nb101/sample") -> StoreData:
    """The sample store of the pickles in `folder`; `rules`: the NB101 cell rules, passed in (CellRules)."""
    to_cell, graph_hash, canonical_cell, padded = rules.to_cell, rules.graph_hash, rules.canonical_cell, rules.padded
    format_cell, hash_id, ArchitectureError = rules.format_cell, rules.hash_id, rules.error

    cells = load_cells(folder)
    hashes = sorted(cells)
    n = len(hashes)
    values = {m: np.full((n, N_REPEATS, 1), np.nan) for m in METRICS}
    params = np.empty(n)
    archs, encoding = [], np.empty((n, 26), dtype=np.int64)
    for row, module_hash in enumerate(hashes):
        try:
            fixed, computed = cells[module_hash]
            cell = to_cell(np.asarray(fixed["module_adjacency"]), list(fixed["module_operations"]))
            runs = computed[108]
        except (ArchitectureError, KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{folder}: cell {module_hash} is malformed ({exc}); the sample pickles are not the "
                             "expected ones") from None
        if graph_hash(*cell) != module_hash:
            raise StoreError(f"{folder}: cell {module_hash} does not hash to its key; the sample pickles are not the "
                             "expected ones")
        canon = canonical_cell(*cell)
        archs.append(format_cell(*canon))
        edges, ops, _ = padded(*canon)
        encoding[row] = np.concatenate([edges, ops])
        params[row] = fixed["trainable_parameters"]
        for rep, run in enumerate(runs[:N_REPEATS]):
            for metric, key in _KEYS.items():
                scale = 1.0 if metric.endswith("time") else 100.0
                values[metric][row, rep, 0] = float(run[key]) * scale
    return StoreData(
        name=name,
        search_space="nb101",
        arch_strings=archs,
        arch_encoding=encoding,
        fidelities=np.asarray([108.0]),
        seeds=np.arange(N_REPEATS, dtype=np.int64),
        metrics={m: MetricArray(values[m], unit, hib, desc) for m, (_, _, unit, hib, desc) in METRICS.items()},
        static={"params": StaticMetric(params, "count", "params", "", "trainable parameters (fixed_stat "
                                                                      "trainable_parameters)")},
        arch_ids=np.asarray([hash_id(h) for h in hashes], dtype=np.int64),
        valid_metric="valid_acc",
        test_metric="test_acc",
        cost_metric="train_time",
        provenance={
            "sources": [{"name": f, "sha256": sha256_file(folder / f)} for f in FILES],
            "cells": n,
            "licence": "Apache-2.0 (NASLib test assets; NAS-Bench-101 data, google-research/nasbench)",
            "citation": "Ying et al., NAS-Bench-101, ICML 2019; files from NASLib (White et al.)",
            "notes": (
                "52 real NB101 cells for tests and demos (108 epochs, 3 repeats); rows sorted by official hash; "
                "ids: first 64 bits of the hash; accuracies in percent; see docs/NB101.md"
            ),
        },
    )
