"""Packaging: the built wheel carries the configs and data and runs a grid without torch; torch-only
features name the extra in one line; manifests record the code version of the right project.

The wheel is built from a copy of the sources (pip builds in the source tree otherwise) and unpacked
(a pure-Python wheel is installed by unpacking it): imported from there, the package cannot fall back
on the repository's conf/. torch is blocked in the subprocesses with a sitecustomize whose import hook refuses
it, so these tests run (and mean the same) whether or not torch is installed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from harness import provenance
from tabular.optional import TORCH_EXTRA

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "conf", "harness", "tabular", "surrogates", "hydra_plugins")
# As if torch were not installed: `import torch` raises ModuleNotFoundError and sys.modules gets no
# "torch" key (scipy's array-API helpers look torch up in sys.modules, so a None entry would break them).
BLOCK_TORCH = """import sys


class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoTorch())
"""


def _run(cmd: list[str], cwd: Path, pythonpath: list[Path], timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath)}
    env.pop("PYTHONSAFEPATH", None)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the repository's sources (no build isolation: offline and fast)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (path,) = out.glob("nas_harness-*.whl")
    return path


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


@pytest.fixture
def no_torch(tmp_path: Path) -> Path:
    """A folder whose sitecustomize.py blocks `import torch`; put it first on PYTHONPATH."""
    folder = tmp_path / "block_torch"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCK_TORCH)
    return folder


@pytest.mark.slow
def test_wheel_holds_every_config_and_data_file(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = sorted(p.relative_to(REPO / "conf").as_posix() for p in (REPO / "conf").rglob("*.yaml"))
    assert len(configs) >= 84
    assert [c for c in configs if f"harness/conf/{c}" not in names] == []
    assert "harness/conf/hydra/launcher/ray_cluster.yaml" in names
    data = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "harness" / "data").rglob("*") if p.is_file())
    assert any(d.endswith(".parquet") for d in data)
    assert [d for d in data if d not in names and "__pycache__" not in d] == []
    assert "hydra_plugins/nas_harness_grid/grid.py" in names
    metadata = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: torch")]
    assert requires == ['Requires-Dist: torch==2.13.0; extra == "torch"'], requires  # an extra, never core


@pytest.mark.slow
def test_unpacked_wheel_runs_grid_and_report_without_torch(unpacked, no_torch, tmp_path, data_home):
    """From an empty folder, as a user of `pip install nas-harness` would (no torch)."""
    work = tmp_path / "empty"
    work.mkdir()
    path = [no_torch, unpacked]
    grid = [sys.executable, "-m", "harness", "run", "-m", "strategy=rs,re", "benchmark=nb201/cifar10",
            "seed=range(0,3)", "budget.evaluations=50"]
    done = _run(grid, work, path)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [p for p in (work / "results").iterdir() if (p / "manifest.json").is_file()]
    assert len(runs) == 6
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["git_commit"] is None and manifest["git_dirty"] is None  # not our checkout
    assert manifest["versions"]["torch"] is None or "torch" in manifest["versions"]
    done = _run([sys.executable, "-m", "harness", "report", "results"], work, path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (work / "results" / "report" / "index.html").is_file()
    leaderboard = (work / "results" / "report" / "leaderboard.csv").read_text()
    assert "rs" in leaderboard and "re" in leaderboard
    # It really ran the unpacked package (its harness/conf), not the repository's.
    where = _run([sys.executable, "-c", "import harness.config as c; print(c.CONF_DIR)"], work, path)
    assert Path(where.stdout.strip()) == unpacked / "harness" / "conf"
    assert sorted(p.name for p in work.iterdir()) == ["results"]  # nothing written beside results/


@pytest.mark.parametrize("argv", [
    ["validate", "results"],
    ["proxies", "--space", "nb201"],
    ["run", "strategy=darts", "budget.evaluations=2"],
])
def test_torch_features_say_which_extra_to_install(argv, no_torch, tmp_path, data_home):
    done = _run([sys.executable, "-m", "harness", *argv], tmp_path, [no_torch, REPO])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0
    assert any(TORCH_EXTRA in line for line in lines), done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_convert_nb201_pth_says_which_extra_to_install(no_torch, tmp_path, data_home):
    fake = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    fake.write_bytes(b"not read: torch is missing")
    done = _run([sys.executable, "-m", "harness", "convert", "nb201-pth", str(fake), "--out", str(tmp_path / "o")],
                tmp_path, [no_torch, REPO])
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"nas-harness: error: reading NAS-Bench-201 .pth files (`convert nb201-pth`) needs PyTorch, an optional "
        f"extra of nas-harness: {TORCH_EXTRA}"]


def test_require_torch_lets_other_missing_modules_through():
    from tabular.optional import MissingExtraError, require_torch, torch_missing

    assert torch_missing(ModuleNotFoundError("x", name="torch.nn"))
    assert not torch_missing(ModuleNotFoundError("x", name="torchvision"))
    assert not torch_missing(ImportError("x", name="torch"))  # torch there but broken: keep the traceback
    code = "import sys; sys.modules['torch'] = None\nfrom tabular.optional import require_torch\nrequire_torch('X')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert "MissingExtraError: X needs PyTorch" in done.stderr
    assert issubclass(MissingExtraError, __import__("tabular.errors").errors.NasHarnessError)
    assert require_torch  # importable without torch: the module itself imports nothing heavy


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_checkout_records_its_commit_and_dirty_flag():
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    version = provenance.read_code_version()
    assert version.commit == _git(REPO, "rev-parse", "HEAD")
    assert version.dirty is bool(_git(REPO, "status", "--porcelain", "--untracked-files=no"))
    assert version.version == "0.1.0" or version.version == __import__("importlib.metadata").metadata.version(
        "nas-harness")
    from harness.results import environment

    env = environment()
    assert env["git_commit"] == version.commit and env["git_dirty"] is version.dirty


def _foreign_repo(root: Path, pyproject: str | None) -> Path:
    """A user's own git repository with a committed copy of harness/ inside it (like a venv in a repo)."""
    root.mkdir(parents=True)
    _git(root, "init", "-q")
    if pyproject is not None:
        (root / "pyproject.toml").write_text(pyproject)
    shutil.copytree(REPO / "harness", root / "harness", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "-m", "user's project")
    return root


