"""The official NAS-Bench-201 `.pth` files (v1_0 and v1_1) -> one store per (dataset, schedule).

A `.pth` file is a `torch.save`d plain dict `{meta_archs, total_archs, arch2infos, evaluated_indexes}`
whose `arch2infos[index]` is `{'less': ArchResults state, 'full': ArchResults state}`: 'less' is the
12-epoch schedule (hp '12'), 'full' the 200-epoch one (hp '200'). The stores
are named `nb201-v1_0/<dataset>` / `nb201-v1_1/<dataset>` for 200 epochs and `...-12ep` for 12;
v1_0's 12-epoch data covers cifar10-valid only and records no times (train_time is NaN there).
Array semantics are those of `tabular.converters.nb201_official`.

Memory: torch has to unpickle the whole file at once (the legacy format cannot be memory-mapped)
into some 10^8 Python dict entries and numpy scalars, several times the file's size: plan on a
machine with 20 GB or more free for the 4.7 GB v1_1 file (an estimate, not a measurement), plus
about 0.7 GB for the store being built (stores are built and written one at a time). On a smaller
machine convert the NATS-tss "simple" folder instead (kind `nats-tss`), which streams. Reading
needs PyTorch (a CPU build is enough). The file is unpickled with `torch.load(weights_only=True)`,
torch's restricted unpickler, allowing in addition exactly the numpy globals the official files
hold (numpy scalars, i.e. `numpy.core.multiarray.scalar` and `numpy.dtype`); a
file naming anything else is refused with one line, so a doctored `.pth` cannot run code. torch
would apply any pickled state to a numpy dtype (flags saying a float is an object pointer make numpy
read memory the file never held), so `numpy.dtype` resolves to a `_DtypeRecipe` that only records
its arguments and state, and the scalar constructor builds the dtype from it, checked by
`tabular.safe_pickle.built_dtype`, for boolean and numeric scalars only.
"""
from __future__ import annotations

import functools
import logging
import pickle
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tabular import safe_pickle
from tabular.converters import nb201_official as off
from tabular.errors import NasHarnessError, SourceMissingError
from tabular.hashing import sha256_file
from tabular.optional import require_torch
from tabular.writer import StoreData

log = logging.getLogger(__name__)

FILES = {"v1_0": "NAS-Bench-201-v1_0-e61699.pth", "v1_1": "NAS-Bench-201-v1_1-096897.pth"}
HP_OF = {"less": "12", "full": "200"}
_VERSION_IN_NAME = re.compile(r"v(1_[01])")


def family(version: str) -> str:
    """Benchmark-name prefix of a file version: 'v1_1' -> 'nb201-v1_1'."""
    return f"nb201-{version}"


_REFUSED = re.compile(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL) ([\w.]+)|but got <class '([\w.]+)'>")
_REFUSAL_HINT = "download the file again from the NAS-Bench-201 authors"


_NUMERIC_KINDS = "biuf"  # the dtypes of the official files' scalars: bool, int, uint, float


class _RefusedGlobal(Exception):
    """A `numpy.dtype` call or numpy scalar the official files never hold (module, name of what it is)."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class _DtypeRecipe:
    """What `numpy.dtype` resolves to while a .pth is unpickled: torch calls it with the dtype's
    arguments and BUILDs it with the pickled state, which it only records; `_scalar` builds the
    checked dtype from both. Only boolean and numeric type strings are accepted."""

    def __init__(self, *args: Any) -> None:
        import numpy as np

        code = args[0] if args else None
        try:
            dtype = np.dtype(code.decode("latin1") if isinstance(code, bytes) else code)
        except Exception:
            raise _RefusedGlobal("numpy", f"dtype({str(code)[:40]!r})") from None
        if not isinstance(code, (str, bytes)) or dtype.kind not in _NUMERIC_KINDS:
            raise _RefusedGlobal(type(dtype).__module__, type(dtype).__qualname__)
        self.args, self.state, self._dtype = args, None, None

    def __setstate__(self, state: Any) -> None:
        self.state, self._dtype = state, None

    def dtype(self) -> Any:
        """The checked dtype (built once: the files share one dtype among millions of scalars)."""
        if self._dtype is None:
            try:
                dtype = safe_pickle.built_dtype(self.args, self.state)
            except ValueError as exc:
                raise _RefusedGlobal("numpy", f"dtype with a crafted state ({exc})") from None
            if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
                raise _RefusedGlobal("numpy", f"dtype {dtype!r} in a scalar")
            self._dtype = dtype
        return self._dtype


@functools.lru_cache(maxsize=1)
def _numpy_scalar() -> Any:
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    return scalar


def _scalar(recipe: Any, *data: Any) -> Any:
    """numpy's scalar constructor, on the dtype a `_DtypeRecipe` describes once it is checked."""
    if not isinstance(recipe, _DtypeRecipe):
        raise _RefusedGlobal(type(recipe).__module__, f"{type(recipe).__qualname__} as a numpy scalar's dtype")
    return _numpy_scalar()(recipe.dtype(), *data)


def _numpy_safe_globals() -> list[Any]:
    """What the official files need beyond torch's own allow-list: numpy scalars (numpy 1 and 2
    spellings, so also files re-saved under numpy 2) and their dtypes, as `_scalar` and
    `_DtypeRecipe` (the only class torch may BUILD besides its own)."""
    return [
        (_scalar, "numpy.core.multiarray.scalar"),
        (_scalar, "numpy._core.multiarray.scalar"),
        (_DtypeRecipe, "numpy.dtype"),
    ]


