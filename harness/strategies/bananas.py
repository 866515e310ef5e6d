"""BANANAS: Bayesian optimisation with an ensemble of neural predictors on the path encoding.

White, Neiswanger & Savani, "BANANAS: Bayesian Optimization with Neural Architectures for Neural
Architecture Search", AAAI 2021 (arXiv:1910.11858). The loop, as in the paper's Algorithm 1:

1. evaluate `num_init` random architectures;
2. fit an ensemble of `num_ensemble` feed-forward networks on the evaluated architectures'
   path encodings (unmeasured, NaN, architectures are left out of the fit);
3. build candidates by mutating the best evaluated architectures;
4. rank candidates by independent Thompson sampling (ITS) from N(mean, std^2) of the ensemble's
   predictions and propose the top `k`; evaluate them; go to 2.

Defaults and their sources. The official code is naszilla/bananas (the paper's repository) and its
successor naszilla/naszilla; "nas_algorithms.bananas" and "params.meta_neuralnet_params" there:

* num_init = 10, k = 10, num_ensemble = 5, explore_type 'its', acq_opt_type 'mutation',
  num_arches_to_mutate = 1 and max_mutation_rate = 1 (here `max_mutations`): the defaults of
  `bananas()` in nas_algorithms.py.
* num_candidates = 100 and patience_factor = 5: defaults of `get_candidates()` (nas_benchmarks.py).
  As there, the best `num_arches_to_mutate * patience_factor` architectures are visited in order
  of score; each contributes `num_candidates // num_arches_to_mutate // max_mutations` rounds of
  one candidate per mutation count 1..max_mutations, duplicates of evaluated (or pending) and of
  earlier candidates are dropped, and visiting stops once `num_candidates` are collected. With
  `acq_opt_type='random'` or `'mutation_random'`, random architectures are added (up to
  `num_candidates` more), also as there.
* Predictor: 10 hidden ReLU layers of width 20 (`num_layers`, `layer_width`), a linear output,
  Glorot-uniform weights and zero biases (Keras `Dense` defaults), mean-absolute-error loss,
  Adam with lr = 0.01, beta_1 = 0.9, beta_2 = 0.99, epsilon = 1e-7 (Keras), batch size 32,
  150 epochs, no regularisation: params.py `nasbench_201_cifar10` / `standard` and
  meta_neural_net.py (the `fit()` signature default of 200 epochs is overridden by params.py).

Deviations, all deliberate:

* The predictor is a small numpy network trained here rather than Keras or scikit-learn's
  MLPRegressor: MLPRegressor has no mean-absolute-error loss (the paper's) and cannot train the
  five members in one vectorised pass, and torch is not a dependency of nas-harness. The five
  members are trained simultaneously as stacked weight tensors, each with its own initialisation
  and its own shuffled mini-batches (as five independent Keras fits), which keeps a 100-evaluation
  NAS-Bench-201 run to about a second. Randomness comes only from the strategy's Generator, and
  fits run with BLAS limited to one thread (threadpoolctl, a scikit-learn dependency): the matrices
  are tiny, so threads only add start-up cost, and a thread-count-dependent summation order would
  make results depend on the machine.
* Mutation uses the search space's own mutation rule (`space.mutate`, one random edit),
  applied `m` times for mutation count m, as NASLib does; the official NAS-Bench-201 code instead
  resampled each edge with probability m/4, which can leave the cell unchanged.
* The encoding is the space's path encoding (for NB201: 84 features, paths through `none` edges do
  not exist), untruncated by default; `path_cutoff` keeps only the first features (shortest paths
  first), the paper's truncation. The official NB201 runs used a 155-feature variant truncated to 30.
* Targets are standardised (`normalize_y`) before fitting and predictions mapped back: ITS ranks
  are unchanged by this affine map, but the networks train equally well whatever the objective's
  units (the paper fitted raw validation error in percent). The predictors are fitted to the
  signed score (larger is better) instead of the validation error.

Refit cost (issue 20): a fit trains for at most `max_fit_steps = 600` mini-batch steps per member
(`fit_epochs`): the paper's 150 epochs until the training set exceeds 4 batches of 32 (128
results), then fewer epochs over more data, so every refit costs the same and a run of N
evaluations costs O(N) instead of O(N^2) (1,000 evaluations: minutes -> well under a minute; the
regret at 100 and 200 evaluations is compared against the unbounded fit, `max_fit_steps = 0`, in
scripts/bench_engine.py and BENCHMARKS.md). `max_fit_steps = 0` reproduces the unbounded behaviour
exactly.

Asynchronous workers: a fitted batch of `k` proposals is handed out one per `ask()`; when it is
exhausted the ensemble is refitted on everything observed so far, so with one worker the refit
schedule is exactly the paper's (every k evaluations). Pending proposals are excluded from the
candidates (no fantasised values). The first fit waits for `num_init` results; until then, and while
fewer than 2 measured (non-NaN) results exist, proposals are random, so workers never idle.
Architectures already evaluated or pending are never proposed again unless every architecture of
the space has been evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from threadpoolctl import threadpool_limits

from harness.spaces.base import SearchSpace
from harness.strategies.acquisition import its_ranking
from harness.strategies.base import Problem, StrategyConfig, StrategyError
from harness.strategies.predictor_base import PredictorStrategy

ACQ_OPT_TYPES = ("mutation", "random", "mutation_random")
LOSSES = ("mae", "mse")


@dataclass
class BananasConfig(StrategyConfig):
    """BANANAS hyperparameters, named and defaulted as in the authors' code (naszilla/bananas)."""
    num_init: int = 10
    k: int = 10
    num_ensemble: int = 5
    num_candidates: int = 100
    num_arches_to_mutate: int = 1
    max_mutations: int = 1
    patience_factor: int = 5
    acq_opt_type: str = "mutation"
    encoding: str = "path"
    path_cutoff: int = 0
    num_layers: int = 10
    layer_width: int = 20
    epochs: int = 150
    batch_size: int = 32
    lr: float = 0.01
    loss: str = "mae"
    normalize_y: bool = True
    # Most Adam steps per member per fit (0: no limit, the paper's 150 epochs whatever the data size;
    # reproduces the pre-issue-20 behaviour exactly). See "Refit cost" in the module docstring.
    max_fit_steps: int = 600

    def check(self) -> None:
        """Counts in range, known option names, and keys that only make sense together."""
        super().check()
        positive = ("num_init", "k", "num_ensemble", "num_candidates", "num_arches_to_mutate", "max_mutations",
                    "patience_factor", "num_layers", "layer_width", "epochs", "batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise StrategyError(f"hyperparameter bananas.{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise StrategyError(f"hyperparameter bananas.lr must be positive, got {self.lr}")
        if self.max_fit_steps < 0:
            raise StrategyError(f"hyperparameter bananas.max_fit_steps must be 0 (no limit) or positive, got "
                                f"{self.max_fit_steps}")
        if self.path_cutoff < 0:
            raise StrategyError("hyperparameter bananas.path_cutoff must be 0 (no truncation) or positive, got "
                                f"{self.path_cutoff}")
        if self.acq_opt_type not in ACQ_OPT_TYPES:
            raise StrategyError(f"hyperparameter bananas.acq_opt_type must be one of {', '.join(ACQ_OPT_TYPES)}, got "
                                f"{self.acq_opt_type!r}")
        if self.loss not in LOSSES:
            raise StrategyError(f"hyperparameter bananas.loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.k > self.num_candidates:
            raise StrategyError(f"bananas.k={self.k} is larger than bananas.num_candidates={self.num_candidates}: a "
                                "batch "
                                "is chosen among the candidates; choose k <= num_candidates")
        if self.path_cutoff and self.encoding != "path":
            raise StrategyError(f"bananas.path_cutoff={self.path_cutoff} truncates the path encoding, but "
                                "bananas.encoding="
                                f"{self.encoding!r}; set encoding=path or path_cutoff=0")


class MLPEnsemble:
    """`n_members` independent ReLU MLPs trained at once with Adam on stacked weight tensors.

    All parameters live in one flat vector (and gradients in another) so the Adam update is a few
    whole-array operations; layer weights are views of shape (n_members, fan_in, fan_out).
    """

    def __init__(self, n_members: int, n_layers: int, width: int, *, lr: float = 0.01, epochs: int = 150,
                 batch_size: int = 32, loss: str = "mae", beta_1: float = 0.9, beta_2: float = 0.99,
                 epsilon: float = 1e-7):
        if loss not in LOSSES:
            raise StrategyError(f"unknown predictor loss {loss!r}; choose one of {', '.join(LOSSES)}")
        self.n_members, self.n_layers, self.width = n_members, n_layers, width
        self.lr, self.epochs, self.batch_size, self.loss = lr, epochs, batch_size, loss
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []

    def _shapes(self, n_features: int) -> list[tuple[int, int]]:
        sizes = [n_features] + [self.width] * self.n_layers + [1]
        return list(zip(sizes[:-1], sizes[1:], strict=False))

    def _views(self, flat: np.ndarray, n_features: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        weights, biases, at, e = [], [], 0, self.n_members
        for fan_in, fan_out in self._shapes(n_features):
            weights.append(flat[at:at + e * fan_in * fan_out].reshape(e, fan_in, fan_out))
            at += e * fan_in * fan_out
            biases.append(flat[at:at + e * fan_out].reshape(e, 1, fan_out))
            at += e * fan_out
        return weights, biases

    def init(self, n_features: int, rng: np.random.Generator) -> None:
        """Glorot-uniform weights, zero biases (the Keras Dense defaults the paper's code used)."""
        shapes = self._shapes(n_features)
        size = sum(self.n_members * (i * o + o) for i, o in shapes)
        self.params = np.zeros(size)
        self.weights, self.biases = self._views(self.params, n_features)
        self._grad = np.zeros(size)
        self._grad_weights, self._grad_biases = self._views(self._grad, n_features)
        for w, (fan_in, fan_out) in zip(self.weights, shapes, strict=False):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w[...] = rng.uniform(-limit, limit, size=w.shape)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Outputs (n_members, batch) for x of shape (batch, d) or (n_members, batch, d)."""
        acts = [x]
        h = x
        last = len(self.weights) - 1
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=False)):
            h = h @ w + b
            if layer < last:
                h = np.maximum(h, 0.0)
                acts.append(h)
        return h[..., 0], acts

    def gradient(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-member losses (n_members,) and the flat gradient, for x (E, B, d) and y (E, B).

        Hand-written backpropagation, checked against finite differences and torch in the tests.
        The returned gradient is an internal buffer, overwritten by the next call.
        """
        out, acts = self.forward(x)
        diff = out - y
        n = y.shape[-1]
        if self.loss == "mae":
            losses = np.abs(diff).mean(axis=-1)
            delta = np.sign(diff) / n
        else:
            losses = (diff**2).mean(axis=-1)
            delta = 2.0 * diff / n
        g_w, g_b = self._grad_weights, self._grad_biases
        delta = delta[..., None]  # (E, B, 1)
        for layer in range(len(self.weights) - 1, -1, -1):
            h = acts[layer]
            g_w[layer][...] = np.swapaxes(h, -1, -2) @ delta
            g_b[layer][...] = delta.sum(axis=1, keepdims=True)
            if layer:
                delta = (delta @ np.swapaxes(self.weights[layer], -1, -2)) * (acts[layer] > 0)
        return losses, self._grad

    def fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> MLPEnsemble:
        """Train every member from a fresh initialisation; each shuffles its own mini-batches."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n = x.shape[0]
        self.init(x.shape[1], rng)
        m = np.zeros_like(self.params)
        v = np.zeros_like(self.params)
        step = 0
        for _ in range(self.epochs):
            order = rng.permuted(np.broadcast_to(np.arange(n), (self.n_members, n)), axis=1)
            for start in range(0, n, self.batch_size):
                rows = order[:, start:start + self.batch_size]
                _, grad = self.gradient(x[rows], y[rows])
                step += 1
                m *= self.beta_1
                m += (1.0 - self.beta_1) * grad
                v *= self.beta_2
                v += (1.0 - self.beta_2) * grad * grad
                lr_t = self.lr * np.sqrt(1.0 - self.beta_2**step) / (1.0 - self.beta_1**step)
                self.params -= lr_t * m / (np.sqrt(v) + self.epsilon)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions (n_members, n) of every member."""
        out, _ = self.forward(np.asarray(x, dtype=np.float64))
        return out


class Bananas(PredictorStrategy[BananasConfig]):
    """BANANAS: an MLP ensemble on the path encoding ranks mutated candidates (module docstring)."""
    name = "bananas"
    Config = BananasConfig

    def __init__(self, space: SearchSpace, problem: Problem, rng: np.random.Generator, config: BananasConfig):
        config = _default_encoding(config, space)
        super().__init__(space, problem, rng, config)
        _check_config(config, space)
        self._queue: list[int] = []  # the current fitted batch, best first

    # ----------------------------------------------------------------- internals
    def _next_index(self) -> int | None:
        while self._queue:
            index = self._queue.pop(0)
            if index not in self._seen:
                return index
        if self._n_told < self.config.num_init or len(self._train_y) < 2:
            return self._random_unseen()
        self._queue = self._propose_batch()
        if not self._queue:
            return None
        return self._queue.pop(0)

    def _mutate(self, arch: str, count: int) -> str:
        for _ in range(count):
            arch = self.space.mutate(arch, self.rng)
        return arch

    def _candidates(self) -> list[int]:
        """Mutations of the best evaluated architectures (and/or random ones), never seen before."""
        cfg = self.config
        candidates, offer = self._candidate_pool()

        if cfg.acq_opt_type in ("mutation", "mutation_random"):
            order = np.argsort(-np.asarray(self._train_y), kind="stable")
            best = [self._train_idx[i] for i in order[: cfg.num_arches_to_mutate * cfg.patience_factor]]
            rounds = max(1, cfg.num_candidates // cfg.num_arches_to_mutate // cfg.max_mutations)
            for parent in best:
                if len(candidates) >= cfg.num_candidates:
                    break
                arch = self.space.arch_at(parent)
                for _ in range(rounds):
                    for count in range(1, cfg.max_mutations + 1):
                        offer(self.space.index_of(self._mutate(arch, count)))
        if cfg.acq_opt_type in ("random", "mutation_random"):
            target = len(candidates) + cfg.num_candidates
            for _ in range(cfg.num_candidates * cfg.patience_factor):
                if len(candidates) >= target:
                    break
                offer(int(self.rng.integers(self.space.size)))
        return candidates

    def _encode(self, indices: list[int]) -> np.ndarray:
        x = self.space.encode([self.space.arch_at(i) for i in indices], self.config.encoding)
        if self.config.encoding == "path" and self.config.path_cutoff > 0:
            x = x[:, : self.config.path_cutoff]
        return x

    def _random_candidates(self, n: int, taken: set[int]) -> list[int]:
        """Up to n distinct random architectures neither seen nor in `taken`."""
        unseen = self._unseen_indices()
        if taken:
            unseen = unseen[~np.isin(unseen, np.fromiter(taken, dtype=np.int64, count=len(taken)))]
        if unseen.size <= n:
            return [int(i) for i in unseen]
        return [int(i) for i in np.sort(self.rng.choice(unseen, size=n, replace=False))]

    def _propose_batch(self) -> list[int]:
        cfg = self.config
        candidates = self._candidates()
        if len(candidates) < cfg.num_candidates:
            # Late in a run the one-edit mutations of the best architectures are all evaluated;
            # top the pool up with random unseen architectures so the model still chooses.
            candidates += self._random_candidates(cfg.num_candidates - len(candidates), set(candidates))
        if not candidates:
            fallback = self._random_unseen()
            return [] if fallback is None else [fallback]
        y = np.asarray(self._train_y)
        shift, scale = 0.0, 1.0
        if cfg.normalize_y:
            shift, scale = float(y.mean()), float(y.std())
            scale = scale if scale > 0 else 1.0
        ensemble = MLPEnsemble(cfg.num_ensemble, cfg.num_layers, cfg.layer_width, lr=cfg.lr,
                               epochs=fit_epochs(cfg, len(y)), batch_size=cfg.batch_size, loss=cfg.loss)
        with threadpool_limits(limits=1):  # tiny matrices: threads cost more than they give, and vary results
            ensemble.fit(np.asarray(self._train_x), (y - shift) / scale, self.rng)
            predictions = ensemble.predict(self._encode(candidates)) * scale + shift
        self.n_fits += 1
        ranking = its_ranking(predictions, self.rng)
        return [candidates[i] for i in ranking[: cfg.k]]


def fit_epochs(cfg: BananasConfig, n: int) -> int:
    """Epochs of a fit on n points: `epochs`, or fewer so that one fit takes at most `max_fit_steps`
    mini-batch steps (at least one epoch). Why: a fit of the paper's 150 epochs costs O(n), so a run
    of N evaluations would cost O(N^2); a bounded fit keeps every refit the same price."""
    if cfg.max_fit_steps <= 0:
        return cfg.epochs
    batches = -(-n // cfg.batch_size)
    return max(1, min(cfg.epochs, cfg.max_fit_steps // batches))


def _default_encoding(cfg: BananasConfig, space: SearchSpace) -> BananasConfig:
    """The default `path` encoding on a space without paths (a user table's structured space) is `onehot`.

    Why: `strategy=bananas` should run on every space that can be encoded; a chain of positions has
    no path encoding, and one-hot is what the paper's encoding study found next best.
    """
    if cfg.encoding == "path" and "path" not in space.encodings and "onehot" in space.encodings and not cfg.path_cutoff:
        return replace(cfg, encoding="onehot")
    return cfg


def _check_config(cfg: BananasConfig, space: SearchSpace) -> None:
    """What BananasConfig.check cannot know: whether the space offers the encoding."""
    if cfg.encoding not in space.encodings:
        raise StrategyError(
            f"hyperparameter bananas.encoding {cfg.encoding!r} is not offered by space {space.name!r}; choose one of "
            f"{', '.join(space.encodings)}"
        )