@pytest.mark.parametrize("pyproject", [None, '[project]\nname = "my-study"\nversion = "1.0"\n'])
def test_copy_inside_a_foreign_repository_records_no_commit(tmp_path, pyproject):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    user = _foreign_repo(tmp_path / "user", pyproject)
    assert provenance.checkout_root(user / "harness") is None
    assert provenance.read_code_version(user / "harness").commit is None
    # The same, as the copy itself computes it in a fresh process (what a manifest would record).
    code = "from harness.provenance import code_version; v = code_version(); print(v.commit, v.dirty)"
    done = _run([sys.executable, "-c", code], tmp_path, [user])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "None"]


def test_a_site_packages_in_a_subfolder_of_a_checkout_records_no_commit(tmp_path):
    """A copy of the package below the top of a repository named nas-harness (a venv inside our own
    checkout, an unpacked wheel in a subfolder) is not that checkout's code."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "clone"
    root.mkdir()
    _git(root, "init", "-q")
    (root / "pyproject.toml").write_text('[project]\nname = "nas-harness"\nversion = "9"\n')
    site = root / ".venv" / "site-packages"
    shutil.copytree(REPO / "harness", site / "harness", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (site / "pyproject.toml").write_text('[project]\nname = "nas-harness"\n')  # even this does not fool it
    assert provenance.checkout_root(site / "harness") is None


def test_manifests_with_and_without_git_dirty_are_valid(tmp_path):
    from harness.results import ManifestError, validate_manifest

    config = {"strategy": {"name": "rs"}, "benchmark": {"name": "b", "seed_policy": "sample"}, "seed": 0,
              "budget": {"evaluations": 5}, "n_workers": 1}
    base = {"status": "failed", "config": config, "strategy": "rs", "benchmark": "b", "seed": 0, "git_commit": None}
    assert validate_manifest(base, tmp_path) == base  # written before git_dirty existed
    for dirty in (True, False, None):
        validate_manifest({**base, "git_commit": "0" * 40, "git_dirty": dirty}, tmp_path)
    with pytest.raises(ManifestError, match="git_dirty"):
        validate_manifest({**base, "git_dirty": "yes"}, tmp_path)