def _refusal(path: Path, exc: Exception) -> str | None:
    """The one-line refusal for torch's weights-only error (naming the global when torch does),
    or None when `exc` is not a refusal (a damaged file)."""
    text = str(exc)
    match = _REFUSED.search(text)
    if match is not None:
        module, _, name = (match.group(1) or match.group(2)).rpartition(".")
        module = module or "builtins"  # torch names builtins without their module (`GLOBAL exec`)
        return safe_pickle.refusal(path, module, name, "NAS-Bench-201 .pth", _REFUSAL_HINT)
    if "Weights only load failed" not in text:
        return None
    detail = next(
        (line.split("error:", 1)[-1].strip() for line in text.splitlines() if "WeightsUnpickler error" in line), ""
    )
    return (
        f"{path} could not be unpickled safely ({detail[:160]}); it is corrupt or not an official file, {_REFUSAL_HINT}"
    )


def load_pth(path: Path) -> dict[str, Any]:
    """Unpickle a NAS-Bench-201 `.pth` file (legacy or zip serialization) on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise SourceMissingError(f"{path} does not exist; pass the path of the downloaded NAS-Bench-201 .pth file")
    torch = require_torch("reading NAS-Bench-201 .pth files (`convert nb201-pth`)")
    log.info("loading %s (this takes minutes and several GB of memory for the real files)", path)
    try:
        with warnings.catch_warnings():
            # The 2020 files name numpy.core.* globals, which numpy 2 reports as deprecated.
            warnings.simplefilter("ignore", DeprecationWarning)
            with torch.serialization.safe_globals(_numpy_safe_globals()):
                blob = torch.load(path, map_location="cpu", weights_only=True)
    except _RefusedGlobal as exc:
        raise NasHarnessError(
            safe_pickle.refusal(path, exc.module, exc.name, "NAS-Bench-201 .pth", _REFUSAL_HINT)
        ) from None
    except MemoryError:
        raise NasHarnessError(
            f"not enough memory to load {path} ({path.stat().st_size / 1e9:.1f} GB on disk needs "
            "several times that in RAM)"
        ) from None
    except Exception as exc:  # torch raises many types for a damaged file; all mean the same to a user
        refused = _refusal(path, exc) if isinstance(exc, pickle.UnpicklingError) else None
        if refused:
            raise NasHarnessError(refused) from None
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise NasHarnessError(
            f"{path} could not be read as a PyTorch file ({type(exc).__name__}: {reason[:160]}); it "
            "is truncated or corrupt, download it again"
        ) from None
    if not isinstance(blob, dict) or "arch2infos" not in blob or "meta_archs" not in blob:
        keys = sorted(map(str, blob))[:5] if isinstance(blob, dict) else type(blob).__name__
        hint = (
            " (this looks like a per-architecture archive file, which is not supported)"
            if isinstance(blob, dict) and "full" in blob
            else ""
        )
        raise NasHarnessError(f"{path} is not a NAS-Bench-201 benchmark file: expected a dict with meta_archs and "
                              f"arch2infos, found {keys}{hint}")
    return blob


def detect_version(path: Path, blob: dict[str, Any]) -> str:
    """'v1_0' or 'v1_1', from the official file name, else from the content (logged)."""
    match = _VERSION_IN_NAME.search(Path(path).name)
    if match:
        return "v" + match.group(1)
    # Content: v1_1 ran 12 epochs on every dataset and records times; v1_0 did neither.
    for entry in blob["arch2infos"].values():
        less = entry.get("less") or {}
        if set(less.get("dataset_seed") or {}) - {"cifar10-valid"}:
            version = "v1_1"
            break
        runs = list((less.get("all_results") or {}).values()) + list(
            ((entry.get("full") or {}).get("all_results") or {}).values()
        )
        if any(run.get("train_times") for run in runs):
            version = "v1_1"
            break
    else:
        version = "v1_0"
    log.warning("%s: file name does not say v1_0 or v1_1; its content looks like %s", path, version)
    return version


def _source(path: Path, version: str) -> off.SourceInfo:
    return off.SourceInfo(
        family=family(version),
        files=((path.name, sha256_file(path)),),
        format=f"NAS-Bench-201 {version} .pth (torch.save'd dict; 'less' = 12 epochs, 'full' = 200 epochs)",
        citation=off.CITATION_NB201,
        notes="v1_0 records no training times" if version == "v1_0" else "times are the benchmark's pseudo times "
                                                                         "(constant per epoch)",
    )


def iter_stores(path: Path, blob: dict[str, Any] | None = None, select: set[off.Combo] | None = None, *,
                order: off.ArchOrder) -> Iterator[StoreData]:
    """Stores of one `.pth` file, built one at a time; `select` limits them to (dataset, hp) pairs.

    `order` is the NB201 space's index (harness.catalog.official.nb201_order): store rows follow it.
    """
    path = Path(path)
    blob = load_pth(path) if blob is None else blob
    yield from off.iter_blob_stores(blob, HP_OF, _source(path, detect_version(path, blob)), path, select, order=order)


def convert(path: Path, out_dir: Path, *, order: off.ArchOrder, force: bool = False,
            select: set[off.Combo] | None = None) -> list[Path]:
    """Convert a `.pth` file into `<out_dir>/nb201-v1_X/<dataset>[-12ep].h5`; never overwrites unless `force`.

    Existing targets are refused after loading (the names depend on the file's version) but before
    any store is built.
    """
    path, out_dir = Path(path), Path(out_dir)
    blob = load_pth(path)
    version = detect_version(path, blob)
    wanted = None if select is None else {off.store_name(family(version), *c) for c in select}
    names = [n for n in off.blob_store_names(blob, HP_OF, family(version), path) if wanted is None or n in wanted]
    off.refuse_existing(out_dir, names, force)
    stores = off.iter_blob_stores(blob, HP_OF, _source(path, version), path, select, order=order)
    return off.write_all(stores, out_dir, force)
