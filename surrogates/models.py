"""Regression models for surrogates, alone or as a bagging ensemble.

Kinds: `xgb` (XGBoost, NB301's best tree model), and scikit-learn's `rf` (random forest), `gp`
(Gaussian process, Matérn kernel + white noise), `knn` (distance-weighted k nearest neighbours)
and `mlp` (2-layer perceptron on standardised inputs and targets). Every model is seeded, so a fit
is reproducible.

An ensemble fits `n_members` copies with seeds seed, seed+1, ... (NB301's convention), each on a
bootstrap resample of the training set (bagging) unless `bootstrap=False`; NB301's XGB members only
differ by seed, which leaves deterministic models (k-NN, GP) with no spread at all, so bagging is
the default here. The ensemble's prediction is the members' mean and its noise scale their
standard deviation (ddof 0), as in NB301's `query(with_noise=True)`.
"""
from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from tabular import safe_pickle
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

MODEL_KINDS = ("xgb", "rf", "gp", "knn", "mlp")
GP_MAX_TRAIN = 5000  # exact GP: O(n^3) time, O(n^2) memory

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    # Moderate, NB301-like boosting settings; `hist` makes a fit deterministic for a given seed.
    "xgb": {"n_estimators": 600, "max_depth": 6, "learning_rate": 0.04, "subsample": 0.8, "colsample_bytree": 0.8,
            "min_child_weight": 1.0, "reg_lambda": 1.0, "tree_method": "hist"},
    "rf": {"n_estimators": 300, "min_samples_leaf": 1, "max_features": 0.5},
    "gp": {"length_scale": 3.0, "nu": 2.5},
    "knn": {"n_neighbors": 10},
    "mlp": {"hidden": [128, 128], "alpha": 1e-4, "max_iter": 600},
}


def _check_kind(kind: str) -> None:
    if kind not in MODEL_KINDS:
        raise NasHarnessError(f"unknown surrogate model {kind!r}; choose one of {', '.join(MODEL_KINDS)}")


def make_model(kind: str, seed: int, params: dict[str, Any] | None = None) -> Any:
    """An unfitted regressor of `kind` with the given seed and parameters (defaults filled in)."""
    _check_kind(kind)
    p = DEFAULT_PARAMS[kind] | dict(params or {})
    if kind == "xgb":
        import xgboost

        return xgboost.XGBRegressor(objective="reg:squarederror", random_state=seed, n_jobs=1, **p)
    if kind == "rf":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(random_state=seed, n_jobs=1, **p)
    if kind == "knn":
        from sklearn.neighbors import KNeighborsRegressor

        return KNeighborsRegressor(weights="distance", **p)
    if kind == "gp":
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kernel = ConstantKernel(1.0) * Matern(length_scale=p["length_scale"], nu=p["nu"]) + WhiteKernel(0.1)
        return GaussianProcessRegressor(kernel=kernel, normalize_y=True, random_state=seed, n_restarts_optimizer=0)
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mlp = MLPRegressor(hidden_layer_sizes=tuple(p["hidden"]), alpha=p["alpha"], max_iter=p["max_iter"],
                       early_stopping=True, random_state=seed)
    return TransformedTargetRegressor(regressor=make_pipeline(StandardScaler(), mlp), transformer=StandardScaler())


