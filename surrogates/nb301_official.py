"""The official NAS-Bench-301 surrogate folders (automl/nasbench301 `nb_models_1.0`), for users who
downloaded them (layout and loading: docs/SURROGATES.md, "nb301/official"; pickles: docs/FORMAT.md).

An ensemble folder (`xgb_v1.0`, `lgb_runtime_v1.0`) holds one subfolder per member, each with a
`surrogate_model.model` (a pickled `xgboost.Booster` or LightGBM `Booster`); `model_config.json`
(with `model`: `xgb`, `lgb`, `lgb_time`, ...) and `data_config.json` sit in the member folder or in
the ensemble folder. Members are found as every `surrogate_model.model` below the folder, in sorted
path order. Both model kinds read the 56-entry feature vector of `DartsSpace.encode(.., "nb301")`.

Predictions follow the official API: the mean of the members' predictions, and as noise scale
their standard deviation (ddof 0); the official `with_noise=True` draws that noise from numpy's
global RNG, which nas-harness replaces by the run's own generator (surrogates.benchmark). The XGB
ensemble predicts validation accuracy (%) after NB301's 100 epochs; the LightGBM runtime model
predicts the training time in seconds and needs the optional `lightgbm` package: without it the
benchmark has no cost metric (evaluation budgets only), and says so.

Pickles are loaded with a restricted unpickler that only accepts xgboost/lightgbm/numpy classes.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from harness.spaces.darts import nb301_features, parse
from surrogates.models import restricted_load
from tabular.errors import NasHarnessError, SourceMissingError
from tabular.hashing import sha256_file

log = logging.getLogger(__name__)

MEMBER_FILE = "surrogate_model.model"
LIGHTGBM_MISSING = ("the NB301 runtime model (LightGBM) needs the optional package lightgbm (pip install lightgbm); "
                    "without it nb301/official has no runtime, so use budget.evaluations, not budget.sim_seconds")


def _model_config(member: Path, root: Path) -> dict[str, Any]:
    folder = member.parent
    while True:
        candidate = folder / "model_config.json"
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text())
            except json.JSONDecodeError as exc:
                raise NasHarnessError(f"{candidate} is not valid JSON ({exc.msg})") from None
        if folder == root or folder == folder.parent:
            return {}
        folder = folder.parent


def load_members(folder: Path, *, expect: tuple[str, ...]) -> tuple[list[Any], str, list[str]]:
    """(boosters, model kind, sha256 of each member file) of one official ensemble folder."""
    if not folder.is_dir():
        raise SourceMissingError(
            f"NB301 surrogate folder {folder} not found; download models_1.0.zip (figshare 24992018) from "
            "https://github.com/automl/nasbench301 and unpack it as nb_models_1.0/ in the sources folder"
        )
    paths = sorted(folder.rglob(MEMBER_FILE))
    if not paths:
        raise SourceMissingError(
            f"{folder} holds no {MEMBER_FILE} files; it is not an NB301 surrogate folder (e.g. xgb_v1.0)"
        )
    kinds = {str(_model_config(p, folder).get("model", "")) for p in paths}
    if len(kinds) != 1:
        raise NasHarnessError(f"{folder}: members disagree on the model kind ({sorted(kinds)})")
    kind = kinds.pop() or expect[0]
    if kind not in expect:
        raise NasHarnessError(
            f"{folder} holds {kind!r} models; nas-harness reads {', '.join(expect)} here "
            "(GNN surrogates are not supported)"
        )
    if kind.startswith("lgb"):
        try:
            import lightgbm  # noqa: F401
        except ImportError:
            raise NasHarnessError(LIGHTGBM_MISSING) from None
    allowed = ("lightgbm", "numpy") if kind.startswith("lgb") else ("xgboost", "numpy")
    boosters = [restricted_load(p, allowed=allowed) for p in paths]
    if kind == "xgb":
        for booster in boosters:
            booster.set_param({"nthread": 1})  # one thread: grid workers run many benchmarks side by side
    return boosters, kind, [sha256_file(p) for p in paths]


class OfficialNB301:
    """The official XGB ensemble (validation accuracy) and, with lightgbm, the runtime model."""

    space = "darts"
    fidelity_name = "epochs"

    def __init__(
        self, xgb_folder: str | Path, runtime_folder: str | Path | None = None, *, name: str = "nb301/official"
    ):
        self.name = name
        self.path = Path(xgb_folder)
        self.xgb, kind, hashes = load_members(self.path, expect=("xgb",))
        self.runtime: list[Any] = []
        runtime_hashes: list[str] = []
        self.runtime_note = ""
        if runtime_folder is not None and Path(runtime_folder).is_dir():
            try:
                self.runtime, _, runtime_hashes = load_members(Path(runtime_folder), expect=("lgb_time", "lgb"))
            except NasHarnessError as exc:
                if "lightgbm" not in str(exc):
                    raise
                self.runtime_note = str(exc)
                log.warning("%s", exc)
        self.hashes = {"xgb": hashes, "runtime": runtime_hashes}
        self.sha256 = hashlib.sha256(json.dumps(self.hashes, sort_keys=True).encode()).hexdigest()
        self.roles = {
            "valid_metric": "val_accuracy",
            "test_metric": "",
            "cost_metric": "runtime" if self.runtime else "",
        }

    @property
    def noisy(self) -> bool:
        return len(self.xgb) > 1

    @property
    def fidelities(self) -> np.ndarray:
        return np.asarray([100.0])  # NB301 trains every architecture for 100 epochs

    @property
    def metric_info(self) -> dict[str, dict[str, Any]]:
        info = {
            "val_accuracy": {
                "unit": "%",
                "higher_is_better": True,
                "description": "NB301 XGB ensemble predicted validation accuracy",
            }
        }
        if self.runtime:
            info["runtime"] = {
                "unit": "s",
                "higher_is_better": False,
                "description": "NB301 LightGBM predicted training time",
            }
        return info

    @property
    def provenance(self) -> dict[str, Any]:
        return {
            "surrogate": self.name,
            "surrogate_path": str(self.path),
            "surrogate_sha256": self.sha256,
            "member_sha256": self.hashes,
            "n_members": len(self.xgb),
            "runtime_model": bool(self.runtime),
            "runtime_note": self.runtime_note,
            "source": "NAS-Bench-301 official surrogate models (automl/nasbench301, nb_models_1.0)",
        }

    def member_predictions(self, metric: str, archs: list[str]) -> np.ndarray:
        X = nb301_features([parse(a) for a in archs])
        if metric == "val_accuracy":
            import xgboost

            matrix = xgboost.DMatrix(X)
            return np.stack([np.asarray(b.predict(matrix), dtype=np.float64) for b in self.xgb])
        if metric == "runtime" and self.runtime:
            return np.stack([np.asarray(b.predict(X), dtype=np.float64) for b in self.runtime])
        raise NasHarnessError(
            f"{self.name} predicts {', '.join(self.metric_info)}, not {metric!r}"
            + (f" ({self.runtime_note})" if self.runtime_note else "")
        )

    def predict(self, metric: str, archs: list[str], fidelity: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        if fidelity is not None and float(fidelity) != 100.0:
            raise NasHarnessError(f"{self.name} predicts after 100 epochs only, not {fidelity}")
        preds = self.member_predictions(metric, list(archs))
        return preds.mean(axis=0), preds.std(axis=0)
