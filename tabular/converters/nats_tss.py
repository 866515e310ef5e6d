"""NATS-Bench topology (NATS-tss) archives -> one store per (dataset, schedule).

Two official layouts (as the NATS-Bench API reads them):

* the "simple" folder `NATS-tss-v1_0-3ffb9-simple/` (from `NATS-tss-v1_0-3ffb9-simple.tar`):
  `meta.pickle.pbz2` with `meta_archs`, plus one `{index:06d}.pickle.pbz2` per architecture
  (fallback name `{index}.pickle.pbz2`) holding `{'12': ArchResults state, '200': ArchResults state}`;
* the single file `NATS-tss-v1_0-3ffb9.pickle.pbz2`: the whole benchmark, `arch2infos[index]` keyed
  by '12' and '200' as above.

Stores are named `nats-tss/<dataset>` (200 epochs) and `nats-tss/<dataset>-12ep`; array semantics
are those of `tabular.converters.nb201_official`, i.e. seed means equal the official
`get_more_info(is_random=False)`.

Every file is a bz2-compressed pickle (protocol 4). They are unpickled by `tabular.safe_pickle` with
the plain-data allow-list (NATS archives name only `collections.OrderedDict`, numpy scalars and
dtypes), so a file that names anything else is refused instead of executed.

Memory: the folder is read in one streaming pass, one architecture file at a time, filling all
eight tables together: about 2.5 GB of arrays for the full benchmark (200-epoch tables dominate),
and the pass takes several minutes (bz2). The single file must be unpickled whole (several GB).
"""
from __future__ import annotations

import bz2
import hashlib
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from tabular import safe_pickle
from tabular.converters import nb201_official as off
from tabular.errors import NasHarnessError, SourceMissingError
from tabular.hashing import sha256_file
from tabular.writer import StoreData

log = logging.getLogger(__name__)

FAMILY = "nats-tss"
SIMPLE_DIR = "NATS-tss-v1_0-3ffb9-simple"
SINGLE_FILE = "NATS-tss-v1_0-3ffb9.pickle.pbz2"
META_FILE = "meta.pickle.pbz2"
HP_OF = {"12": "12", "200": "200"}
ALL_COMBOS: tuple[off.Combo, ...] = tuple((ds, hp) for hp in ("200", "12") for ds in off.DATASETS)


def _unpickle(handle: BinaryIO, where: Path) -> Any:
    try:
        return safe_pickle.load(handle, where=where, allowed=safe_pickle.PLAIN_GLOBALS, what="NATS-Bench",
                                hint=f"download {SINGLE_FILE} or the {SIMPLE_DIR} archive again from the NATS-Bench "
                                     "authors")
    except NasHarnessError:
        raise
    except Exception as exc:  # bz2 (OSError/EOFError) or pickle errors: a damaged download
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise NasHarnessError(f"{where} is not a readable bz2 pickle ({type(exc).__name__}: {reason}); it is "
                              "truncated or corrupt, download or unpack it again") from None


def load_pbz2(path: Path) -> Any:
    """Stream-decompress and unpickle one `.pickle.pbz2` file (restricted globals)."""
    with bz2.open(path, "rb") as handle:
        return _unpickle(handle, path)  # type: ignore[arg-type]


def _load_bytes(raw: bytes, where: Path) -> Any:
    try:
        data = bz2.decompress(raw)
    except Exception as exc:
        raise NasHarnessError(f"{where} is not a readable bz2 file ({type(exc).__name__}: {exc}); it is truncated or "
                              "corrupt, download or unpack it again") from None
    return _unpickle(io.BytesIO(data), where)


def arch_file(folder: Path, index: int, names: set[str]) -> Path | None:
    """The per-architecture file of `index` in a simple folder (listed in `names`), or None."""
    for name in (f"{index:06d}.pickle.pbz2", f"{index}.pickle.pbz2"):
        if name in names:
            return folder / name
    return None


def resolve_source(source: Path) -> Path:
    """The simple folder or the single file a user pointed at (accepting meta.pickle.pbz2 itself)."""
    source = Path(source)
    if source.is_file() and source.name == META_FILE:
        return source.parent
    if source.is_dir():
        if not (source / META_FILE).is_file():
            nested = source / SIMPLE_DIR
            if (nested / META_FILE).is_file():
                return nested
            raise SourceMissingError(f"{source} has no {META_FILE}; point at the unpacked {SIMPLE_DIR}/ folder (or "
                                     f"the single file {SINGLE_FILE})")
        return source
    if source.is_file() and source.name.endswith(".tar"):
        raise NasHarnessError(f"{source} is a tar archive; unpack it first (tar xf {source.name}) and convert the "
                              "folder it creates")
    if source.is_file():
        return source
    raise SourceMissingError(f"{source} does not exist; pass the unpacked {SIMPLE_DIR}/ folder or the file "
                             f"{SINGLE_FILE}")