@dataclass
class Ensemble:
    """`n_members` fitted regressors of one kind; predictions are their mean and spread."""

    kind: str
    seed: int = 0
    n_members: int = 1
    bootstrap: bool | None = None  # None: bagging for ensembles, not for a single model
    params: dict[str, Any] = field(default_factory=dict)
    members: list[Any] = field(default_factory=list, repr=False)
    n_features: int | None = None

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        if not isinstance(self.n_members, int) or self.n_members < 1:
            raise NasHarnessError(f"an ensemble needs at least one member, got n_members={self.n_members!r}")
        if self.bootstrap is None:
            self.bootstrap = self.n_members > 1

    def fit(self, X: np.ndarray, y: np.ndarray) -> Ensemble:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        keep = ~np.isnan(y)
        X, y = X[keep], y[keep]
        if y.size < 2:
            raise NasHarnessError(f"cannot fit a surrogate on {y.size} measured architecture(s)")
        if self.kind == "gp" and y.size > GP_MAX_TRAIN:
            raise NasHarnessError(
                f"an exact GP on {y.size} architectures needs O(n^3) time; use at most {GP_MAX_TRAIN} or another model"
            )
        self.n_features = X.shape[1]
        self.members = []
        for i in range(self.n_members):
            seed = self.seed + i
            rows = np.random.default_rng(seed).integers(y.size, size=y.size) if self.bootstrap else np.arange(y.size)
            model = make_model(self.kind, seed, self.params)
            if self.kind == "knn":
                model.set_params(n_neighbors=min(model.n_neighbors, rows.size))
            model.fit(X[rows], y[rows])
            self.members.append(model)
        return self

    def member_predictions(self, X: np.ndarray) -> np.ndarray:
        """(n_members, n) predictions of every member."""
        if not self.members:
            raise NasHarnessError("the surrogate model is not fitted")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise NasHarnessError(
                f"the surrogate expects {self.n_features} features per architecture, got shape {X.shape}"
            )
        return np.stack([np.asarray(m.predict(X), dtype=np.float64).ravel() for m in self.members])

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation (ddof 0) over members; the std is 0 for a single model."""
        preds = self.member_predictions(X)
        return preds.mean(axis=0), preds.std(axis=0)

    # -- persistence -------------------------------------------------------------------------------
    def save_members(self, folder: Path) -> list[str]:
        """Write each member; XGBoost in its own portable JSON format, scikit-learn as a pickle."""
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        for i, model in enumerate(self.members):
            if self.kind == "xgb":
                name = f"member_{i}.json"
                model.get_booster().save_model(str(folder / name))
            else:
                name = f"member_{i}.pkl"
                with open(folder / name, "wb") as handle:
                    pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
            names.append(name)
        return names

    def load_members(self, paths: list[Path]) -> Ensemble:
        self.members = []
        for path in paths:
            if self.kind == "xgb":
                import xgboost

                model = xgboost.XGBRegressor()
                model.load_model(str(path))
            else:
                model = restricted_load(path, allowed=("sklearn",))
            self.members.append(model)
        return self


def _sklearn_globals() -> frozenset[safe_pickle.Global]:
    """The exact classes and helpers a pickled member of `make_model`'s scikit-learn kinds names
    (enumerated by pickling each kind, including the k-NN trees and metrics and MLP optimisers its
    parameters can select), as `(module, qualname)` of the installed version's own objects."""
    import numpy.random._pickle as np_random_pickle
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, Product, Sum, WhiteKernel
    from sklearn.metrics import _dist_metrics
    from sklearn.neighbors import BallTree, KDTree, KNeighborsRegressor, _ball_tree, _kd_tree
    from sklearn.neural_network import MLPRegressor
    from sklearn.neural_network._stochastic_optimizers import AdamOptimizer, SGDOptimizer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor
    from sklearn.tree._tree import Tree

    objects = [
        RandomForestRegressor,
        DecisionTreeRegressor,
        Tree,
        GaussianProcessRegressor,
        ConstantKernel,
        Matern,
        WhiteKernel,
        Product,
        Sum,
        KNeighborsRegressor,
        KDTree,
        BallTree,
        _kd_tree.newObj,
        _ball_tree.newObj,
        _dist_metrics.newObj,
        _dist_metrics.EuclideanDistance64,
        _dist_metrics.ManhattanDistance64,
        _dist_metrics.ChebyshevDistance64,
        _dist_metrics.MinkowskiDistance64,
        TransformedTargetRegressor,
        Pipeline,
        StandardScaler,
        MLPRegressor,
        AdamOptimizer,
        SGDOptimizer,
        np.random.MT19937,
        getattr(np_random_pickle, "__bit_generator_ctor"),
        getattr(np_random_pickle, "__randomstate_ctor"),
    ]
    return safe_pickle.NUMPY_GLOBALS | {(obj.__module__, obj.__qualname__) for obj in objects}


def _xgboost_globals() -> frozenset[safe_pickle.Global]:
    """A pickled `xgboost.Booster` (the official NB301 members): the class and its raw model bytes
    (protocol 2 spells bytearray `__builtin__` and rebuilds bytes with `_codecs.encode`)."""
    return frozenset(
        {("xgboost.core", "Booster"), ("builtins", "bytearray"), ("__builtin__", "bytearray"), ("_codecs", "encode")}
    )


def _lightgbm_globals() -> frozenset[safe_pickle.Global]:
    """A pickled LightGBM `Booster` (the official NB301 runtime members): the class, which keeps
    its model as a string, and the dicts LightGBM training leaves in `best_score`."""
    return frozenset({("lightgbm.basic", "Booster"), ("collections", "defaultdict"), ("collections", "OrderedDict")})


# Library name (as callers pass it) -> the exact globals that library's models may name.
_MODEL_GLOBALS = MappingProxyType({
    "sklearn": _sklearn_globals,
    "xgboost": _xgboost_globals,
    "lightgbm": _lightgbm_globals,
    "numpy": lambda: safe_pickle.NUMPY_GLOBALS,
    "scipy": frozenset,  # none of our models pickles a scipy object
})


