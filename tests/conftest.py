"""Shared fixtures: an isolated data folder, and the optional real data in ../shared/data."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_DOCS = REPO.parent / "shared" / "docs"


def shared_file(*parts: str) -> Path:
    """A file under ../shared/data; skips the test cleanly when the folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data file {path} not available (../shared/data is absent)")
    return path


def shared_doc(name: str) -> Path:
    path = SHARED_DOCS / name
    if not path.exists():
        pytest.skip(f"{path} not available (../shared/docs is absent)")
    return path


@pytest.fixture(scope="session")
def data_home(tmp_path_factory: pytest.TempPathFactory):
    """One NAS_HARNESS_DATA folder for the session, so real stores are converted once."""
    home = tmp_path_factory.mktemp("nas_harness_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NAS_HARNESS_DATA", str(home))
        yield home


@pytest.fixture(scope="session")
def nb201_benches(data_home):
    """nb201/cifar10, cifar100 and imagenet16-120 by dataset name, loaded once."""
    from harness.benchmarks import load_benchmark

    loaded = {ds: load_benchmark(f"nb201/{ds}") for ds in ("cifar10", "cifar100", "imagenet16-120")}
    yield loaded
    for bench in loaded.values():
        bench.store.close()


@pytest.fixture(scope="session")
def nb201_cifar10(data_home):
    from harness.benchmarks import load_benchmark

    bench = load_benchmark("nb201/cifar10")
    yield bench
    bench.store.close()


def assert_preset_composes(preset: str, expected: dict) -> dict:
    """Compose `strategy=<preset>` through Hydra as `nas-harness run` does, check each expected setting and that
    the one-shot config accepts the result; returns the composed strategy node."""
    from hydra import compose, initialize_config_dir

    from harness.config import register_configs
    from harness.oneshot import OneShotConfig

    register_configs()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        cfg = compose(config_name="config", overrides=[f"strategy={preset}"])
    strategy = dict(cfg.strategy)
    for key, value in expected.items():
        assert strategy[key] == value, key
    OneShotConfig(**{k: v for k, v in strategy.items() if k != "name"}).check()
    return strategy
