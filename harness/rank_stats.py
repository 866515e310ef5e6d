"""Rank statistics between architecture metrics, and concordance of strategy rankings.

Why: a benchmark is only useful if its cheap signals (validation accuracy, 12-epoch accuracy,
zero-cost proxies, latency on one device) rank architectures like the expensive truth (test
accuracy, 200 epochs, latency on another device). This module measures that agreement with the
statistics the NAS literature reports, so the numbers in docs/STATISTICS.md come from one place:

- Spearman rho and Kendall tau-b with their p-values (scipy.stats.spearmanr / kendalltau);
- percentile bootstrap confidence intervals (fixed seed). Spearman replicates are computed for all
  resamples at once from resampling *counts* (no sorting per replicate); Kendall replicates call
  scipy once per resample (tau-b has no cheap vectorised form);
- sparse Kendall tau (NAS-Bench-301, Siems et al. 2020): tau-b after rounding the *predicted*
  values to `decimals` decimals (1 decimal = 0.1 % accuracy), the truth left as is; this is the
  `kendalltau(y_true, np.round(y_pred, decimals=1))` of the NB301 and NASLib evaluation code;
- top-k agreement: the expected fraction of the true top-k (by the first metric) that lies in the
  predicted top-k, ties at the k-th place broken uniformly at random (computed exactly, not
  sampled). With both sets of size k it equals NASLib's precision@k when there are no ties;
- Kendall's W: concordance of strategy rankings across benchmarks or across seed splits.

Metrics come from *sources*, vectors aligned by architecture index (the row of the space's stores):
`BENCHMARK:METRIC` (seed mean, or a static metric), `TABLE.csv:COLUMN` (also .parquet, and pandas
pickles .pd/.pkl/.pickle of plain frames, read by `tabular.safe_pickle`), `ZC.json:DATASET/PROXY`
(NAS-Bench-Suite-Zero zero-cost proxy files). See `parse_spec` for the grammar.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
from scipy import stats

from tabular.errors import NasHarnessError
from tabular.safe_pickle import load_dataframe

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP = 1000
DEFAULT_LEVEL = 0.95
_CHUNK_ELEMENTS = 1 << 20  # bootstrap resamples are drawn and processed in blocks of about this many indices (8 MB per array)


# ---------------------------------------------------------------------------------------------
# Core statistics
# ---------------------------------------------------------------------------------------------
def finite_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The pairs where both values are finite, and how many pairs were dropped (NaN or +-inf)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise NasHarnessError(f"rank statistics need two 1-d arrays of equal length, got shapes {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep], int(keep.size - keep.sum())


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman rho and its two-sided p-value (scipy)."""
    res = stats.spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def kendall(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Kendall tau-b (ties corrected in both variables) and its two-sided p-value (scipy)."""
    res = stats.kendalltau(x, y, variant="b")
    return float(res.statistic), float(res.pvalue)


def sparse_kendall(truth: np.ndarray, pred: np.ndarray, decimals: int = 1, *, round_truth: bool = False) -> tuple[float, float]:
    """NAS-Bench-301's sparse Kendall tau: tau-b after rounding the predictions to `decimals`.

    Rounding makes predictions that differ by less than the rounding step tied, so swaps between
    architectures whose accuracies differ by less than 0.1 % (decimals=1) do not count. NB301 and
    NASLib round only the prediction; `round_truth=True` rounds both (a stricter variant).
    """
    pred = np.round(np.asarray(pred, dtype=np.float64), decimals)
    truth = np.asarray(truth, dtype=np.float64)
    if round_truth:
        truth = np.round(truth, decimals)
    return kendall(truth, pred)


def _resample_blocks(n: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Bootstrap index blocks (rows = resamples); the same (n, n_boot, seed) gives the same indices.

    Each resample is drawn by its own call, so the indices do not depend on the block size.
    """
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < n_boot:
        b = min(rows, n_boot - done)
        yield np.stack([rng.integers(0, n, size=n) for _ in range(b)])
        done += b


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) multiplicity of every original point in each resample."""
    b = idx.shape[0]
    flat = (idx + n * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def _resampled_ranks(groups: np.ndarray, n_groups: int, counts: np.ndarray) -> np.ndarray:
    """Average rank, inside each resample, of every original point (ties share their mean rank).

    `groups` numbers the distinct values in increasing order. A resample holding w_g copies of the
    values in group g ranks them cum_{g'<g} w + (w_g + 1) / 2: exactly what rankdata would give.
    """
    b = counts.shape[0]
    flat = (groups[None, :] + n_groups * np.arange(b)[:, None]).ravel()
    w = np.bincount(flat, weights=counts.ravel(), minlength=b * n_groups).reshape(b, n_groups)
    rank_of_group = np.cumsum(w, axis=1) - w + (w + 1.0) / 2.0
    return np.take_along_axis(rank_of_group, np.broadcast_to(groups, counts.shape), axis=1)


def spearman_replicates(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Spearman rho of every resample `x[idx[b]], y[idx[b]]`, all at once (NaN if a side is constant).

    Each resample is a multiset of the original points, so its Spearman rho is a weighted Pearson
    correlation of the points' ranks within the resample, with the multiplicities as weights.
    """
    n = x.size
    gx = np.unique(x, return_inverse=True)[1].ravel()
    gy = np.unique(y, return_inverse=True)[1].ravel()
    counts = _counts(idx, n)
    rx = _resampled_ranks(gx, int(gx.max()) + 1 if n else 0, counts)
    ry = _resampled_ranks(gy, int(gy.max()) + 1 if n else 0, counts)
    mean = (n + 1.0) / 2.0  # the mean rank of any resample of n points
    dx, dy = rx - mean, ry - mean
    cov = np.einsum("bn,bn,bn->b", counts, dx, dy)
    vx = np.einsum("bn,bn,bn->b", counts, dx, dx)
    vy = np.einsum("bn,bn,bn->b", counts, dy, dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt(vx * vy)


def kendall_replicates(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Kendall tau-b of every resample (one scipy call each)."""
    out = np.empty(idx.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # constant resamples give NaN
        for b, rows in enumerate(idx):
            out[b] = stats.kendalltau(x[rows], y[rows]).statistic
    return out


def percentile_ci(replicates: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (NaN replicates, from constant resamples, ignored)."""
    if not 0 < level < 1:
        raise NasHarnessError(f"confidence level must be in (0, 1), got {level}")
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_correlations(x: np.ndarray, y: np.ndarray, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0,
                           *, kendall_too: bool = True) -> dict[str, np.ndarray]:
    """Bootstrap replicates of Spearman rho and Kendall tau-b over the same resamples (pairs resampled)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if n_boot < 1 or x.size < 2:
        return {"spearman": np.empty(0), "kendall": np.empty(0)}
    parts_s, parts_k = [], []
    for idx in _resample_blocks(x.size, n_boot, seed):
        parts_s.append(spearman_replicates(x, y, idx))
        if kendall_too:
            parts_k.append(kendall_replicates(x, y, idx))
    return {"spearman": np.concatenate(parts_s), "kendall": np.concatenate(parts_k) if parts_k else np.empty(0)}


def top_k_membership(values: np.ndarray, k: int, higher_is_better: bool = True) -> np.ndarray:
    """Probability that each item is in the top k when ties at the k-th place are broken at random.

    Items strictly better than the k-th best value are in for sure; the items tied with it share
    the remaining places equally. The result sums to k.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if not 1 <= k <= n:
        raise NasHarnessError(f"top-k needs 1 <= k <= {n} (the number of architectures compared), got k={k}")
    s = v if higher_is_better else -v
    kth = np.partition(s, n - k)[n - k]  # the k-th largest
    above = s > kth
    tied = s == kth
    weights = above.astype(np.float64)
    weights[tied] = (k - above.sum()) / tied.sum()
    return weights


def top_k_overlap(truth: np.ndarray, pred: np.ndarray, k: int, *, truth_higher: bool = True, pred_higher: bool = True) -> float:
    """Expected fraction of the true top-k that is in the predicted top-k (random tie-breaking).

    With both sets of size k this is also the precision@k of the prediction (NASLib's precision_k).
    """
    wt = top_k_membership(truth, k, truth_higher)
    wp = top_k_membership(pred, k, pred_higher)
    return float(np.dot(wt, wp) / k)


def parse_k(text: str, n: int) -> int:
    """'10' -> 10, '1%' -> 1 % of n (at least 1)."""
    text = text.strip()
    try:
        if text.endswith("%"):
            return max(1, int(round(n * float(text[:-1]) / 100.0)))
        return int(text)
    except ValueError:
        raise NasHarnessError(f"top-k value {text!r} is neither an integer nor a percentage like 1%") from None


@dataclass
class Concordance:
    """Kendall's W for m raters ranking n objects, with Friedman's chi-square test of W = 0."""

    w: float
    chi2: float
    df: int
    p_value: float
    m: int
    n: int
    raters: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    mean_ranks: list[float] = field(default_factory=list)


def kendalls_w(scores: np.ndarray, *, lower_is_better: bool = True, raters: list[str] | None = None,
               objects: list[str] | None = None) -> Concordance:
    """Kendall's coefficient of concordance W of the rankings in the rows of `scores` (m x n).

    Each row (a rater: a benchmark, or one seed split) ranks the n objects (strategies); ties get
    average ranks and W carries the tie correction, W = 12 S / (m^2 (n^3 - n) - m sum_i T_i) with
    T_i = sum (t^3 - t) over the tie groups of rater i. Then chi2 = m (n - 1) W is Friedman's
    statistic, tested on n - 1 degrees of freedom.
    """
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 2:
        raise NasHarnessError(f"Kendall's W needs at least 2 raters and 2 objects (got a {a.shape} table)")
    if not np.isfinite(a).all():
        raise NasHarnessError("Kendall's W needs a finite score for every rater and object")
    m, n = a.shape
    ranks = stats.rankdata(a if lower_is_better else -a, axis=1)
    totals = ranks.sum(axis=0)
    s = float(np.sum((totals - m * (n + 1) / 2.0) ** 2))
    ties = 0.0
    for row in ranks:
        _, t = np.unique(row, return_counts=True)
        ties += float(np.sum(t.astype(np.float64) ** 3 - t))
    denom = m**2 * (n**3 - n) - m * ties
    w = 1.0 if denom == 0 else 12.0 * s / denom  # denom 0: every rater ties every object (trivially concordant)
    chi2 = m * (n - 1) * w
    p = float(stats.chi2.sf(chi2, n - 1))
    return Concordance(w=w, chi2=chi2, df=n - 1, p_value=p, m=m, n=n, raters=list(raters or []),
                       objects=list(objects or []), mean_ranks=(totals / m).tolist())


# ---------------------------------------------------------------------------------------------
# Sources: metric vectors aligned by architecture index
# ---------------------------------------------------------------------------------------------
INDEX_COLUMNS = ("nb201_index", "arch_index", "index")
ARCH_COLUMNS = ("arch_str", "ArchitectureString", "cellstr", "arch")
TABLE_SUFFIXES = (".csv", ".parquet", ".pd", ".pkl", ".pickle", ".json")
STORE_SUFFIXES = (".h5", ".hdf5")


@dataclass
class Source:
    """One metric over every architecture of a space (NaN where the source has no value)."""

    label: str
    values: np.ndarray
    higher_is_better: bool = True
    space: str | None = None
    # A store's architecture ids (its arch strings, in row order) and its name: sources that carry
    # ids are aligned by id, never silently by row (see `align_by_id`).
    keys: np.ndarray | None = None
    origin: str = ""


@dataclass(frozen=True)
class Spec:
    """A parsed source argument: where the data is, which column(s), and modifiers."""

    origin: str  # a benchmark name or a file path
    column: str  # metric/column name, DATASET/FIELD for zero-cost JSON, may contain * and ?
    direction: str | None = None  # "max", "min" or None (the source's own direction)
    fidelity: float | None = None
    key: str | None = None  # table column that names the architecture (index or string)


def _is_origin(text: str) -> bool:
    """A bare argument is an origin if it is an existing file or a benchmark of the catalogue."""
    if Path(text).expanduser().is_file():
        return True
    from harness.benchmarks import benchmark_names

    return text in benchmark_names()


def parse_spec(text: str, default_origin: str | None = None) -> Spec:
    """Parse `ORIGIN:COLUMN[:MOD...]` or a bare `COLUMN[:MOD...]` of `default_origin`.

    ORIGIN is a benchmark name (nb201/cifar10), a store file (.h5) or a table file (.csv, .parquet,
    .pd/.pkl/.pickle, .json). COLUMN may use * and ? wildcards. MODs: `min` or `max` (which end is
    the top for top-k; default: the store's metric direction, else max), `fidelity=F` (store
    metrics; default the highest), `key=COLUMN` (the table column naming the architecture).
    """
    parts = text.split(":")
    bare = len(parts) == 1 or (default_origin is not None and not _is_table(parts[0]) and not _is_origin(parts[0]))
    if bare:
        if default_origin is None:
            raise NasHarnessError(f"{text!r} names no source: write SOURCE:COLUMN (e.g. nb201/cifar10:valid_acc) or give the benchmark first")
        origin, column, mods = default_origin, parts[0], parts[1:]
    else:
        origin, column, mods = parts[0], parts[1], parts[2:]
    if not origin or not column:
        raise NasHarnessError(f"bad source {text!r}: write SOURCE:COLUMN, e.g. nb201/cifar10:valid_acc or table.csv:column")
    direction = fidelity = key = None
    for mod in mods:
        name, eq, value = mod.partition("=")
        if mod in ("min", "max"):
            direction = mod
        elif name == "fidelity" and eq:
            try:
                fidelity = float(value)
            except ValueError:
                raise NasHarnessError(f"bad fidelity {value!r} in {text!r}; write e.g. :fidelity=12") from None
        elif name == "key" and eq and value:
            key = value
        else:
            raise NasHarnessError(f"unknown modifier {mod!r} in {text!r}; use min, max, fidelity=F or key=COLUMN")
    return Spec(origin, column, direction, fidelity, key)


def parse_specs(args: list[str]) -> list[Spec]:
    """Parse positional arguments; a bare origin (`nb201/cifar10`) is the default for bare columns after it."""
    specs: list[Spec] = []
    default: str | None = None
    for arg in args:
        if ":" not in arg and _is_origin(arg):
            default = arg
            continue
        specs.append(parse_spec(arg, default))
    return specs


def _space(name: str):
    from harness.spaces import get_space

    return get_space(name)


def _direction(spec: Spec, native: bool) -> bool:
    return native if spec.direction is None else spec.direction == "max"


def _store_sources(spec: Spec, cache: dict[str, Any]) -> list[Source]:
    from tabular.store import open_store

    if spec.origin not in cache:
        path = Path(spec.origin).expanduser()
        if path.suffix in STORE_SUFFIXES and path.is_file():
            cache[spec.origin] = open_store(path)
        else:
            from harness.benchmarks import load_benchmark

            cache[spec.origin] = load_benchmark(spec.origin).store
    store = cache[spec.origin]
    names = store.metric_names + store.static_names
    chosen = [n for n in names if fnmatch.fnmatchcase(n, spec.column)]
    if not chosen:
        raise NasHarnessError(f"benchmark {spec.origin!r} has no metric {spec.column!r}; available: {', '.join(names)}")
    out = []
    for name in chosen:
        if name in store.metric_names:
            values = np.array(store.seed_mean(name, spec.fidelity), dtype=np.float64)
            native = store.higher_is_better(name)
            fid = store.fidelities[store.fidelity_index(spec.fidelity)]
            label = f"{spec.origin}:{name}" + (f"@{fid:g}" if spec.fidelity is not None else "")
        else:
            if spec.fidelity is not None:
                raise NasHarnessError(f"{name!r} of {spec.origin!r} is a static metric; it has no fidelity")
            values = np.array(store.static(name), dtype=np.float64)
            # As a *predictor* a static metric ranks high values first unless the store says otherwise.
            native = bool(store.metric_attrs(name).get("higher_is_better", True))
            label = f"{spec.origin}:{name}"
        out.append(Source(label, values, _direction(spec, native), store.search_space, _keys(store), spec.origin))
    return out


def _keys(store: Any) -> np.ndarray | None:
    """A store's architecture strings in row order (None for a row-less surrogate benchmark)."""
    keys = getattr(store, "arch_strings", None)
    return None if keys is None else np.asarray(keys, dtype=str)


def _id_comparable(spaces: set[str | None]) -> bool:
    """Whether architecture ids mean the same thing in all these spaces: one space, or all user
    tables of plain ids (`ids:*`), or all declared structured spaces (`structured:*`, whose ids are
    the positions' choices)."""
    if len(spaces) == 1:
        return True
    names = [s or "" for s in spaces]
    return all(n.startswith("ids:") for n in names) or all(n.startswith("structured:") for n in names)


def align_by_id(sources: list[Source]) -> bool:
    """Re-index the sources onto shared architecture ids when stores list different ids; True if done.

    Stores whose rows list the same ids in the same order stay aligned by row (False). Stores that
    list different ids are aligned by id, outer join in first-seen order with NaN where a store
    lacks an id, if every source is such a store and their spaces share ids (`_id_comparable`).
    Otherwise (a table or JSON source aligned by row order or by a space's index is in the mix, or
    the spaces differ) aligning by row would pair different architectures: a one-line error names
    both stores and the first differing id.
    """
    keyed = [s for s in sources if s.keys is not None]
    if not keyed:
        return False
    first = keyed[0]
    other = next((s for s in keyed if not np.array_equal(s.keys, first.keys)), None)
    if other is None:
        return False
    a, b = first.keys, other.keys  # type: ignore[assignment]
    assert a is not None and b is not None
    common = min(a.size, b.size)
    diff = np.flatnonzero(a[:common] != b[:common])
    row = int(diff[0]) if diff.size else common
    where = (f"row {row} is id {str(a[row])!r} in {first.origin} but {str(b[row])!r} in {other.origin}" if row < common
             else f"{first.origin} has {a.size} rows and {other.origin} {b.size}")
    unkeyed = [s.label for s in sources if s.keys is None]
    spaces = {s.space for s in sources}
    if unkeyed or not _id_comparable(spaces):
        reason = (f"{unkeyed[0]} is aligned by row or by its space's index" if unkeyed
                  else f"their spaces ({', '.join(sorted(str(s) for s in spaces))}) do not share ids")
        raise NasHarnessError(f"{first.origin} and {other.origin} list different architecture ids ({where}) and {reason}; "
                              "refusing to align them by row: compare stores of one space, or tables keyed by the same ids")
    union = list(dict.fromkeys(k for s in keyed for k in s.keys.tolist()))  # type: ignore[union-attr]
    position = {k: i for i, k in enumerate(union)}
    keys = np.asarray(union, dtype=str)
    for s in sources:
        values = np.full(len(union), np.nan)
        values[[position[k] for k in s.keys.tolist()]] = s.values  # type: ignore[union-attr]
        s.values, s.keys = values, keys
    log.info("%s and %s list different architecture ids (%s); aligned by id over %d ids", first.origin, other.origin, where, len(union))
    return True


def _read_frame(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path)
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:  # a pandas pickle: only the classes of a plain frame are unpickled, never code
            frame = load_dataframe(path)
    except NasHarnessError:
        raise
    except Exception as exc:  # pandas raises many types for unreadable files
        raise NasHarnessError(f"cannot read table {path} ({type(exc).__name__}: {exc})") from None
    if not isinstance(frame, pd.DataFrame):
        raise NasHarnessError(f"{path} holds a {type(frame).__name__}, not a pandas DataFrame")
    return frame


def _key_columns(frame: pd.DataFrame, path: Path, key: str | None) -> tuple[str | None, str | None]:
    """(integer index column, architecture-string column) of a table; `key` overrides the search."""
    is_int = pd.api.types.is_integer_dtype
    is_text = pd.api.types.is_string_dtype
    if key is not None:
        if key not in frame.columns:
            raise NasHarnessError(f"{path} has no column {key!r} to use as key; columns: {', '.join(map(str, frame.columns))}")
        if is_int(frame[key]):
            return key, None
        if is_text(frame[key]):
            return None, key
        raise NasHarnessError(f"key column {key!r} of {path} holds neither integer indices nor architecture strings")
    index_col = next((c for c in INDEX_COLUMNS if c in frame.columns and is_int(frame[c])), None)
    arch_col = next((c for c in ARCH_COLUMNS if c in frame.columns and is_text(frame[c])), None)
    return index_col, arch_col


def _table_rows(frame: pd.DataFrame, path: Path, key: str | None, space_name: str) -> np.ndarray:
    """Architecture index of every table row, from an index column, an architecture column, or the row order.

    When a table has both an index and an architecture column they must agree: a table whose rows
    were reordered or re-indexed is caught here instead of silently mis-aligned.
    """
    space = _space(space_name)
    index_col, arch_col = _key_columns(frame, path, key)
    from_strings = None
    if arch_col is not None:
        try:
            from_strings = np.array([space.index_of(str(a)) for a in frame[arch_col]], dtype=np.int64)
        except NasHarnessError as exc:
            raise NasHarnessError(f"{path}, column {arch_col!r}: {exc}") from None
    if index_col is not None:
        rows = frame[index_col].to_numpy(dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= space.size):
            raise NasHarnessError(f"{path}, column {index_col!r}: index out of range for space {space_name!r} (0..{space.size - 1})")
        if from_strings is not None and not np.array_equal(rows, from_strings):
            bad = int(np.flatnonzero(rows != from_strings)[0])
            raise NasHarnessError(f"{path}: row {bad} has {index_col}={rows[bad]} but its {arch_col} is index {from_strings[bad]}; "
                                  "the table's key columns disagree")
    elif from_strings is not None:
        rows = from_strings
    elif len(frame) == space.size:
        log.info("%s has no index or architecture column; row i is taken as architecture i", path)
        rows = np.arange(space.size)
    else:
        raise NasHarnessError(f"{path} has no index column ({', '.join(INDEX_COLUMNS)}) or architecture column "
                              f"({', '.join(ARCH_COLUMNS)}) and {len(frame)} rows, not {space.size}; name its key with :key=COLUMN")
    if np.unique(rows).size != rows.size:
        raise NasHarnessError(f"{path} lists some architectures more than once; aggregate the duplicates first")
    return rows


def _table_sources(spec: Spec, path: Path, space_name: str, frames: dict[Path, pd.DataFrame]) -> list[Source]:
    if path not in frames:
        frames[path] = _read_frame(path)
    frame = frames[path]
    keys = {c for c in _key_columns(frame, path, spec.key) if c is not None}
    chosen = [c for c in frame.columns if c == spec.column or (c not in keys and fnmatch.fnmatchcase(str(c), spec.column))]
    if not chosen:
        raise NasHarnessError(f"{path} has no column {spec.column!r}; columns: {', '.join(map(str, frame.columns))}")
    rows = _table_rows(frame, path, spec.key, space_name)
    size = _space(space_name).size
    out = []
    for col in chosen:
        if not pd.api.types.is_numeric_dtype(frame[col]):
            if spec.column == col:
                raise NasHarnessError(f"column {col!r} of {path} is not numeric")
            continue  # a wildcard skips text columns
        values = np.full(size, np.nan)
        values[rows] = frame[col].to_numpy(dtype=np.float64)
        out.append(Source(f"{path.name}:{col}", values, _direction(spec, True), space_name))
    return out


def _zc_sources(spec: Spec, path: Path, space_name: str, docs: dict[Path, Any]) -> list[Source]:
    """NAS-Bench-Suite-Zero zero-cost files: {dataset: {"(op indices)": {proxy: {score, time}, val_accuracy}}}."""
    if path not in docs:
        try:
            docs[path] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise NasHarnessError(f"cannot read JSON {path} ({exc})") from None
    doc = docs[path]
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise NasHarnessError(f"{path} is not a zero-cost proxy file ({{dataset: {{arch: {{proxy: score}}}}}})")
    dataset, sep, fieldpath = spec.column.partition("/")
    if not sep or dataset not in doc:
        raise NasHarnessError(f"write {path.name}:DATASET/FIELD with DATASET one of {', '.join(doc)} (e.g. {path.name}:{next(iter(doc))}/synflow)")
    entries = doc[dataset]
    if space_name != "nb201":
        raise NasHarnessError(f"zero-cost files are aligned to NB201 only (keys are NASLib op_indices); the comparison uses space {space_name!r}")
    from tabular.converters.analog import nb201_codes

    try:
        tuples = np.array([[int(t) for t in k.strip("()[] ").split(",")] for k in entries], dtype=np.int64)
    except ValueError:
        raise NasHarnessError(f"{path}: keys of {dataset!r} are not NASLib op_indices like '(0, 2, 3, 2, 3, 1)'") from None
    if tuples.ndim != 2 or tuples.shape[1] != 6 or tuples.min() < 0 or tuples.max() > 4:
        raise NasHarnessError(f"{path}: keys of {dataset!r} are not NB201 NASLib op_indices (6 codes 0..4)")
    space = _space("nb201")
    rows = space.indices_of_codes(nb201_codes(tuples))
    name, _, part = fieldpath.partition("/")
    part = part or "score"
    first = next(iter(entries.values()))
    fields = [f for f in first if f not in ("idx", "arch") and fnmatch.fnmatchcase(f, name)]
    if not fields:
        raise NasHarnessError(f"{path}: {dataset} has no field {name!r}; fields: {', '.join(f for f in first if f not in ('idx', 'arch'))}")
    out = []
    for f in fields:
        def value(entry: dict[str, Any], f: str = f) -> float:
            v = entry.get(f)
            if isinstance(v, dict):
                v = v.get(part)
            return float(v) if isinstance(v, (int, float)) else math.nan

        values = np.full(space.size, np.nan)
        values[rows] = [value(e) for e in entries.values()]
        suffix = "" if part == "score" or not isinstance(first.get(f), dict) else f"/{part}"
        out.append(Source(f"{path.name}:{dataset}/{f}{suffix}", values, _direction(spec, True), "nb201"))
    return out


def resolve_sources(args: list[str], *, space: str | None = None) -> list[Source]:
    """Turn source arguments into aligned metric vectors (wildcards may give several per argument).

    Tables are aligned to `space` (default: the space of the first benchmark named, else nb201).
    """
    specs = parse_specs(args)
    stores: dict[str, Any] = {}
    frames: dict[Path, pd.DataFrame] = {}
    docs: dict[Path, Any] = {}
    try:
        store_specs = [s for s in specs if not _is_table(s.origin)]
        out_by_spec: dict[int, list[Source]] = {}
        for i, s in enumerate(specs):
            if s in store_specs:
                out_by_spec[i] = _store_sources(s, stores)
        space_name = space or next((src.space for srcs in out_by_spec.values() for src in srcs if src.space), None) or "nb201"
        for i, s in enumerate(specs):
            if i in out_by_spec:
                continue
            path = Path(s.origin).expanduser()
            if not path.is_file():
                raise NasHarnessError(f"table file {path} does not exist")
            if path.suffix.lower() == ".json":
                out_by_spec[i] = _zc_sources(s, path, space_name, docs)
            else:
                if s.fidelity is not None:
                    raise NasHarnessError(f"fidelity= applies to benchmark metrics, not to the table {path.name}")
                out_by_spec[i] = _table_sources(s, path, space_name, frames)
    finally:
        for store in stores.values():
            store.close()
    sources = [src for i in range(len(specs)) for src in out_by_spec[i]]
    if align_by_id(sources):
        return sources
    spaces = sorted({src.space for src in sources if src.space})
    if len(spaces) > 1:
        raise NasHarnessError(f"the sources come from different search spaces ({', '.join(spaces)}); rows can only be aligned within one space")
    sizes = {src.values.size for src in sources}
    if len(sizes) > 1:
        raise NasHarnessError("the sources cover different search spaces (" + ", ".join(f"{s.label}: {s.values.size}" for s in sources) + "); they cannot be aligned by index")
    return sources


def _is_table(origin: str) -> bool:
    path = Path(origin).expanduser()
    return path.suffix.lower() in TABLE_SUFFIXES


# ---------------------------------------------------------------------------------------------
# One comparison
# ---------------------------------------------------------------------------------------------
@dataclass
class PairResult:
    """Rank agreement of `pred` with `truth` over the architectures where both are finite."""

    truth: str
    pred: str
    n_total: int
    n_dropped: int
    n: int
    spearman: float
    spearman_p: float
    kendall: float
    kendall_p: float
    spearman_ci: tuple[float, float] | None = None
    kendall_ci: tuple[float, float] | None = None
    n_boot: int = 0
    level: float = DEFAULT_LEVEL
    sparse_kendall: dict[str, float] = field(default_factory=dict)
    top_k: dict[str, float] = field(default_factory=dict)  # keyed by the k as given ("10", "1%")
    top_k_n: dict[str, int] = field(default_factory=dict)  # the k each key resolved to
    sample: int | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def correlate(truth: Source, pred: Source, *, sample: int | None = None, seed: int = 0, n_boot: int = DEFAULT_BOOTSTRAP,
              level: float = DEFAULT_LEVEL, decimals: tuple[int, ...] = (1,), top_k: tuple[str, ...] = ("10", "1%"),
              kendall_ci: bool = True) -> PairResult:
    """All rank statistics of one pair. `sample` draws that many of the finite pairs (seeded)."""
    x, y, dropped = finite_pairs(truth.values, pred.values)
    if sample is not None:
        if sample < 3 or sample > x.size:
            raise NasHarnessError(f"--sample must be between 3 and the {x.size} architectures where both {truth.label} and {pred.label} are finite")
        pick = np.sort(np.random.default_rng(seed).choice(x.size, size=sample, replace=False))
        x, y = x[pick], y[pick]
    if x.size < 3:
        raise NasHarnessError(f"{truth.label} and {pred.label} share only {x.size} finite values; rank statistics need at least 3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # a constant input gives NaN, reported as such
        rho, rho_p = spearman(x, y)
        tau, tau_p = kendall(x, y)
        sparse = {str(d): sparse_kendall(x, y, d)[0] for d in decimals}
    result = PairResult(truth.label, pred.label, int(truth.values.size), dropped, int(x.size), rho, rho_p, tau, tau_p,
                        level=level, sparse_kendall=sparse, sample=sample, seed=seed)
    for text in top_k:
        k = parse_k(text, x.size)
        if k <= x.size:
            result.top_k[text] = top_k_overlap(x, y, k, truth_higher=truth.higher_is_better, pred_higher=pred.higher_is_better)
            result.top_k_n[text] = k
    if n_boot > 0:
        reps = bootstrap_correlations(x, y, n_boot, seed, kendall_too=kendall_ci)
        result.n_boot = n_boot
        result.spearman_ci = percentile_ci(reps["spearman"], level)
        if kendall_ci:
            result.kendall_ci = percentile_ci(reps["kendall"], level)
    return result


# ---------------------------------------------------------------------------------------------
# Strategy rankings across benchmarks and seed splits
# ---------------------------------------------------------------------------------------------
@dataclass
class StrategyConcordance:
    by: str
    metric: str
    overall: Concordance | None
    per_benchmark: dict[str, Concordance] = field(default_factory=dict)
    dropped_strategies: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def strategy_concordance(results: str | Path, *, by: str = "benchmark", splits: int = 2, seed: int = 0,
                         metric: str = "final", budget: int | None = None, time_budget: float | None = None) -> StrategyConcordance:
    """Kendall's W of strategy rankings (by mean `metric` regret, lower is better) in a results folder.

    by="benchmark": each benchmark ranks the strategies run on every benchmark (all seeds pooled).
    by="seeds": inside each benchmark the seeds of every strategy are shuffled (seeded) and dealt
    into `splits` disjoint groups; each group ranks the strategies, and W says how reproducible the
    ranking is across independent seed sets. `overall` then pools the splits of all benchmarks.
    Final regret and AUC are those of harness.regress, at each run's own budget (evaluations or
    simulated seconds) or cut at `budget` evaluations / `time_budget` simulated seconds.
    """
    from harness.regress import METRICS, group_runs, load_runs

    if metric not in METRICS:
        raise NasHarnessError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if budget is not None and time_budget is not None:
        raise NasHarnessError("give --budget (evaluations) or --time-budget (simulated seconds), not both")
    loaded = load_runs(Path(results), budget, time_budget)
    groups = group_runs(loaded.runs)
    by_bench: dict[str, dict[str, np.ndarray]] = {}
    for (bench, strat), g in sorted(groups.items()):
        by_bench.setdefault(bench, {})[strat] = g.values(metric)
    out = StrategyConcordance(by=by, metric=metric, overall=None, notes=loaded.notes())
    if by == "benchmark":
        common = sorted(set.intersection(*(set(d) for d in by_bench.values())))
        every = sorted(set.union(*(set(d) for d in by_bench.values())))
        out.dropped_strategies = [s for s in every if s not in common]
        if len(by_bench) < 2 or len(common) < 2:
            raise NasHarnessError(f"concordance across benchmarks needs >= 2 benchmarks sharing >= 2 strategies; found benchmarks {sorted(by_bench)} sharing {common}")
        table = np.array([[np.mean(by_bench[b][s]) for s in common] for b in sorted(by_bench)])
        out.overall = kendalls_w(table, raters=sorted(by_bench), objects=common)
        return out
    if by != "seeds":
        raise NasHarnessError(f"unknown concordance mode {by!r}; use benchmark or seeds")
    if splits < 2:
        raise NasHarnessError(f"--splits must be at least 2, got {splits}")
    rng = np.random.default_rng(seed)
    pooled_rows, pooled_raters, objects_all = [], [], None
    for bench in sorted(by_bench):
        strats = sorted(by_bench[bench])
        if len(strats) < 2:
            out.notes.append(f"{bench}: only {strats} ran there; skipped")
            continue
        small = [s for s in strats if by_bench[bench][s].size < splits]
        if small:
            raise NasHarnessError(f"{bench}: strategies {small} have fewer seeds than --splits {splits}")
        rows = np.empty((splits, len(strats)))
        for j, s in enumerate(strats):
            values = rng.permutation(by_bench[bench][s])
            for i in range(splits):
                rows[i, j] = values[i::splits].mean()
        names = [f"{bench}#{i}" for i in range(splits)]
        out.per_benchmark[bench] = kendalls_w(rows, raters=names, objects=strats)
        if objects_all is None or objects_all == strats:
            objects_all = strats
            pooled_rows.append(rows)
            pooled_raters += names
        else:
            out.notes.append(f"{bench}: strategy set differs from the first benchmark's; left out of the pooled W")
    if not out.per_benchmark:
        raise NasHarnessError("no benchmark has at least 2 strategies to rank")
    if len(pooled_rows) > 1:
        out.overall = kendalls_w(np.vstack(pooled_rows), raters=pooled_raters, objects=objects_all)
    return out
