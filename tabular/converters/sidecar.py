"""The sidecar JSON of a user's table (`<table>.meta.json`): found, read and checked against its schema.

Why a schema: every value of the sidecar flows into the store (names, units, roles, provenance)
or into arithmetic (the default fidelity), so a value of the wrong type used to surface as a
TypeError or AttributeError deep in the converter, and a deeply nested `provenance` as a
RecursionError. The whole document is checked here, before the table is read, and every mistake is
one line naming the file and the key. Nesting is bounded (`MAX_DEPTH`) as run manifests are.

Schema (all keys optional; tabular.converters.generic_table documents their meaning)::

    name, search_space, fidelity_name,
    valid_metric, test_metric, cost_metric:   strings
    fidelity:                                 a finite number
    space:                                    an object (checked in detail by the structured space)
    metrics: {column: {"unit": str, "higher_is_better": bool, "description": str}}
    static:  {column: {"unit": str, "kind": str, "device": str, "description": str}}
    provenance: {key: any JSON value}          at most MAX_DEPTH levels deep
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from tabular.errors import NasHarnessError

MAX_DEPTH = 20  # levels of objects/lists in the whole sidecar; real sidecars use 3
MAX_BYTES = 16 << 20  # a sidecar is a few hundred bytes; a huge one is a mistake, not metadata

STRING_KEYS = ("name", "search_space", "fidelity_name", "valid_metric", "test_metric", "cost_metric")
METRIC_FIELDS: dict[str, type] = {"unit": str, "higher_is_better": bool, "description": str}
STATIC_FIELDS: dict[str, type] = {"unit": str, "kind": str, "device": str, "description": str}
SIDECAR_KEYS = frozenset({*STRING_KEYS, "space", "fidelity", "metrics", "static", "provenance"})
_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.xz", ".csv.zip", ".parquet", ".pq", ".json")
_TYPE_NAMES = {str: "a string", bool: "true or false", dict: "an object", list: "a list"}


def stem(path: Path) -> str:
    """The file name without its table suffix (`results.csv.gz` -> `results`)."""
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def sidecar_path(table: Path) -> Path | None:
    """The sidecar of `table`, if one exists (full-name form first)."""
    for candidate in (table.with_name(table.name + ".meta.json"), table.with_name(stem(table) + ".meta.json")):
        if candidate.is_file():
            return candidate
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (scalars 0), without recursion; stops counting past MAX_DEPTH."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            level += 1
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            stack.extend((v, level) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _want(where: Path, key: str, value: Any, kind: type) -> None:
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if not ok:
        raise NasHarnessError(f"{where}: {key} must be {_TYPE_NAMES[kind]}, found {_json_type(value)} "
                              f"({_short(value)}); "
                              "fix the sidecar")


def _short(value: Any) -> str:
    text = json.dumps(value) if _depth(value) <= 2 else "[...]"
    return text if len(text) <= 40 else text[:37] + "..."


def _columns(where: Path, key: str, value: Any, fields: dict[str, type]) -> None:
    """`{column: {field: value}}` with only the known fields, each of its type."""
    _want(where, key, value, dict)
    for column, spec in value.items():
        _want(where, f"{key}.{column}", spec, dict)
        unknown = sorted(set(spec) - set(fields))
        if unknown:
            raise NasHarnessError(f"{where}: {key}.{column} has unknown field(s) {unknown}; allowed: {sorted(fields)}")
        for field, kind in fields.items():
            if field in spec:
                _want(where, f"{key}.{column}.{field}", spec[field], kind)


def validate_sidecar(meta: Any, where: Path) -> dict[str, Any]:
    """`meta` if it follows the schema of the module docstring; else a one-line NasHarnessError."""
    if not isinstance(meta, dict):
        raise NasHarnessError(f"{where} must hold a JSON object, found {_json_type(meta)}")
    if _depth(meta) > MAX_DEPTH:
        raise NasHarnessError(f"{where} is nested more than {MAX_DEPTH} levels deep; a sidecar holds plain settings, "
                              "flatten it (e.g. its provenance)")
    unknown = sorted(set(meta) - SIDECAR_KEYS)
    if unknown:
        raise NasHarnessError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(SIDECAR_KEYS)}")
    for key in STRING_KEYS:
        if key in meta:
            _want(where, key, meta[key], str)
    if "fidelity" in meta:
        value = meta["fidelity"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise NasHarnessError(f"{where}: fidelity must be a finite number (e.g. 200), found {_json_type(value)} "
                                  f"({_short(value)}); fix the sidecar")
    if "space" in meta:
        _want(where, "space", meta["space"], dict)
    if "metrics" in meta:
        _columns(where, "metrics", meta["metrics"], METRIC_FIELDS)
    if "static" in meta:
        _columns(where, "static", meta["static"], STATIC_FIELDS)
    if "provenance" in meta:
        _want(where, "provenance", meta["provenance"], dict)
    return meta


def read_sidecar(table: Path) -> tuple[dict[str, Any], Path | None]:
    """The checked sidecar of `table` and its path, or ({}, None) when it has none."""
    path = sidecar_path(table)
    if path is None:
        return {}, None
    try:
        if path.stat().st_size > MAX_BYTES:
            raise NasHarnessError(f"{path} is larger than {MAX_BYTES >> 20} MiB; a sidecar holds a few settings, "
                                  "not data")
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise NasHarnessError(f"{path} is not valid JSON ({exc}); fix the sidecar or remove it") from None
    except RecursionError:  # json's decoder recurses once per nesting level
        raise NasHarnessError(f"{path} is nested more than {MAX_DEPTH} levels deep; a sidecar holds plain settings, "
                              "flatten it (e.g. its provenance)") from None
    return validate_sidecar(meta, path), path
