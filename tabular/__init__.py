"""The nas-harness on-disk benchmark store: one HDF5 layout for every tabular benchmark.

See docs/FORMAT.md for the specification. `open_store` reads, `write_store` writes atomically.
"""
from tabular.errors import NasHarnessError, StoreError
from tabular.store import BenchmarkStore, open_store
from tabular.writer import MetricArray, StaticMetric, StoreData, write_store

__all__ = [
    "BenchmarkStore",
    "MetricArray",
    "NasHarnessError",
    "StaticMetric",
    "StoreData",
    "StoreError",
    "open_store",
    "write_store",
]
