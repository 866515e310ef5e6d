"""A JSON table -> the long-format frame `generic_table` converts (`nas-harness convert table results.json`).

Why a second reader: benchmarks people publish as JSON (NAS-Bench-Macro and its kind) are a dict of
architecture key -> record, not a long table, and asking users to reshape them first loses the
per-seed lists. The layout read here::

    {"01201120": {"test_acc": [89.47, 88.95, 89.17], "params": 890666, "flops": 1.2e7},
     "01201121": {...}}

- every key is one architecture: an `arch` of the sidecar's `space` or `search_space`, or without
  either a plain `arch_id`; a key without separators (``01201120``) is split one character per
  position when the declared space has that many positions with one-character choices
  (generic_table does the split, for CSV `arch` cells as well);
- a list value is a per-seed metric: item i is seed label i. Every list of one record has the same
  length (a `null` item is a missing seed); records may have different numbers of seeds (the
  missing seeds of a shorter record are NaN, as for NB201's two- and three-seed architectures);
- a scalar value (a number, or `null` for missing) is a static, per-architecture quantity (params,
  FLOPs, ...), unless the sidecar names it a metric (`metrics`, `valid_metric`, `test_metric`,
  `cost_metric`) or it is called `valid_acc`, `test_acc` or `train_time`: then it is a metric
  measured once (seed label 0);
- a field missing from a record is missing for that architecture.

Anything else is refused in one line naming the file, key and field: a record that is not an
object, a string or boolean value, a nested object or list of lists, lists of different lengths in
one record, a key or field written twice, and a field named like a reserved column (`arch`,
`arch_id`, `seed`, `fidelity`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tabular.errors import NasHarnessError

JSON_SUFFIXES = (".json",)
RESERVED_FIELDS = ("arch", "arch_id", "seed", "fidelity")
_STATIC_KIND_WORDS = (("param", "params"), ("flop", "flops"), ("mac", "flops"), ("latency", "latency"),
                      ("energy", "energy"), ("size", "size"))


@dataclass
class JsonTable:
    """A JSON table as a long frame (one row per key x seed) plus what only JSON says.

    `keys[i]` is the key of frame row i (error messages name keys, not generated row numbers);
    `static` maps each scalar field that is a static quantity to its inferred sidecar spec (kind).
    """

    frame: pd.DataFrame
    keys: list[str]
    static: dict[str, dict[str, str]]


def is_json(path: Path) -> bool:
    """Whether `path` is read by this module (by its suffix)."""
    return path.name.lower().endswith(JSON_SUFFIXES)


def _pairs(path: Path) -> Any:
    """An object_pairs_hook that refuses a key written twice (json.loads would keep the last silently)."""
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise NasHarnessError(f"{path}: key {key!r} is written twice in one object; keep one")
            out[key] = value
        return out
    return hook


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_pairs(path))
    except NasHarnessError:
        raise
    except RecursionError:
        raise NasHarnessError(f"{path} is nested too deeply; a JSON table is key -> record of numbers or lists of "
                              "numbers") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise NasHarnessError(f"{path} could not be read as JSON ({reason}); it is truncated or not JSON") from None


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {value[:30]!r}"
    if isinstance(value, dict):
        return "an object (nesting)"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _number(path: Path, key: str, field: str, value: Any, where: str = "") -> float:
    """One cell as a float (null = NaN); anything but a number is a one-line error naming key and field."""
    if value is None:
        return math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        problem = "a list inside a list (nesting)"
    else:
        problem = _type(value)
    raise NasHarnessError(f"{path}: key {key!r}, field {field!r}{where}: {problem} is not a number; a field holds a "
                          "number, null, or a list of those (one per seed)")


def static_kind(field: str) -> str:
    """The static kind a field's name suggests (params, flops, latency, energy, size; else other)."""
    lower = field.lower()
    return next((kind for word, kind in _STATIC_KIND_WORDS if word in lower), "other")


def read_json_table(path: Path, key_column: str, metric_names: set[str]) -> JsonTable:
    """Read `path` (module docstring) into a long frame with the keys in `key_column` (`arch` or `arch_id`).

    `metric_names`: scalar fields that are metrics measured once rather than static quantities
    (what the sidecar declares, and the default role names).
    """
    raw = _load(path)
    if not isinstance(raw, dict):
        raise NasHarnessError(f"{path}: a JSON table is an object of architecture key -> record, found "
                              f"{_type(raw) if not isinstance(raw, list) else 'a list'}")
    if not raw:
        raise NasHarnessError(f"{path} has no architectures (an empty object)")
    seeds_of: list[int] = []
    lists: dict[str, dict[int, list[float]]] = {}
    scalars: dict[str, dict[int, float]] = {}
    keys = list(raw)
    for k, key in enumerate(keys):
        record = raw[key]
        if not isinstance(record, dict):
            raise NasHarnessError(f"{path}: key {key!r} holds {_type(record)}, not a record; write "
                                  '{"test_acc": [...], "params": ...} per architecture')
        length: tuple[str, int] | None = None
        for field, value in record.items():
            if field in RESERVED_FIELDS:
                raise NasHarnessError(f"{path}: key {key!r}, field {field!r}: {field!r} is a reserved column name "
                                      f"({', '.join(RESERVED_FIELDS)}); rename the field")
            if isinstance(value, list):
                if length is not None and len(value) != length[1]:
                    raise NasHarnessError(f"{path}: key {key!r}, field {field!r} lists {len(value)} values but field "
                                          f"{length[0]!r} lists {length[1]}; list items are seeds, so the lists of "
                                          "one record have one length (write null for a missing seed)")
                if not value:
                    raise NasHarnessError(f"{path}: key {key!r}, field {field!r} is an empty list; drop the field or "
                                          "write null")
                length = length or (field, len(value))
                lists.setdefault(field, {})[k] = [_number(path, key, field, v, f" item {i}") for i, v in
                                                  enumerate(value)]
            else:
                scalars.setdefault(field, {})[k] = _number(path, key, field, value)
        seeds_of.append(length[1] if length else 1)
    both = sorted(set(lists) & set(scalars))
    if both:
        field = both[0]
        listed = next(iter(lists[field]))
        scalar = next(iter(scalars[field]))
        raise NasHarnessError(f"{path}: field {field!r} is a list (per seed) under key {keys[listed]!r} but a single "
                              f"value under key {keys[scalar]!r}; write it one way in every record")
    as_metric = {f for f in scalars if f in metric_names}
    static = {f: {"kind": static_kind(f)} for f in scalars if f not in as_metric}
    counts = np.asarray(seeds_of, dtype=np.int64)
    record_of = np.repeat(np.arange(len(keys)), counts)
    seed = np.concatenate([np.arange(c) for c in counts]) if len(keys) else np.zeros(0, dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    columns: dict[str, Any] = {key_column: [keys[i] for i in record_of.tolist()]}
    if lists:
        columns["seed"] = seed
    for field, by_record in lists.items():
        values = np.full(record_of.size, np.nan)
        for k, items in by_record.items():
            values[start[k]:start[k] + len(items)] = items
        columns[field] = values
    for field, by_key in scalars.items():
        values = np.full(record_of.size, np.nan)
        for k, value in by_key.items():
            if field in as_metric:
                values[start[k]] = value  # measured once: seed label 0
            else:
                values[start[k]:start[k] + counts[k]] = value  # the same on every seed row of the architecture
        columns[field] = values
    frame = pd.DataFrame(columns)
    return JsonTable(frame, [keys[i] for i in record_of.tolist()], static)
