"""Atomic file replacement: write under a temporary name in the destination folder, then rename.

A reader therefore sees either the old file or the complete new one, never a half-written file,
whatever kills the writer. The temporary file gets the permissions a normally created file would
(mkstemp's are 0600).

With `replace=False` the file is published only if `path` does not exist *at that moment*: the
temporary file is hard-linked to `path` (link(2) fails if the name exists), so of two writers
racing for one new name exactly one wins and the other gets FileExistsError; a check followed by a
rename would let both "win". File systems without hard links fall back to that check and rename.
"""
from __future__ import annotations

import errno
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
# link(2) refusals that mean "this file system has no hard links here", not "the name exists".
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def _default_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _publish_new(tmp: Path, path: Path) -> None:
    """Give `tmp` the name `path` only if no file has it; FileExistsError otherwise (race-free)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        log.debug("no hard links in %s (%s); publishing %s by check and rename", path.parent, exc, path)
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "File exists", str(path)) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


@contextmanager
def atomic_path(path: str | Path, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it over `path`, else delete it.

    `replace=False`: publish only if `path` does not exist then, else FileExistsError (module docstring).
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        if replace:
            os.replace(tmp, path)
        else:
            _publish_new(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` atomically, fsynced so a crash after return cannot lose it."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
