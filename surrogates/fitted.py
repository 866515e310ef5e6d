"""Fitted surrogates: fit, predict, save and load with their provenance.

A fitted surrogate maps architectures of one space (through one of its encodings) to the metrics
of its training data: the validation metric, and the test and cost metrics when the data has them
(a predicted cost keeps simulated time working). One `Ensemble` per metric.

On disk, a surrogate is a folder (by default `<data>/surrogates/<name>/`)::

    surrogate.json          format, space, encoding, fidelity, metric roles and units, model kind,
                            parameters, ensemble size, the split, the quality report per metric,
                            the training data's source (path, sha256), library versions, and the
                            sha256 of every member file
    <metric>/member_<i>.json   XGBoost members (XGBoost's own JSON model format)
    <metric>/member_<i>.pkl    scikit-learn members (pickles, loaded with a restricted unpickler)

Loading checks the format version, the member files' hashes, and the library versions: a
scikit-learn pickle is only loaded by the scikit-learn version that wrote it and an XGBoost model
by the same XGBoost major version; anything else is refused with one line saying to refit.
"""
from __future__ import annotations

import json
import logging
import platform
import shutil
import time
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from harness.spaces import SearchSpace, get_space
from surrogates.data import TrainingData
from surrogates.models import Ensemble
from surrogates.quality import metric_report
from surrogates.splits import Split, all_rows
from tabular.data_dir import data_dir
from tabular.errors import NasHarnessError
from tabular.hashing import sha256_file

log = logging.getLogger(__name__)

FORMAT = "nas-harness-surrogate"
FORMAT_VERSION = 1
MANIFEST = "surrogate.json"


def surrogates_dir() -> Path:
    """Where fitted surrogates are saved and listed: `<data>/surrogates/`."""
    return data_dir() / "surrogates"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def library_versions() -> dict[str, str]:
    versions = {d: _version(d) for d in ("nas-harness", "numpy", "scikit-learn", "xgboost", "scipy")}
    if not versions["xgboost"]:
        versions["xgboost"] = _version("xgboost-cpu")
    versions["python"] = platform.python_version()
    return versions


def check_name(name: str) -> str:
    parts = name.split("/")
    if not name or any(not p or p.startswith(".") or not all(c.isalnum() or c in "-_." for c in p) for p in parts):
        raise NasHarnessError(f"surrogate name {name!r} must be letters, digits, '-', '_', '.' (segments separated by "
                              "'/')")
    return name


