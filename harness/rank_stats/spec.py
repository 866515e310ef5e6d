"""The grammar of `rank-stats` source arguments: `ORIGIN:COLUMN[:MOD...]` and bare columns.

Why apart from loading: parsing decides only *what* the user named (a benchmark, a store file or a
table, which columns, which modifiers); it opens nothing, so a typo fails in one line before any
store or table is read, and the grammar is documented in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tabular.errors import NasHarnessError

TABLE_SUFFIXES = (".csv", ".parquet", ".pd", ".pkl", ".pickle", ".json")


@dataclass(frozen=True)
class Spec:
    """A parsed source argument: where the data is, which column(s), and modifiers."""

    origin: str  # a benchmark name or a file path
    column: str  # metric/column name, DATASET/FIELD for zero-cost JSON, may contain * and ?
    direction: str | None = None  # "max", "min" or None (the source's own direction)
    fidelity: float | None = None
    key: str | None = None  # table column that names the architecture (index or string)


def _is_origin(text: str) -> bool:
    """A bare argument is an origin if it is an existing file or a benchmark of the catalogue."""
    if Path(text).expanduser().is_file():
        return True
    from harness.benchmarks import benchmark_names

    return text in benchmark_names()


def parse_spec(text: str, default_origin: str | None = None) -> Spec:
    """Parse `ORIGIN:COLUMN[:MOD...]` or a bare `COLUMN[:MOD...]` of `default_origin`.

    ORIGIN is a benchmark name (nb201/cifar10), a store file (.h5) or a table file (.csv, .parquet,
    .pd/.pkl/.pickle, .json). COLUMN may use * and ? wildcards. MODs: `min` or `max` (which end is
    the top for top-k; default: the store's metric direction, else max), `fidelity=F` (store
    metrics; default the highest), `key=COLUMN` (the table column naming the architecture).
    """
    parts = text.split(":")
    bare = len(parts) == 1 or (default_origin is not None and not is_table(parts[0]) and not _is_origin(parts[0]))
    if bare:
        if default_origin is None:
            raise NasHarnessError(
                f"{text!r} names no source: write SOURCE:COLUMN (e.g. nb201/cifar10:valid_acc) "
                "or give the benchmark first"
            )
        origin, column, mods = default_origin, parts[0], parts[1:]
    else:
        origin, column, mods = parts[0], parts[1], parts[2:]
    if not origin or not column:
        raise NasHarnessError(
            f"bad source {text!r}: write SOURCE:COLUMN, e.g. nb201/cifar10:valid_acc or table.csv:column"
        )
    direction = fidelity = key = None
    for mod in mods:
        name, eq, value = mod.partition("=")
        if mod in ("min", "max"):
            direction = mod
        elif name == "fidelity" and eq:
            try:
                fidelity = float(value)
            except ValueError:
                raise NasHarnessError(f"bad fidelity {value!r} in {text!r}; write e.g. :fidelity=12") from None
        elif name == "key" and eq and value:
            key = value
        else:
            raise NasHarnessError(f"unknown modifier {mod!r} in {text!r}; use min, max, fidelity=F or key=COLUMN")
    return Spec(origin, column, direction, fidelity, key)


def parse_specs(args: list[str]) -> list[Spec]:
    """Parse positional arguments; a bare origin (`nb201/cifar10`) is the default for bare columns after it."""
    specs: list[Spec] = []
    default: str | None = None
    for arg in args:
        if ":" not in arg and _is_origin(arg):
            default = arg
            continue
        specs.append(parse_spec(arg, default))
    return specs


def is_table(origin: str) -> bool:
    """Whether an origin names a table file (by its suffix), rather than a benchmark or a store."""
    return Path(origin).expanduser().suffix.lower() in TABLE_SUFFIXES