class _FolderReader:
    """Streams (index, {'12':..., '200':...}) records from a simple folder, hashing what it reads."""

    def __init__(self, folder: Path, order: off.ArchOrder):
        self.folder = folder
        meta_path = folder / META_FILE
        meta_raw = meta_path.read_bytes()
        meta = _load_bytes(meta_raw, meta_path)
        if not isinstance(meta, dict) or "meta_archs" not in meta:
            raise NasHarnessError(f"{meta_path} holds no meta_archs; it is not a NATS-tss meta file")
        self.arch_strings, self.codes = off.official_arch_order(meta["meta_archs"], meta_path, order)
        self._digest = hashlib.sha256()
        self._digest.update(f"{META_FILE}\t{hashlib.sha256(meta_raw).hexdigest()}\n".encode())
        self.missing = 0

    def records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        n = len(self.arch_strings)
        names = {entry.name for entry in os.scandir(self.folder) if entry.is_file()}
        for index in range(n):
            path = arch_file(self.folder, index, names)
            if path is None:
                self.missing += 1
                continue
            raw = path.read_bytes()
            self._digest.update(f"{path.name}\t{hashlib.sha256(raw).hexdigest()}\n".encode())
            infos = _load_bytes(raw, path)
            if not isinstance(infos, dict):
                raise NasHarnessError(f"{path} holds a {type(infos).__name__}, expected a dict keyed by '12' and '200'")
            for state in infos.values():
                if state:
                    off.check_arch_state(index, state, self.arch_strings, str(path))
            if index % 1000 == 0:
                log.info("read %d/%d architecture files", index, n)
            yield index, infos
        if self.missing == n:
            raise NasHarnessError(f"{self.folder} holds no per-architecture files (000000.pickle.pbz2 ...); unpack "
                                  "the whole archive")
        if self.missing:
            log.warning("%s: %d of %d architecture files are missing; their rows are NaN", self.folder, self.missing, n)

    def folder_hash(self) -> str:
        """sha256 over the lines '<file name>\\t<sha256 of file>' of every file read, in index order."""
        return self._digest.hexdigest()


def _iter_folder(folder: Path, select: set[off.Combo] | None, order: off.ArchOrder) -> Iterator[StoreData]:
    reader = _FolderReader(folder, order)
    tables = off.fill_tables(reader.records(), len(reader.arch_strings), HP_OF, select, str(folder))
    source = off.SourceInfo(
        family=FAMILY,
        files=((folder.name + "/", reader.folder_hash()),),
        format="NATS-tss simple archive folder (meta.pickle.pbz2 + one bz2 pickle per architecture)",
        citation=off.CITATION_NATS,
        notes="sha256 of the folder = sha256 of the lines '<file>\\t<sha256>' of its files in index order"
        + (f"; {reader.missing} architecture files were missing" if reader.missing else ""),
    )
    for combo in [c for c in ALL_COMBOS if c in tables]:
        table = tables.pop(combo)  # free each table once its store is handed out
        yield table.to_store_data(off.store_name(FAMILY, *combo), reader.arch_strings, reader.codes, source)


def _iter_single(path: Path, select: set[off.Combo] | None, order: off.ArchOrder) -> Iterator[StoreData]:
    blob = load_pbz2(path)
    if not isinstance(blob, dict):
        raise NasHarnessError(f"{path} holds a {type(blob).__name__}, not a NATS-tss benchmark dict")
    source = off.SourceInfo(
        family=FAMILY,
        files=((path.name, sha256_file(path)),),
        format="NATS-tss single-file benchmark (bz2 pickle of the whole benchmark)",
        citation=off.CITATION_NATS,
    )
    yield from off.iter_blob_stores(blob, HP_OF, source, path, select, order=order)


def iter_stores(source: Path, select: set[off.Combo] | None = None, *, order: off.ArchOrder) -> Iterator[StoreData]:
    """Stores of a NATS-tss folder or single file; `select` limits them to (dataset, hp) pairs.

    `order` is the NB201 space's index (harness.catalog.official.nb201_order): store rows follow it.
    """
    resolved = resolve_source(source)
    if resolved.is_dir():
        yield from _iter_folder(resolved, select, order)
    else:
        yield from _iter_single(resolved, select, order)


def convert(source: Path, out_dir: Path, *, order: off.ArchOrder, force: bool = False,
            select: set[off.Combo] | None = None) -> list[Path]:
    """Convert into `<out_dir>/nats-tss/<dataset>[-12ep].h5`; never overwrites unless `force`.

    Every store the benchmark can yield is checked for an existing file before the (long) read.
    """
    combos = [c for c in ALL_COMBOS if select is None or c in select]
    off.refuse_existing(Path(out_dir), [off.store_name(FAMILY, *c) for c in combos], force)
    return off.write_all(iter_stores(source, select, order=order), Path(out_dir), force)
