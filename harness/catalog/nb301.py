"""NAS-Bench-301 benchmarks on the DARTS space (surrogates; no table exists for 10^18 cells).

* `nb301/yahpo`: YAHPO Gym's ONNX surrogate (validation accuracy and cumulative runtime at epochs
  1..98; deterministic). Files: `model.onnx`, `config_space.json`, `encoding.json` of yahpo_data's
  `nb301` folder, looked for in `<data>/sources/yahpo_nb301_v1/` or `<data>/sources/yahpo_data/nb301/`.
  Needs onnxruntime.
* `nb301/official`: the official NB301 XGB ensemble (`<data>/sources/nb_models_1.0/xgb_v1.0/`)
  with the LightGBM runtime model (`.../lgb_runtime_v1.0/`) when lightgbm is installed.

Both are answered on demand (surrogates.benchmark.SurrogateStore, a store that is not `tabulated`);
the regret's optimum is the reference optimum documented there.
"""
from __future__ import annotations

from pathlib import Path

from harness.benchmarks import Benchmark, BenchmarkSpec, rowless_spec
from harness.spaces import get_space
from tabular.data_dir import sources_dir
from tabular.errors import NasHarnessError, SourceMissingError

YAHPO_CANDIDATES = ("yahpo_nb301_v1", "yahpo_data/nb301")
OFFICIAL_CANDIDATES = ("nb_models_1.0", "nb_models")
# Reference optimum settings (surrogates.benchmark.reference_optimum), part of each benchmark's definition.
REFERENCE = {"n_sample": 2_000, "n_starts": 3, "max_steps": 50}


def yahpo_folder() -> Path:
    """The folder holding YAHPO's NB301 files, or SourceMissingError saying where to put them."""
    from surrogates.nb301_yahpo import FILES, check_folder

    root = sources_dir()
    for candidate in YAHPO_CANDIDATES:
        if all((root / candidate / f).is_file() for f in FILES):
            return root / candidate
    check_folder(root / YAHPO_CANDIDATES[0])  # raises SourceMissingError naming the expected place
    raise AssertionError("unreachable")


def official_folders() -> tuple[Path, Path]:
    """The official NB301 model folders (XGB ensemble, LightGBM runtime), or SourceMissingError."""
    root = sources_dir()
    for candidate in OFFICIAL_CANDIDATES:
        if (root / candidate / "xgb_v1.0").is_dir():
            return root / candidate / "xgb_v1.0", root / candidate / "lgb_runtime_v1.0"
    raise SourceMissingError(
        f"NB301 surrogate models not found in {root / OFFICIAL_CANDIDATES[0]}; download models_1.0.zip (figshare "
        "24992018, "
        "linked from https://github.com/automl/nasbench301) and unpack it there (folders xgb_v1.0 and lgb_runtime_v1.0)"
    )


def open_benchmark(name: str) -> Benchmark:
    """nb301/yahpo or nb301/official as a benchmark answered on demand (DARTS space)."""
    from surrogates.benchmark import SurrogateStore

    if name == "nb301/yahpo":
        from surrogates.nb301_yahpo import YahpoNB301

        predictor = YahpoNB301(yahpo_folder(), name=name)
    elif name == "nb301/official":
        from surrogates.nb301_official import OfficialNB301

        xgb, runtime = official_folders()
        predictor = OfficialNB301(xgb, runtime, name=name)  # type: ignore[assignment]
    else:
        raise NasHarnessError(f"unknown NB301 benchmark {name!r}; known: nb301/yahpo, nb301/official")
    space = get_space("darts")
    store = SurrogateStore(predictor, name=name, space=space, reference=REFERENCE)
    return Benchmark(name=name, space=space, store=store)


def specs() -> list[BenchmarkSpec]:
    """The two NB301 benchmarks; both row-less (no store to build)."""
    def check_yahpo() -> None:
        yahpo_folder()

    def check_official() -> None:
        official_folders()

    return [
        rowless_spec("nb301/yahpo", "darts", "YAHPO Gym NB301 v1 ONNX surrogate (validation accuracy, runtime; epochs "
                                             "1-98)",
                     check_yahpo, lambda: open_benchmark("nb301/yahpo")),
        rowless_spec("nb301/official", "darts", "official NAS-Bench-301 v1.0 XGB ensemble (+ LightGBM runtime model "
                                                "with lightgbm)",
                     check_official, lambda: open_benchmark("nb301/official")),
    ]
