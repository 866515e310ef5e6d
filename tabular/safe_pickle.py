"""Restricted unpickling: every pickle nas-harness reads goes through here.

Why: unpickling calls whatever function the file names (`os.system`, `builtins.exec`,
`numpy.testing._private.utils.runstring`, ...), so loading a pickle with `pickle.load`,
`pd.read_pickle` or `torch.load(weights_only=False)` runs code hidden in the file. The user names
most of these files (HW-NAS-Bench, NATS-Bench, CIFAR batches, rank-stats tables, surrogate models),
so a file from a mirror, a colleague or an old results folder must never be able to do that.

`SafeUnpickler` resolves only an explicit allow-list of exact `(module, name)` globals and refuses
anything else with one line naming the file and the global. No allow-list names a function that
evaluates, opens or executes anything a file supplies; every entry is a class or a constructor of
plain data (containers, numpy arrays, dtypes and scalars, pandas frames, the model classes we fit).
An allow-list stops code execution only: the values that come out are still checked by each reader.
Plain data (dict, list, tuple, set, str, bytes, numbers, None, bool) needs no global at all.

numpy 1 writes its internals as `numpy.core.*` and numpy 2 as `numpy._core.*`; both spellings are
accepted and resolved against the installed numpy (without numpy 2's deprecation warning).
"""
from __future__ import annotations

import pickle
from collections.abc import Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import numpy as np

from tabular.errors import NasHarnessError

Global = tuple[str, str]

_NUMPY_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"

# numpy arrays, dtypes and scalars as numpy 1 and 2 pickle them (protocol 5 arrays use _frombuffer).
NUMPY_GLOBALS: frozenset[Global] = frozenset(
    {("numpy", "ndarray"), ("numpy", "dtype")}
    | {(f"{core}.multiarray", name) for core in ("numpy.core", "numpy._core") for name in ("_reconstruct", "scalar")}
    | {(f"{core}.numeric", "_frombuffer") for core in ("numpy.core", "numpy._core")}
)
# Plain containers plus numpy: what the tabular benchmark pickles (NATS, HW-NAS-Bench, NB101,
# NAS-Bench-Graph, CIFAR batches) are made of. Builtins need no global in these files, except that
# Python 3 writes bytes (also numpy's raw array data) at protocol 2 as `_codecs.encode(str, 'latin1')`.
PLAIN_GLOBALS: frozenset[Global] = NUMPY_GLOBALS | {("collections", "OrderedDict"), ("_codecs", "encode")}