@dataclass
class FittedSurrogate:
    """A surrogate of one space: metric -> Ensemble, plus everything needed to trust it later."""

    name: str
    space: str
    encoding: str
    models: dict[str, Ensemble]
    info: dict[str, dict[str, Any]]  # per metric: unit, higher_is_better, quality
    roles: dict[str, str]
    fidelity: float | None
    fidelity_name: str = "epochs"
    training: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    created: str = ""
    path: Path | None = None
    sha256: str = ""
    # The space bound to its table's store, for spaces whose rows come from a store (a converted
    # table's structured:/ids: space): `get_space(space)` alone has no architectures there.
    bound_space: SearchSpace | None = field(default=None, repr=False, compare=False)

    @property
    def noisy(self) -> bool:
        return any(m.n_members > 1 for m in self.models.values())

    @property
    def fidelities(self) -> np.ndarray:
        return np.asarray([1.0 if self.fidelity is None else float(self.fidelity)])

    @property
    def metric_info(self) -> dict[str, dict[str, Any]]:
        return {m: {"unit": i.get("unit", ""), "higher_is_better": bool(i.get("higher_is_better", True)),
                    "description": f"{self.models[m].kind} surrogate prediction ({self.models[m].n_members} member(s))"}
                for m, i in self.info.items()}

    @property
    def provenance(self) -> dict[str, Any]:
        """What a run's manifest records about this surrogate: identity, training data, split, quality."""
        return {
            "surrogate": self.name,
            "surrogate_path": str(self.path or ""),
            "surrogate_sha256": self.sha256,
            "space": self.space,
            "encoding": self.encoding,
            "models": {m: {"kind": e.kind, "n_members": e.n_members, "params": e.params}
                       for m, e in self.models.items()},
            "training": self.training,
            "split": self.split,
            "quality": {m: i.get("quality") for m, i in self.info.items()},
            "versions": self.versions,
        }

    def space_object(self) -> SearchSpace:
        return self.bound_space if self.bound_space is not None else get_space(self.space)

    def features(self, archs: list[str]) -> np.ndarray:
        return self.space_object().encode(list(archs), self.encoding)

    def predict(self, metric: str, archs: list[str], fidelity: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and ensemble spread of `metric` for architecture strings of this surrogate's space."""
        if metric not in self.models:
            raise NasHarnessError(f"surrogate {self.name!r} predicts {', '.join(self.models)}, not {metric!r}")
        if fidelity is not None and self.fidelity is not None and float(fidelity) != float(self.fidelity):
            raise NasHarnessError(f"surrogate {self.name!r} was fitted at {self.fidelity_name} {self.fidelity:g}, not "
                                  f"{fidelity:g}")
        return self.models[metric].predict(self.features(archs))

    def check_space(self, space: str) -> None:
        if space != self.space:
            raise NasHarnessError(f"surrogate {self.name!r} was trained on space {self.space!r} and cannot answer "
                                  f"space {space!r}")

    # -- persistence -------------------------------------------------------------------------------
    def manifest(self, files: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "space": self.space,
            "encoding": self.encoding,
            "fidelity": self.fidelity,
            "fidelity_name": self.fidelity_name,
            "roles": self.roles,
            "metrics": {
                m: {
                    **self.info[m],
                    "model": e.kind,
                    "params": e.params,
                    "n_members": e.n_members,
                    "bootstrap": e.bootstrap,
                    "seed": e.seed,
                    "n_features": e.n_features,
                    "files": files[m],
                }
                for m, e in self.models.items()
            },
            "training": self.training,
            "split": self.split,
            "versions": self.versions,
            "created": self.created,
        }

    def save(self, folder: str | Path | None = None, *, force: bool = False) -> Path:
        """Write the surrogate folder atomically (a temporary sibling renamed into place)."""
        target = Path(folder) if folder is not None else surrogates_dir() / check_name(self.name)
        if target.exists() and not force:
            raise NasHarnessError(f"{target} already exists; pass --force (force=True) to replace the surrogate")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            files: dict[str, list[dict[str, str]]] = {}
            for metric, ensemble in self.models.items():
                names = ensemble.save_members(tmp / metric)
                files[metric] = [{"path": f"{metric}/{n}", "sha256": sha256_file(tmp / metric / n)} for n in names]
            self.created = self.created or time.strftime("%Y-%m-%dT%H:%M:%S%z")
            text = json.dumps(self.manifest(files), indent=2, sort_keys=True, default=_json_default)
            (tmp / MANIFEST).write_text(text)
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
                target.rename(old)
            tmp.rename(target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self.path = target
        self.sha256 = sha256_file(target / MANIFEST)
        return target


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise NasHarnessError(f"no fitted surrogate at {folder} ({MANIFEST} missing); fit one with `nas-harness "
                              "surrogate fit`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise NasHarnessError(f"{path} is not valid JSON ({exc.msg}); the surrogate folder is damaged, "
                              "fit it again") from None
    if manifest.get("format") != FORMAT:
        raise NasHarnessError(f"{path} is not a nas-harness surrogate (format {manifest.get('format')!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        raise NasHarnessError(
            f"{path} has surrogate format version {version}, this nas-harness reads {FORMAT_VERSION}; "
            + ("upgrade nas-harness" if newer else "fit the surrogate again")
        )
    return manifest


def _check_library(path: Path, kind: str, saved: dict[str, str]) -> None:
    installed = library_versions()
    if kind == "xgb":
        lib, old, new = "xgboost", saved.get("xgboost", ""), installed["xgboost"]
        same = old.split(".")[:1] == new.split(".")[:1]
    else:
        lib, old, new = "scikit-learn", saved.get("scikit-learn", ""), installed["scikit-learn"]
        same = old == new
    if not same:
        raise NasHarnessError(
            f"{path}: model saved with {lib} {old or 'unknown'}, this environment has {new}; "
            f"refit it with `nas-harness surrogate fit` (a model file from another {lib} version is not loaded)"
        )


def _load_member(ensemble: Ensemble, path: Path, folder: Path) -> Any:
    """One member file, refused in one line unless it holds a fitted model of the ensemble's kind.

    Why: the manifest's hashes only say a file is the one recorded, not what it is; a member that
    unpickles to an int (`pickle.dumps(5)`, or a legacy torch `.pth`, whose first pickle is a magic
    number) or to an unfitted estimator would fail later, at the first prediction, with a traceback.
    """
    redo = f"it is not a member `nas-harness surrogate fit` wrote; fit the surrogate again (delete {folder} first)"
    if ensemble.kind == "xgb":
        import xgboost

        try:  # members are XGBoost's JSON model format: check that first, XGBoost's own errors can be undecodable
            document = json.loads(path.read_bytes())
            if not isinstance(document, dict) or "learner" not in document:
                raise ValueError("no learner")
            member = Ensemble(ensemble.kind, n_members=1).load_members([path]).members[0]
        except (ValueError, UnicodeDecodeError, RecursionError, xgboost.core.XGBoostError):
            raise NasHarnessError(f"{path} is not an XGBoost model file; {redo}") from None
        if member.get_booster().num_features() != ensemble.n_features:
            raise NasHarnessError(f"{path} is an XGBoost model of {member.get_booster().num_features()} features, "
                                  f"the manifest says {ensemble.n_features}; {redo}")
        return member
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from surrogates.models import make_model

    member = Ensemble(ensemble.kind, n_members=1).load_members([path]).members[0]
    expected = type(make_model(ensemble.kind, 0, ensemble.params))
    if type(member) is not expected:
        raise NasHarnessError(f"{path} unpickles to {type(member).__module__}.{type(member).__qualname__}, not a "
                              "fitted "
                              f"{expected.__qualname__} ({ensemble.kind} surrogate member); {redo}")
    try:
        check_is_fitted(member)
    except NotFittedError:
        raise NasHarnessError(f"{path} holds an unfitted {expected.__qualname__}; {redo}") from None
    if getattr(member, "n_features_in_", ensemble.n_features) != ensemble.n_features:
        raise NasHarnessError(f"{path} holds a model of {member.n_features_in_} features, the manifest says "
                              f"{ensemble.n_features}; {redo}")
    return member


def load_surrogate(name_or_path: str | Path) -> FittedSurrogate:
    """Load a surrogate by name (under `<data>/surrogates/`) or folder path; checks hashes and versions."""
    folder = Path(name_or_path)
    if not (folder / MANIFEST).is_file():
        folder = surrogates_dir() / check_name(str(name_or_path))
    manifest = read_manifest(folder)
    models: dict[str, Ensemble] = {}
    info: dict[str, dict[str, Any]] = {}
    for metric, entry in manifest["metrics"].items():
        _check_library(folder / MANIFEST, entry["model"], manifest.get("versions", {}))
        paths = []
        for f in entry["files"]:
            path = folder / f["path"]
            if not path.is_file() or sha256_file(path) != f["sha256"]:
                raise NasHarnessError(f"{path} is missing or changed since the surrogate was saved (sha256 mismatch); "
                                      "fit it again")
            paths.append(path)
        ensemble = Ensemble(entry["model"], seed=entry["seed"], n_members=entry["n_members"],
                            bootstrap=entry["bootstrap"], params=entry["params"], n_features=entry["n_features"])
        members = [_load_member(ensemble, path, folder) for path in paths]
        ensemble.members = members
        models[metric] = ensemble
        info[metric] = {k: entry[k] for k in ("unit", "higher_is_better", "quality") if k in entry}
    return FittedSurrogate(
        name=manifest["name"], space=manifest["space"], encoding=manifest["encoding"], models=models, info=info,
        roles=manifest["roles"], fidelity=manifest["fidelity"], fidelity_name=manifest.get("fidelity_name", "epochs"),
        training=manifest.get("training", {}), split=manifest.get("split", {}), versions=manifest.get("versions", {}),
        created=manifest.get("created", ""), path=folder, sha256=sha256_file(folder / MANIFEST),
    )


def saved_surrogates() -> list[tuple[str, Path]]:
    """(name, folder) of every surrogate saved under `<data>/surrogates/`, by name."""
    root = surrogates_dir()
    if not root.is_dir():
        return []
    found = []
    for manifest in sorted(root.rglob(MANIFEST)):
        rel = manifest.parent.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        found.append((rel.as_posix(), manifest.parent))
    return found


def fit_surrogate(
    data: TrainingData,
    *,
    name: str,
    kind: str = "xgb",
    n_members: int = 1,
    split: Split | None = None,
    encoding: str = "onehot",
    seed: int = 0,
    params: dict[str, Any] | None = None,
    bootstrap: bool | None = None,
    metrics: list[str] | None = None,
    precision: float | None = None,
) -> FittedSurrogate:
    """Fit one ensemble per metric on `split.train` and report its quality on `split.test`."""
    split = split or all_rows(data.n)
    space = data.space_object if data.space_object is not None else get_space(data.space)
    if encoding not in space.encodings:
        raise NasHarnessError(f"space {space.name!r} has no encoding {encoding!r}; choose one of "
                              f"{', '.join(space.encodings)}")
    names = metrics or [m for m in data.roles.values() if m] or list(data.metrics)
    train, test = data.subset(split.train), data.subset(split.test)
    X_train = space.encode(train.archs, encoding)
    X_test = space.encode(test.archs, encoding) if test.n else None
    models, info = {}, {}
    for metric in names:
        m = data.metric(metric)
        ensemble = Ensemble(kind, seed=seed, n_members=n_members, bootstrap=bootstrap, params=dict(params or {}))
        ensemble.fit(X_train, train.metric(metric).mean)
        models[metric] = ensemble
        quality = None
        if X_test is not None:
            mean, _ = ensemble.predict(X_test)
            quality = metric_report(test, metric, mean, precision=precision)
        info[metric] = {"unit": m.unit, "higher_is_better": m.higher_is_better, "quality": quality}
        log.info("fitted %s for %s on %d architectures",
                 kind, metric, int(np.sum(~np.isnan(train.metric(metric).mean))))
    roles = {k: (v if v in models else "") for k, v in data.roles.items()}
    if not roles.get("valid_metric"):
        roles["valid_metric"] = names[0]
    training = dict(data.source) | {"n_archs": data.n, "fidelity": data.fidelity}
    return FittedSurrogate(
        name=check_name(name), space=data.space, encoding=encoding, models=models, info=info, roles=roles,
        fidelity=data.fidelity, fidelity_name=data.fidelity_name, training=training, split=split.describe(),
        bound_space=data.space_object,
    )
