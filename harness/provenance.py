"""Which code produced a result: the package version always, a git commit only from our own checkout.

Why not just `git rev-parse HEAD` next to the package: an installed nas-harness lives in a
site-packages folder, and a virtual environment is often created inside the user's own repository
(`myproject/.venv/...`); git run there reports the user's commit as if it were ours. So a commit is
recorded only when the running code is the project's own checkout: the folder above `harness/` holds
a `pyproject.toml` naming the project `nas-harness`, is the top of a git work tree, and git tracks
the package there. Otherwise the commit is None and the package version (from the installed
distribution's metadata) is what identifies the code.
"""
from __future__ import annotations

import functools
import logging
import re
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

DISTRIBUTION = "nas-harness"
_GIT_TIMEOUT_S = 5
_PROJECT_NAME = re.compile(r'^\s*name\s*=\s*["\']nas-harness["\']\s*$', re.MULTILINE)
_PROJECT_VERSION = re.compile(r'^\s*version\s*=\s*["\']([^"\']+)["\']\s*$', re.MULTILINE)


@dataclass(frozen=True)
class CodeVersion:
    """What a manifest records about the code: `version` (None only when neither installed metadata nor
    the checkout's pyproject.toml says), `commit` and `dirty` (both None outside the project's checkout;
    `dirty` is True when tracked files differ from the commit, so the commit alone does not reproduce)."""

    version: str | None
    commit: str | None
    dirty: bool | None


def _project_section(pyproject: Path) -> str | None:
    """The `[project]` table of a pyproject.toml as text (None if unreadable or absent). A regex, not
    tomllib, because Python 3.10 (supported) has no tomllib and only two plain keys are needed."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    match = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    return match.group(1) if match else None


def _git(root: Path, *args: str) -> str | None:
    """stdout of `git -C root ARGS` (stripped), or None when git is missing, fails or hangs."""
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=_GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def checkout_root(package_dir: Path | None = None) -> Path | None:
    """The project's own git checkout that `package_dir` (default: this `harness/` folder) runs from, or None.

    All must hold: the parent folder's pyproject.toml names the project nas-harness, git says that
    folder is the top of its work tree, and git tracks `harness/__init__.py` there (a copy of the
    package dropped into someone else's repository is untracked or lives below its top).
    """
    package_dir = (package_dir or Path(__file__).parent).resolve()
    root = package_dir.parent
    section = _project_section(root / "pyproject.toml")
    if section is None or not _PROJECT_NAME.search(section) or not (root / ".git").exists():
        return None
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:
        return None
    rel = f"{package_dir.name}/__init__.py"
    if _git(root, "ls-files", "--error-unmatch", "--", rel) is None:
        return None
    return root


def _installed_version() -> str | None:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def read_code_version(package_dir: Path | None = None) -> CodeVersion:
    """The code version of the package in `package_dir` (default: the running one); uncached, for tests.

    The version comes from the installed distribution; a checkout that was never installed falls back
    to its pyproject.toml. Commit and dirty flag come from git, only inside the project's checkout.
    """
    version = _installed_version()
    root = checkout_root(package_dir)
    if root is None:
        return CodeVersion(version, None, None)
    if version is None:
        section = _project_section(root / "pyproject.toml") or ""
        match = _PROJECT_VERSION.search(section)
        version = match.group(1) if match else None
    commit = _git(root, "rev-parse", "HEAD") or None
    if commit is None:  # a checkout without any commit yet
        return CodeVersion(version, None, None)
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    dirty = None if status is None else bool(status)
    log.debug("code version %s, commit %s, dirty %s (checkout %s)", version, commit, dirty, root)
    return CodeVersion(version, commit, dirty)


@functools.lru_cache(maxsize=1)
def code_version() -> CodeVersion:
    """The running code's version, looked up once per process (every run's manifest records it;
    the code does not change while a process runs, and git costs a few milliseconds per call)."""
    return read_code_version()


__all__ = ["DISTRIBUTION", "CodeVersion", "checkout_root", "code_version", "read_code_version"]