# A pandas DataFrame or Series of numeric, bool and string columns, as pandas 2.x and 3.x pickle
# it (enumerated by unpickling such frames written by pandas 2.2 + numpy 1.26 and pandas 3.1 +
# numpy 2.4, and the NASLib-era file ../shared/data/nb201/mini_nb201_12ep.pd). pandas 3 writes
# the public spellings (`pandas.DataFrame`), pandas 2 the module paths; string columns are
# pyarrow-backed (pandas 3 default, `string[pyarrow]`) or numpy-backed (`string[python]`).
PANDAS_GLOBALS: frozenset[Global] = PLAIN_GLOBALS | {
    ("builtins", "slice"),
    ("builtins", "bytearray"),
    ("pandas", "DataFrame"), ("pandas.core.frame", "DataFrame"),
    ("pandas", "Series"), ("pandas.core.series", "Series"),
    ("pandas", "Index"), ("pandas.core.indexes.base", "Index"),
    ("pandas", "RangeIndex"), ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "SingleBlockManager"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas", "StringDtype"), ("pandas.core.arrays.string_", "StringDtype"),
    ("pandas.arrays", "StringArray"), ("pandas.core.arrays.string_", "StringArray"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("pandas.arrays", "ArrowStringArray"),
    ("pandas", "NA"), ("pandas._libs.missing", "NA"),
    ("pyarrow.lib", "_restore_array"),
    ("pyarrow.lib", "py_buffer"),
    ("pyarrow.lib", "type_for_alias"),
}


def _restore_validated_arrow_array(*args: Any) -> Any:
    """pyarrow's own array unpickler followed by a full validation: buffers and offsets that do not
    fit together (a crafted file) fail here instead of being read out of bounds later."""
    import pyarrow.lib

    array = pyarrow.lib._restore_array(*args)
    array.validate(full=True)
    return array


_PANDAS_SUBSTITUTES: Mapping[Global, Any] = MappingProxyType({("pyarrow.lib", "_restore_array"): _restore_validated_arrow_array})


def _shown(module: str, name: str) -> str:
    """`module.name` for a message; escaped when the file put line breaks or odd characters in it."""
    text = f"{module}.{name}"
    return text if text.isprintable() and len(text) <= 200 else ascii(text)[:200]


def refusal(where: str | Path, module: str, name: str, what: str, hint: str) -> str:
    """The one-line refusal every restricted loader raises (also used for `torch.load`)."""
    return f"{where} references {_shown(module, name)}, which {what} files never contain; refusing to unpickle it ({hint})"


class SafeUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only `allowed` globals (and `substitutes`, which replace a global
    by a stand-in object); any other global raises `error` with the one-line `refusal` message."""

    def __init__(
        self,
        handle: BinaryIO,
        *,
        where: str | Path,
        allowed: Collection[Global],
        what: str,
        hint: str,
        substitutes: Mapping[Global, Any] | None = None,
        error: type[NasHarnessError] = NasHarnessError,
        encoding: str = "ASCII",
    ):
        super().__init__(handle, encoding=encoding)
        self._where, self._what, self._hint, self._error = where, what, hint, error
        self._allowed = allowed
        self._substitutes = substitutes or {}

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in self._substitutes:
            return self._substitutes[key]
        if key not in self._allowed:
            raise self._error(refusal(self._where, module, name, self._what, self._hint))
        for core in ("numpy.core", "numpy._core"):  # either spelling -> the installed numpy's
            if module == core or module.startswith(core + "."):
                module = _NUMPY_CORE + module[len(core):]
                break
        return super().find_class(module, name)


def load(handle: BinaryIO, **options: Any) -> Any:
    """Unpickle one object from `handle` with SafeUnpickler(handle, **options). A refused global
    raises the options' `error`; any other failure (truncated or corrupt data) propagates unchanged
    for the caller to word."""
    return SafeUnpickler(handle, **options).load()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0][:160] if text else "").encode("ascii", "backslashreplace").decode()


def load_path(
    path: str | Path,
    *,
    allowed: Collection[Global],
    what: str,
    hint: str,
    damaged: str,
    substitutes: Mapping[Global, Any] | None = None,
    error: type[NasHarnessError] = NasHarnessError,
    encoding: str = "ASCII",
) -> Any:
    """`load` of the file at `path`, with every failure as one line of `error`: refused globals as
    `refusal`, unreadable files and broken pickles with `damaged` saying what to do."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return load(handle, where=path, allowed=allowed, what=what, hint=hint, substitutes=substitutes,
                        error=error, encoding=encoding)
    except NasHarnessError:
        raise
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # pickle raises many types for a damaged file; all mean the same here
        raise error(f"{path} is not a readable {what} pickle ({type(exc).__name__}: {_reason(exc)}); {damaged}") from None


def load_dataframe(path: str | Path) -> Any:
    """A pandas DataFrame from a pickle (.pd/.pkl/.pickle), accepting only the classes of a frame of
    numeric, bool and string columns (`PANDAS_GLOBALS`) instead of `pd.read_pickle`'s anything."""
    import pandas as pd

    frame = load_path(
        path,
        allowed=PANDAS_GLOBALS,
        substitutes=_PANDAS_SUBSTITUTES,
        what="plain pandas DataFrame",
        hint="only frames of numeric, bool and string columns are read from pickles; save the table as CSV or parquet instead",
        damaged="write it again with DataFrame.to_pickle, or save it as CSV or parquet",
    )
    if not isinstance(frame, pd.DataFrame):
        raise NasHarnessError(f"{path} holds a {type(frame).__name__}, not a pandas DataFrame")
    return frame