def restricted_load(path: Path, allowed: tuple[str, ...]) -> Any:
    """Load a model pickle naming only the exact model classes of the `allowed` libraries (see
    `_MODEL_GLOBALS`: whole packages are never allowed, since e.g. `numpy.testing` can run code);
    NasHarnessError with one line otherwise."""
    unknown = [lib for lib in allowed if lib not in _MODEL_GLOBALS]
    if unknown:
        raise ValueError(f"no model allow-list for {unknown}; known: {sorted(_MODEL_GLOBALS)}")
    names: frozenset[safe_pickle.Global] = frozenset().union(*(_MODEL_GLOBALS[lib]() for lib in allowed))
    libraries = " or ".join(lib for lib in allowed if lib != "numpy") or "numpy"
    model = safe_pickle.load_path(
        path, allowed=names, what=f"{libraries} model",
        hint="a model naming other objects could run code, so nas-harness is refusing to load it; "
             "refit it with `nas-harness surrogate fit` or download the official model again",
        damaged="it was written by another library version or is damaged; refit or download it again",
    )
    if "sklearn" in allowed:
        _check_sklearn_structures(model, path)
    return model


def _parts(obj: Any) -> list[Any]:
    """Every object reachable from `obj` through containers and scikit-learn objects' attributes."""
    seen: set[int] = set()
    out, stack = [], [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        out.append(item)
        if isinstance(item, (list, tuple, set)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif type(item).__module__.startswith("sklearn") and hasattr(item, "__dict__"):
            stack.extend(vars(item).values())
    return out


def _tree_problem(tree: Any, n_features_in: Any) -> str | None:
    """Why a scikit-learn Tree's nodes cannot be walked safely (sklearn copies them unchecked, and
    prediction follows child and feature indices without bounds checks); None when they can."""
    n, capacity = int(tree.node_count), int(tree.capacity)
    if not 0 < n <= capacity:  # node_count sizes the views read below: check it before reading them
        return f"node_count {n} with room for {capacity} nodes"
    if n_features_in is not None and n_features_in != tree.n_features:
        return f"the tree reads {tree.n_features} features, the model takes {n_features_in}"
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    index = np.arange(n)
    leaf = left == -1
    if np.any(leaf != (right == -1)):
        return "a node with one child"
    inner = ~leaf  # sklearn adds a node's children after it, so a child's index is larger (no cycles)
    if np.any(
        (left[inner] <= index[inner]) | (left[inner] >= n) | (right[inner] <= index[inner]) | (right[inner] >= n)
    ):
        return "a child index outside the tree or before its parent"
    if np.any((feature[inner] < 0) | (feature[inner] >= tree.n_features)):
        return "a split on a feature the tree does not have"
    return None


def _check_sklearn_structures(model: Any, path: Path) -> None:
    """Refuse what scikit-learn does not check when it unpickles, and C code would then read out of
    bounds: decision trees whose child or feature indices leave the tree (checked), and k-NN search
    trees (rebuilt from the model's own training points, which is exact and cheap)."""
    from sklearn.metrics._dist_metrics import DistanceMetric
    from sklearn.neighbors import BallTree, KDTree, KNeighborsRegressor
    from sklearn.tree._tree import Tree

    parts = _parts(model)
    owners = {
        id(p.tree_): getattr(p, "n_features_in_", None) for p in parts if isinstance(getattr(p, "tree_", None), Tree)
    }
    knn_trees = {
        id(p._tree) for p in parts if isinstance(p, KNeighborsRegressor) and p.__dict__.get("_tree") is not None
    }
    for part in parts:
        problem = None
        if isinstance(part, Tree):
            problem = _tree_problem(part, owners.get(id(part)))
        elif isinstance(part, (KDTree, BallTree)) and id(part) not in knn_trees:
            problem = f"a {type(part).__name__} outside a k-NN model"
        elif isinstance(part, DistanceMetric):
            problem = f"a {type(part).__name__} outside a k-NN search tree"
        if problem is not None:
            raise NasHarnessError(
                f"{path} holds a scikit-learn model with {problem}; nas-harness is refusing to load it "
                "(refit it with `nas-harness surrogate fit`)"
            )
    for part in parts:
        if isinstance(part, KNeighborsRegressor) and part.__dict__.get("_tree") is not None:
            try:
                part.fit(part._fit_X, part._y)  # a fresh search tree over the same points
            except Exception as exc:
                raise NasHarnessError(f"{path} holds a k-NN model whose training points do not fit its settings "
                                      f"({type(exc).__name__}); refit it with `nas-harness surrogate fit`") from None
