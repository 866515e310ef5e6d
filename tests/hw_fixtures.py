"""Writers of hardware-metric files in the exact official layouts, for tests.

The HW-NAS-Bench layout and the index-0 values are those documented in ../shared/docs/FORMATS.md §3
(taken from the HW-NAS-Bench API and its example notebook): a plain pickle of nested dicts whose
metrics are lists of 15,625 python floats indexed by the official NB201 index, plus a per-index
`config` list, and an `fbnet` part of lookup tables.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

N_ARCHS = 15_625
# The ten NB201 metrics of the file, as FORMATS.md §3 lists them, with their units.
HWNB_METRIC_UNITS = {
    "edgegpu_latency": "ms",
    "edgegpu_energy": "mJ",
    "raspi4_latency": "ms",
    "edgetpu_latency": "ms",
    "pixel3_latency": "ms",
    "eyeriss_latency": "ms",
    "eyeriss_energy": "mJ",
    "eyeriss_arithmetic_intensity": "",
    "fpga_latency": "ms",
    "fpga_energy": "mJ",
}
FILE_DATASETS = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}  # file key -> num_classes
# Published example values for index 0 on cifar10 (FORMATS.md §3).
PUBLISHED_INDEX0_CIFAR10 = {
    "edgegpu_latency": 5.807418537139893,
    "edgegpu_energy": 24.226614330768584,
    "raspi4_latency": 10.481976820010459,
    "edgetpu_latency": 0.9571811309997429,
    "pixel3_latency": 3.6058499999999998,
    "eyeriss_latency": 3.645620000000001,
    "eyeriss_energy": 0.6872827644999999,
    "eyeriss_arithmetic_intensity": 6.289297634665844,
    "fpga_latency": 2.57296,
    "fpga_energy": 18.01072,
}
# FORMATS.md §3: the FBNet part holds 8 lookup tables (all metrics but edgetpu and intensity).
FBNET_METRICS = [m for m in HWNB_METRIC_UNITS if m not in ("edgetpu_latency", "eyeriss_arithmetic_intensity")]
FBNET_KEYS = (
    "ConvNorm_H32_W32_Cin3_Cout16_kernel3_stride1_group1",
    "ConvBlock_H32_W32_Cin16_Cout16_exp1_kernel3_stride1_group1",
    "Skip_H32_W32_Cin16_Cout24_stride1",
    "AvgP_H4_W4_Cin1504_Cout1504_kernel4_stride1",
    "FC_Cin1504_Cout100",
)


def make_hwnasbench(arch_strings: list[str], seed: int = 0) -> dict[str, Any]:
    """An HW-NAS-Bench dict: random positive values, index 0 of cifar10 = the published example."""
    rng = np.random.default_rng(seed)
    nb201: dict[str, Any] = {}
    for ds_key, classes in FILE_DATASETS.items():
        table: dict[str, Any] = {}
        for metric in HWNB_METRIC_UNITS:
            values = rng.uniform(0.5, 60.0, size=N_ARCHS).tolist()  # python floats, as the file has
            if ds_key == "cifar10":
                values[0] = PUBLISHED_INDEX0_CIFAR10[metric]
            table[metric] = values
        table["config"] = [
            {"name": "infer.tiny", "C": 16, "N": 5, "arch_str": arch, "num_classes": classes} for arch in arch_strings
        ]
        nb201[ds_key] = table
    fbnet = {
        m: {k: float(v) for k, v in zip(FBNET_KEYS, rng.uniform(0.01, 5.0, len(FBNET_KEYS)), strict=True)}
        for m in FBNET_METRICS
    }
    return {"nasbench201": nb201, "fbnet": fbnet}


def write_pickle(content: Any, path: Path) -> Path:
    with open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def write_hwnasbench(path: Path, arch_strings: list[str], seed: int = 0) -> dict[str, Any]:
    """Write the fixture pickle to `path` and return the dict it holds."""
    content = make_hwnasbench(arch_strings, seed)
    write_pickle(content, path)
    return content
