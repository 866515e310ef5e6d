"""analog-nasbench (PyPI `analog-nasbench` 0.1.3, IBM): NAS-Bench-201 cells on CIFAR-10 under
analog in-memory-computing conditions.

`analognasbench/data.anb` is a pickle of `{6-tuple: Architecture}`. The
tuple is NASLib's NB201 `op_indices`: position -> edge (0->1), (0->2), (0->3), (1->2), (1->3),
(2->3) and codes 0 skip_connect, 1 none, 2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3. The NB201
string lists edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 with ops none, skip_connect, nor_conv_1x1,
nor_conv_3x3, avg_pool_3x3, so the two orders differ by swapping positions 2 and 3 and by an op
relabelling (both tables below).

Every Architecture holds five accuracies (%) and eight drift results (value and uncertainty, %).
All are stored as metrics under the package's attribute names; uncertainties get the suffix
`_uncertainty`. There is one training per architecture (seed label 0) of 200 epochs (the package's
example training script). There is no validation split: every accuracy is measured on the CIFAR-10
test set. The harness needs an objective, so `valid_metric` is `baseline_accuracy` (standard
digital training), and `test_metric` is empty: no held-out estimate exists, and repeating the
objective under another name would suggest one.

The pickle is read with stand-in classes instead of the package's own: importing
`analognasbench.data` needs `pkg_resources`, which recent setuptools no longer ships, and the
restricted unpickler of `tabular.safe_pickle` refuses any other object the file names.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tabular import safe_pickle
from tabular.errors import StoreError
from tabular.hashing import sha256_file
from tabular.sources import ANALOG_PACKAGE, ANALOG_PACKAGE_VERSION, analog_file
from tabular.writer import MetricArray, StoreData

PACKAGE = ANALOG_PACKAGE
PACKAGE_VERSION = ANALOG_PACKAGE_VERSION
N_ARCHS = 15625
EPOCHS = 200.0
ACCURACIES = ("baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy", "analog_accuracy")
DRIFT_SECONDS = (60, 3600, 86400, 2592000)
DRIFTS = tuple(f"{family}_drift_{t}" for family in ("baseline", "analog") for t in DRIFT_SECONDS)
# NB201 string position k holds the edge at NASLib tuple position TUPLE_POSITION[k] (a swap of 2 and 3).
TUPLE_POSITION = (0, 1, 3, 2, 4, 5)
# NASLib op code -> NB201 op index (none 0, skip_connect 1, nor_conv_1x1 2, nor_conv_3x3 3, avg_pool_3x3 4).
NASLIB_TO_NB201_OP = np.array([1, 0, 3, 2, 4], dtype=np.int64)
NB201_TO_NASLIB_OP = np.argsort(NASLIB_TO_NB201_OP)
LICENCE = "Apache-2.0 (IBM/analog-nas repository; the wheel declares no licence)"
CITATION = ("AnalogNAS-Bench: A NAS Benchmark for Analog In-Memory Computing, IBM Research, 2025 "
            "(github.com/IBM/analog-nas, analognasbench/)")

_DESCRIPTIONS = {
    "baseline_accuracy": "CIFAR-10 test accuracy after standard 200-epoch training (the harness objective)",
    "ptq_accuracy": "test accuracy after post-training quantization of the baseline model",
    "qat_accuracy": "test accuracy after quantization-aware training",
    "noisy_accuracy": "test accuracy of the baseline model evaluated on simulated AIMC hardware",
    "analog_accuracy": "test accuracy after hardware-aware fine-tuning on simulated AIMC hardware",
}
_DRIFT_LABEL = {60: "1 minute", 3600: "1 hour", 86400: "1 day", 2592000: "30 days"}


class _Architecture:
    """Stand-in for analognasbench.data.Architecture: holds the pickled instance attributes."""


class _DriftMeasurement:
    """Stand-in for analognasbench.data.DriftMeasurement (`value`, `uncertainty`)."""


_STAND_INS = {
    ("analognasbench.data", "Architecture"): _Architecture,
    ("analognasbench.data", "DriftMeasurement"): _DriftMeasurement,
}


package_file = analog_file  # where the source is: tabular.sources (light, for the catalogue)


def read_table(path: Path) -> dict[tuple[int, ...], dict[str, float]]:
    """`{naslib tuple: {metric name: value}}` with drift values and `<drift>_uncertainty` flattened."""
    raw = safe_pickle.load_path(
        path, allowed=(), substitutes=_STAND_INS, error=StoreError, what=f"{PACKAGE} {PACKAGE_VERSION}",
        hint=f"reinstall the package with `pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}`",
        damaged=f"reinstall the package with `pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}`",
    )
    if not isinstance(raw, dict):
        raise StoreError(f"{path} does not hold a dict; it is not the {PACKAGE} {PACKAGE_VERSION} table")
    table: dict[tuple[int, ...], dict[str, float]] = {}
    for key, arch in raw.items():
        attrs = getattr(arch, "__dict__", {})
        try:
            entry = {name: float(attrs[name]) for name in ACCURACIES}
            for name in DRIFTS:
                entry[name] = float(attrs[name].value)
                entry[name + "_uncertainty"] = float(attrs[name].uncertainty)
        except (KeyError, AttributeError, TypeError) as exc:
            raise StoreError(f"{path}: entry {key} lacks {exc}; it is not the {PACKAGE} {PACKAGE_VERSION} "
                             "table") from None
        table[tuple(int(c) for c in key)] = entry
    return table


def metric_names() -> list[str]:
    return list(ACCURACIES) + [n for d in DRIFTS for n in (d, d + "_uncertainty")]


def naslib_tuples(codes: np.ndarray) -> np.ndarray:
    """(n, 6) NASLib op_indices of (n, 6) NB201 op codes in string order."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, 6)
    out = np.empty_like(codes)
    out[:, list(TUPLE_POSITION)] = NB201_TO_NASLIB_OP[codes]
    return out


