"""analog-nasbench (NB201 cells on CIFAR-10 under analog hardware) from PyPI, converted on first use."""
from __future__ import annotations

from harness.benchmarks import BenchmarkSpec
from harness.spaces import get_space
from tabular.sources import analog_file
from tabular.writer import StoreData


def _build() -> StoreData:
    from tabular.converters import analog  # only when converting: listing stays light

    space = get_space("nb201")
    return analog.convert([space.arch_at(i) for i in range(space.size)], space.op_codes)


def _check() -> None:
    analog_file()


def specs() -> list[BenchmarkSpec]:
    return [
        BenchmarkSpec(
            name="analog/cifar10",
            space="nb201",
            source="PyPI package analog-nasbench (CIFAR-10 test accuracies: baseline, PTQ, QAT, analog hardware, "
                   "drift)",
            build=_build,
            check_source=_check,
        )
    ]
