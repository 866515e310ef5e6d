"""NAS-Bench-Graph (9 graph datasets) from the PyPI package nas-bench-graph, converted on first use."""
from __future__ import annotations

from harness.benchmarks import BenchmarkSpec
from harness.spaces import get_space
from tabular.sources import NBGRAPH_DATASETS, nbgraph_light_file
from tabular.writer import StoreData


def _spec(dataset: str) -> BenchmarkSpec:
    def build() -> StoreData:
        from tabular.converters import nbgraph as nbg  # only when converting: listing stays light

        space = get_space("nbgraph")
        strings = [space.arch_at(i) for i in range(space.size)]
        return nbg.convert(dataset, space.keys, strings, space.codes)

    def check() -> None:
        nbgraph_light_file(dataset)

    measured = "2,021 of 26,206 architectures (others NaN)" if dataset == "proteins" else "26,206 architectures"
    return BenchmarkSpec(
        name=f"nbgraph/{dataset}",
        space="nbgraph",
        source=f"PyPI package nas-bench-graph (light table: validation/test accuracy, latency, params; {measured})",
        build=build,
        check_source=check,
    )


def specs() -> list[BenchmarkSpec]:
    return [_spec(ds) for ds in NBGRAPH_DATASETS]