def nb201_codes(tuples: np.ndarray) -> np.ndarray:
    """(n, 6) NB201 op codes in string order of (n, 6) NASLib op_indices (inverse of naslib_tuples)."""
    tuples = np.asarray(tuples, dtype=np.int64).reshape(-1, 6)
    return NASLIB_TO_NB201_OP[tuples[:, list(TUPLE_POSITION)]]


def _description(name: str) -> str:
    if name in _DESCRIPTIONS:
        return _DESCRIPTIONS[name]
    base = name.removesuffix("_uncertainty")
    family, _, seconds = base.split("_")
    model = "baseline model on AIMC hardware" if family == "baseline" else "hardware-aware fine-tuned model"
    what = "uncertainty (+-) of the " if name.endswith("_uncertainty") else ""
    return f"{what}test accuracy of the {model} after {_DRIFT_LABEL[int(seconds)]} of conductance drift"


def convert(arch_strings: list[str], codes: np.ndarray, source: Path | None = None) -> StoreData:
    """Store `analog/cifar10`; `arch_strings`/`codes` give the NB201 official order (rows)."""
    source = source or package_file()
    table = read_table(source)
    if len(table) != N_ARCHS:
        raise StoreError(f"{source} has {len(table)} architectures, expected {N_ARCHS}; it is not the {PACKAGE} "
                         f"{PACKAGE_VERSION} file")
    tuples = naslib_tuples(codes)
    names = metric_names()
    values = np.full((len(arch_strings), len(names)), np.nan)
    for row, key in enumerate(map(tuple, tuples.tolist())):
        try:
            entry = table[key]
        except KeyError:
            raise StoreError(f"{source} has no entry for NASLib tuple {key}; the table does not cover NB201") from None
        values[row] = [entry[n] for n in names]
    metrics = {
        name: MetricArray(
            values[:, j, None, None], "%",
            not name.endswith("_uncertainty"), _description(name),
        )
        for j, name in enumerate(names)
    }
    return StoreData(
        name="analog/cifar10",
        search_space="nb201",
        arch_strings=list(arch_strings),
        arch_encoding=np.asarray(codes, dtype=np.int64),
        fidelities=np.array([EPOCHS]),
        seeds=np.array([0]),
        metrics=metrics,
        valid_metric="baseline_accuracy",
        test_metric="",
        cost_metric="",
        provenance={
            "sources": [{"name": f"{PACKAGE}:analognasbench/{source.name}", "sha256": sha256_file(source)}],
            "package": f"{PACKAGE}=={PACKAGE_VERSION}",
            "licence": LICENCE,
            "citation": CITATION,
            "notes": (
                "keys are NASLib op_indices, mapped to NB201 official indices; one training per architecture "
                "(seed 0, 200 epochs); all accuracies are CIFAR-10 test-set accuracies and there is no validation "
                "split, so the objective valid_metric=baseline_accuracy is a test accuracy and test_metric is empty; "
                "no training cost is recorded"
            ),
        },
    )
