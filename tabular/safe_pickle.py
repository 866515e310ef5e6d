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

A numpy dtype is pickled as `numpy.dtype(str)` followed by BUILD, which calls `dtype.__setstate__`
with a state (flags, item size, fields and their offsets) that numpy takes as given. A crafted state
(an object dtype whose flags deny holding objects, a field past the item size) makes numpy read
file bytes as object pointers or read outside an array: a crash or worse, with allowed globals only.
So `SafeUnpickler` is the pure-Python unpickler with BUILD checked: a dtype is built only once, right
after `numpy.dtype` created it (before anything could use it), and only into a dtype numpy itself
would construct from the same names, formats, offsets and size (`dtype_problem`). The pure-Python
unpickler is about 4x slower than the C one (1.5 s for 10 MB), which the official files can afford.
"""
from __future__ import annotations

import codecs
import pickle
from collections.abc import Callable, Collection, Mapping
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
# numpy 2.4, and NASLib's NB201 test asset `mini_nb201_12ep.pd`). pandas 3 writes
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


_PANDAS_SUBSTITUTES: Mapping[Global, Any] = MappingProxyType(
    {("pyarrow.lib", "_restore_array"): _restore_validated_arrow_array}
)


def _shown(module: str, name: str) -> str:
    """`module.name` for a message; escaped when the file put line breaks or odd characters in it."""
    text = f"{module}.{name}"
    return text if text.isprintable() and len(text) <= 200 else ascii(text)[:200]


def refusal(where: str | Path, module: str, name: str, what: str, hint: str) -> str:
    """The one-line refusal every restricted loader raises (also used for `torch.load`)."""
    return (
        f"{where} references {_shown(module, name)}, which {what} files never contain; refusing to unpickle it ({hint})"
    )


def new_dtype(obj: Any, align: Any = False, copy: Any = True) -> np.dtype:
    """`numpy.dtype` as a pickle may call it: numpy pickles a dtype as `dtype(str, align, copy)`.

    Only a type string is accepted (so the new dtype cannot share a part with another one), and a
    copy is always made (as numpy's own pickles ask), so a BUILD never targets a shared dtype."""
    if isinstance(obj, bytes):  # a Python 2 pickle read with encoding='bytes' (CIFAR batches)
        obj = obj.decode("latin1")
    if not isinstance(obj, str) or not isinstance(align, (bool, int)) or not isinstance(copy, (bool, int)):
        raise pickle.UnpicklingError(f"numpy.dtype called with {type(obj).__name__}, not a type string")
    return np.dtype(obj, bool(align), True)


def _canonical_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype numpy builds from `dtype`'s names, formats, offsets, titles, shape and size."""
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return np.dtype((base, shape))
    if dtype.names is not None or dtype.fields is not None:
        names = list(dtype.names or ())
        fields = dtype.fields or {}
        if set(names) - set(fields):
            raise ValueError("field names without fields")
        spec: dict[str, Any] = {"names": names, "formats": [fields[n][0] for n in names],
                                "offsets": [fields[n][1] for n in names], "itemsize": dtype.itemsize}
        titles = [fields[n][2] if len(fields[n]) > 2 else None for n in names]
        if any(t is not None for t in titles):
            spec["titles"] = titles
        return np.dtype(spec, align=dtype.isalignedstruct)
    return np.dtype(dtype.str)


def dtype_problem(dtype: np.dtype) -> str | None:
    """What makes a dtype rebuilt from a pickled state unlike any dtype numpy constructs itself
    (flags, item size, alignment, type or layout that do not fit together); None when it is sound."""
    try:
        canonical = _canonical_dtype(dtype)
    except Exception as exc:  # numpy refuses the layout (a field past the item size, overlapping objects, ...)
        return f"its layout is invalid: {_reason(exc)}"
    if canonical.type is not dtype.type:
        return f"it claims type {dtype.type.__name__} with the layout of {canonical.type.__name__}"
    mismatched = [
        what
        for what, a, b in (
            ("flags", canonical.flags, dtype.flags),
            ("item size", canonical.itemsize, dtype.itemsize),
            ("alignment", canonical.alignment, dtype.alignment),
        )
        if a != b
    ]
    if mismatched or canonical != dtype:
        return f"pickled {', '.join(mismatched) or 'layout'} unlike what its fields and type give"
    return None


def _private_state(state: Any) -> Any:
    """The dtype state with its dicts copied: numpy keeps the fields dict it is given, which a
    pickle could otherwise change (through its memo) after the dtype was checked."""
    return (
        tuple(dict(item) if isinstance(item, dict) else item for item in state) if isinstance(state, tuple) else state
    )


def built_dtype(args: tuple[Any, ...], state: Any) -> np.dtype:
    """The dtype that `numpy.dtype(*args)` then BUILD with `state` make (`state` None: no BUILD),
    for restricted unpicklers that cannot check BUILD itself (torch's); ValueError naming the
    problem when it is not a dtype numpy builds itself (`dtype_problem`)."""
    try:
        dtype = new_dtype(*args)
        if state is not None:
            dtype.__setstate__(_private_state(state))
    except Exception as exc:
        raise ValueError(f"not a numpy dtype state: {_reason(exc)}") from None
    problem = dtype_problem(dtype)
    if problem is not None:
        raise ValueError(problem)
    return dtype


def _parts(dtype: np.dtype) -> list[np.dtype]:
    """The dtypes `dtype` is made of (its fields' and its subarray's), one level down."""
    parts = [value[0] for value in (dtype.fields or {}).values()]
    return parts + ([dtype.subdtype[0]] if dtype.subdtype is not None else [])


def _sealing(operation: Callable[[Any], None]) -> Callable[[Any], None]:
    """An opcode that may hand objects to code (a call, a BUILD of anything else): a dtype still
    waiting for its BUILD can be used from now on, so it is never built any more."""
    def run(self: SafeUnpickler) -> None:
        self._unbuilt.clear()
        operation(self)
    return run


class SafeUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]  (the pure-Python one: BUILD is checked)
    """An Unpickler that resolves only `allowed` globals (and `substitutes`, which replace a global
    by a stand-in object); any other global raises `error` with the one-line `refusal` message.
    A numpy dtype's BUILD must describe a dtype numpy would build itself (see the module docstring)."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

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
        self._unbuilt: dict[int, np.dtype] = {}  # dtypes numpy.dtype made that are not built yet, by id
        # What the global numpy.dtype resolves to (one object: compared by identity).
        self._dtype_factory = self._new_dtype

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
        found = super().find_class(module, name)
        return self._dtype_factory if found is np.dtype else found

    def _new_dtype(self, *args: Any) -> np.dtype:
        dtype = new_dtype(*args)
        self._unbuilt[id(dtype)] = dtype
        return dtype

    def _dtype_refused(self, problem: str) -> NasHarnessError:
        return self._error(f"{self._where} holds a numpy dtype that numpy could not have written ({problem}); "
                           f"refusing to unpickle it ({self._hint})")

    def load_build(self) -> None:
        inst = self.stack[-2]
        if not isinstance(inst, np.dtype):
            self._unbuilt.clear()
            super().load_build()
            return
        if self._unbuilt.pop(id(inst), None) is not inst:
            raise self._dtype_refused("it is built twice, or after it was used")
        inst.__setstate__(_private_state(self.stack.pop()))
        problem = dtype_problem(inst)
        if problem is None and any(id(part) in self._unbuilt or part is inst for part in _parts(inst)):
            problem = "one of its fields is a dtype that is not built yet"
        if problem is not None:
            raise self._dtype_refused(problem)

    def load_reduce(self) -> None:
        if self.stack[-2] is not self._dtype_factory and self.stack[-2] is not codecs.encode:  # these two take no dtype
            self._unbuilt.clear()
        super().load_reduce()

    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.REDUCE[0]] = load_reduce
    for _opcode in (pickle.NEWOBJ, pickle.NEWOBJ_EX, pickle.OBJ, pickle.INST):
        dispatch[_opcode[0]] = _sealing(dispatch[_opcode[0]])
    del _opcode


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
        raise error(f"{path} is not a readable {what} pickle ({type(exc).__name__}: {_reason(exc)}); "
                    f"{damaged}") from None


def load_dataframe(path: str | Path) -> Any:
    """A pandas DataFrame from a pickle (.pd/.pkl/.pickle), accepting only the classes of a frame of
    numeric, bool and string columns (`PANDAS_GLOBALS`) instead of `pd.read_pickle`'s anything."""
    import pandas as pd

    frame = load_path(
        path,
        allowed=PANDAS_GLOBALS,
        substitutes=_PANDAS_SUBSTITUTES,
        what="plain pandas DataFrame",
        hint="only frames of numeric, bool and string columns are read from pickles; save the table as CSV or parquet "
             "instead",
        damaged="write it again with DataFrame.to_pickle, or save it as CSV or parquet",
    )
    if not isinstance(frame, pd.DataFrame):
        raise NasHarnessError(f"{path} holds a {type(frame).__name__}, not a pandas DataFrame")
    return frame
