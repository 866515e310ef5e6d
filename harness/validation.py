"""`nas-harness validate`: re-train the picks of a search and see whether the table's ranking holds.

Layer: this module sits with report, regress and rank statistics, above the results reader and the
catalogue, and uses the trainer (`harness.trainer`, a low-level PyTorch library) as a tool; the
trainer never imports it.

A table says what an architecture scored once, on the benchmark authors' pipeline. This module
takes the final incumbents of the runs in a results folder (or architectures given explicitly),
ranks the distinct ones by how many runs picked them (ties: higher table accuracy first, then lower
index), adds a few seeded random architectures of the space for spread, trains each with the same
seeded schedule (harness.trainer.train), and writes:

- `validation.csv`: one row per architecture: how it was chosen, the table accuracy (the
  benchmark's seed-mean validation metric at its highest fidelity), the measured validation and
  test accuracy, parameters, FLOPs (one input), training seconds (and zero-cost proxies with
  `--proxies`);
- `validation.json`: the setting (schedule, network size, data splits with index hashes, device,
  threads, versions), Spearman rho and Kendall tau (tau-b) between table and measured accuracy
  over every validated architecture, and the wall time;
- `validation.png`: measured vs table accuracy, picks and random architectures marked.

Every architecture checkpoints after each epoch under `checkpoints/` and leaves `archs/<index>.json`
when done, so an interrupted validation, run again with the same arguments, resumes where it
stopped and skips finished architectures.

The named schedules (`cpu`, the default, and `paper`) are defaults of the command line
(`harness.validation_cli.SCHEDULES`); here a setting is just its values.
Before training, `validate` times two steps of every network and announces the extrapolated
duration, and it warns when a correlation rests on fewer than `MIN_CORRELATION_N` architectures.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from harness.trainer import BUILDABLE, build_network
from harness.trainer.data import AUGMENT_DEFAULT, Splits, load_dataset
from harness.trainer.proxies import PROXIES, compute_proxies, count_flops, count_parameters
from harness.trainer.train import (
    TrainConfig,
    deterministic,
    estimate_seconds,
    resolve_device,
    seconds_per_step,
    seeded_init,
    train,
)
from tabular.atomic import atomic_path, atomic_write_bytes
from tabular.errors import NasHarnessError

log = logging.getLogger(__name__)

CSV_NAME, JSON_NAME, PLOT_NAME = "validation.csv", "validation.json", "validation.png"
PROXY_BATCH = 64
MEASURED_COLUMNS = ("measured_acc", "test_acc", "params", "flops", "train_seconds", "epochs")
MIN_CORRELATION_N = 5  # below this many architectures a rank correlation says little (and its p-value less)




@dataclass
class Candidate:
    """One architecture to validate and why it was chosen."""

    arch: str
    index: int
    chosen_as: str  # "pick" (an incumbent), "random", or "given" (--archs)
    runs: int = 0  # number of runs whose final incumbent it was
    table_acc: float = math.nan


@dataclass
class ValidationSetting:
    """Everything that decides the measured numbers, besides the architectures."""

    dataset: str = "digits"
    data_root: str | None = None
    limit: int | None = None
    split_seed: int = 0
    image_size: int | None = None  # digits only: the side they are upsampled to (None = 32)
    C: int | None = None
    N: int | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    device: str = "auto"
    threads: int | None = None
    proxies: bool = False


def final_incumbents(results_dir: Path, benchmark: str | None = None) -> tuple[str, Counter[str]]:
    """(benchmark name, how many complete runs ended with each incumbent) of a results folder.

    Runs are found and classified by the one results reader (`harness.results.load_results`), so
    the complete runs counted here are those `report` counts (duplicates and failures left out).
    """
    from harness.results import load_results

    result = load_results(results_dir)
    runs = [r for r in result.complete if benchmark is None or r.benchmark == benchmark]
    names = sorted({r.benchmark for r in runs})
    if not runs:
        have = sorted({r.benchmark for r in result.complete})
        raise NasHarnessError(
            f"no complete run of benchmark {benchmark!r} under {results_dir}; it has {', '.join(have)}"
        )
    if len(names) > 1:
        raise NasHarnessError(
            f"{results_dir} holds runs of several benchmarks ({', '.join(names)}); choose one with --benchmark"
        )
    counts: Counter[str] = Counter()
    for r in runs:
        if r.trajectory is None or len(r.trajectory) == 0:
            continue  # a complete run always has its trajectory; nothing to count otherwise
        arch = r.trajectory["incumbent_arch"].iloc[-1]
        if isinstance(arch, str) and arch:
            counts[arch] += 1
    if not counts:
        raise NasHarnessError(f"no run under {results_dir} recorded an incumbent architecture")
    return names[0], counts


def table_accuracy(bench: Any) -> Any:
    """Seed-mean validation metric by row at the highest fidelity (NaN where unmeasured).

    Why not always an array: a tabulated store gives its array, but a benchmark too large to
    tabulate (a surrogate over the DARTS space, `store.tabulated` False) gives an object whose
    `[row]` predicts on demand, so choosing a few picks never predicts the whole space.
    """
    store = bench.store
    values = store.row_means(store.valid_metric)
    return np.asarray(values, dtype=np.float64) if store.tabulated else values


def choose(
    bench: Any, counts: Counter[str] | None, top_k: int, n_random: int, seed: int, given: list[str] | None = None
) -> list[Candidate]:
    """The top-k incumbents (or the given architectures) plus `n_random` distinct random ones."""
    space, table = bench.space, table_accuracy(bench)
    chosen: list[Candidate] = []
    if given:
        for arch in given:
            i = space.index_of(arch)
            if all(c.index != i for c in chosen):
                chosen.append(Candidate(space.arch_at(i), i, "given", table_acc=float(table[i])))
    elif counts:
        rows = [(arch, space.index_of(arch), n) for arch, n in counts.items()]
        rows.sort(key=lambda r: (-r[2], -np.nan_to_num(table[r[1]], nan=-np.inf), r[1]))
        chosen = [Candidate(space.arch_at(i), i, "pick", n, float(table[i])) for _, i, n in rows[: max(0, top_k)]]
    rng = np.random.default_rng(seed)
    taken = {c.index for c in chosen}
    want, added = max(0, n_random), 0
    # Rejection sampling: random rows of the space, skipping repeats and unmeasured rows.
    for _ in range(100 * want + 1000):
        if added >= want:
            break
        i = int(rng.integers(space.size))
        if i in taken or not np.isfinite(table[i]):
            continue
        taken.add(i)
        chosen.append(Candidate(space.arch_at(i), i, "random", 0, float(table[i])))
        added += 1
    if not chosen:
        raise NasHarnessError("nothing to validate: --top-k and --random are both 0 and no --archs were given")
    return chosen


def correlations(table: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """Spearman rho and Kendall tau-b (with p-values) over the pairs where both are finite."""
    from harness.rank_stats.stats import finite_pairs, kendall, spearman

    x, y, dropped = finite_pairs(np.asarray(table, float), np.asarray(measured, float))
    out = {
        "n": int(x.size),
        "dropped": dropped,
        "spearman_rho": math.nan,
        "spearman_p": math.nan,
        "kendall_tau": math.nan,
        "kendall_p": math.nan,
    }
    if x.size >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        out["spearman_rho"], out["spearman_p"] = spearman(x, y)
        out["kendall_tau"], out["kendall_p"] = kendall(x, y)
    return out


def _proxy_batch(splits: Splits, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed minibatch of the training split (seeded), normalised, for the zero-cost proxies."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(splits.y_train), generator=gen)[:PROXY_BATCH]
    return splits.normalise(splits.x_train[idx]), splits.y_train[idx]


def measure_untrained(space: str, arch: str, splits: Splits, setting: ValidationSetting, seed: int) -> dict[str, float]:
    """Parameters, FLOPs and (optionally) zero-cost proxies of the seeded, untrained network."""
    net = seeded_init(lambda: build_network(space, arch, splits.num_classes, C=setting.C, N=setting.N), seed)
    out: dict[str, float] = {"params": count_parameters(net), "flops": count_flops(net, splits.input_shape)}
    if setting.proxies:
        x, y = _proxy_batch(splits, seed)
        out.update(compute_proxies(net, x, y, seed=seed))
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return _json_safe(value.item())
    return value


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(_json_safe(doc), indent=2, sort_keys=True) + "\n").encode())


def plot(frame: pd.DataFrame, stats: dict[str, float], title: str, path: Path) -> None:
    """Scatter of measured vs table accuracy; picks and random architectures marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    styles = {
        "pick": ("o", "tab:red", "search picks"),
        "given": ("o", "tab:red", "given"),
        "random": ("s", "tab:blue", "random"),
    }
    for kind, (marker, colour, label) in styles.items():
        part = frame[frame["chosen_as"] == kind]
        if len(part):
            ax.scatter(part["table_acc"], part["measured_acc"], marker=marker, color=colour, label=label, alpha=0.8)
    ax.set_xlabel("table accuracy (%)")
    ax.set_ylabel("measured validation accuracy (%)")
    rho, tau = stats.get("spearman_rho", math.nan), stats.get("kendall_tau", math.nan)
    ax.set_title(f"{title}\nSpearman ρ = {rho:.3f}, Kendall τ = {tau:.3f} (n = {stats.get('n', 0)})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def validate(
    out_dir: Path,
    benchmark: str,
    candidates: list[Candidate],
    setting: ValidationSetting,
    *,
    progress: bool = True,
    max_epochs_this_call: int | None = None,
    keep_checkpoints: bool = False,
    announce: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Train every candidate (resuming finished or checkpointed work) and write the outputs.

    Before training, the duration is estimated from two timed steps of every unfinished network
    and passed to `announce` (the CLI prints it; default: logged), so a user knows before waiting.
    """
    from harness.benchmarks import get_spec
    from harness.results import versions

    started, cpu_started = time.perf_counter(), time.process_time()
    space_name = get_spec(benchmark).space
    if space_name not in BUILDABLE:
        raise NasHarnessError(
            f"the trainer cannot build networks of search space {space_name!r} ({benchmark}); "
            f"it builds {', '.join(BUILDABLE)}"
        )
    splits = load_dataset(
        setting.dataset, setting.data_root, seed=setting.split_seed, limit=setting.limit, image_size=setting.image_size
    )
    device = resolve_device(setting.device)
    threads = setting.threads or torch.get_num_threads()
    for sub in ("archs", "checkpoints"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    identities = [_identity(space_name, cand, setting, splits.num_classes, device) for cand in candidates]
    message = _estimate(space_name, candidates, identities, out_dir, splits, setting, device, threads)
    (announce or log.info)(message)
    rows: list[dict[str, Any]] = []
    complete = True
    for n, (cand, identity) in enumerate(zip(candidates, identities, strict=True), start=1):
        key = f"{cand.index:06d}"
        done_path = out_dir / "archs" / f"{key}.json"
        measured = _finished(done_path, identity, setting)
        if measured is None:
            with deterministic(device, threads):
                measured = measure_untrained(space_name, cand.arch, splits, setting, setting.train.seed)
            net = seeded_init(
                lambda arch=cand.arch: build_network(space_name, arch, splits.num_classes, C=setting.C, N=setting.N),
                setting.train.seed,
            )
            ckpt = out_dir / "checkpoints" / f"{key}.pt"
            result = train(
                net,
                splits,
                setting.train,
                device=device,
                checkpoint=ckpt,
                identity=identity,
                max_epochs_this_call=max_epochs_this_call,
                progress=progress,
                desc=f"[{n}/{len(candidates)}] #{cand.index}",
                threads=threads,
            )
            if not result.complete:
                complete = False
                continue
            measured.update(
                measured_acc=result.valid_acc,
                test_acc=result.test_acc,
                train_seconds=result.train_seconds,
                epochs=result.epochs_done,
            )
            _write_json(
                done_path,
                {
                    "identity": identity,
                    "setting": _setting_doc(setting),
                    "measured": measured,
                    "history": result.history,
                },
            )
            if not keep_checkpoints:
                ckpt.unlink(missing_ok=True)
        else:
            log.info("%s: already validated (%s)", cand.arch, done_path)
        row = {
            "chosen_as": cand.chosen_as,
            "runs": cand.runs,
            "index": cand.index,
            "arch": cand.arch,
            "table_acc": cand.table_acc,
        }
        row.update({c: measured[c] for c in MEASURED_COLUMNS})
        row.update({p: measured[p] for p in PROXIES if p in measured})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if not complete:
        log.info("stopped before every architecture finished; run the same command again to resume")
        return frame
    stats = correlations(frame["table_acc"].to_numpy(float), frame["measured_acc"].to_numpy(float))
    warnings = []
    if stats["n"] < MIN_CORRELATION_N:
        warnings.append(
            f"the correlation rests on {stats['n']} architectures, fewer than {MIN_CORRELATION_N}: too few to "
            "rely on; validate more (--top-k, --random)"
        )
        log.warning("%s", warnings[-1])
    with atomic_path(out_dir / CSV_NAME) as tmp:
        frame.to_csv(tmp, index=False)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    _write_json(
        out_dir / JSON_NAME,
        {
            "benchmark": benchmark,
            "table_metric": "seed-mean validation accuracy of the benchmark at its highest fidelity (%)",
            "measured_metric": "validation accuracy after the last epoch (%)",
            "setting": _setting_doc(setting),
            "augment": setting.train.augment or AUGMENT_DEFAULT.get(setting.dataset, "none"),
            "network": {
                "space": space_name,
                "C": setting.C,
                "N": setting.N,
                "default_size": setting.C is None and setting.N is None,
            },
            "data": splits.describe(),
            "device": str(device),
            "threads": threads,
            "correlation": stats,
            "warnings": warnings,
            "wall_seconds_this_call": wall,
            "cpu_seconds_this_call": cpu,
            "train_seconds_total": float(frame["train_seconds"].sum()),
            "versions": versions(),
            "architectures": len(frame),
        },
    )
    plot(frame, stats, f"{benchmark}: table vs re-trained on {setting.dataset}", out_dir / PLOT_NAME)
    log.info(
        "Spearman rho %.3f, Kendall tau %.3f over %d architectures; wrote %s",
        stats["spearman_rho"],
        stats["kendall_tau"],
        stats["n"],
        out_dir / CSV_NAME,
    )
    return frame


def _identity(
    space: str, cand: Candidate, setting: ValidationSetting, num_classes: int, device: torch.device
) -> dict[str, Any]:
    """What a finished architecture's record and checkpoint must match to be reused."""
    return {
        "space": space,
        "arch": cand.arch,
        "C": setting.C,
        "N": setting.N,
        "num_classes": num_classes,
        "device_type": device.type,
        "proxies": setting.proxies,
    }


def _estimate(
    space: str,
    candidates: list[Candidate],
    identities: list[dict[str, Any]],
    out_dir: Path,
    splits: Splits,
    setting: ValidationSetting,
    device: torch.device,
    threads: int,
) -> str:
    """One line: the expected training time, extrapolated from two timed steps of each network to do.

    Finished architectures count zero; a checkpointed one counts its remaining epochs. Timing a
    network costs three steps (about 3 % of the CPU schedule) and changes no result.
    """
    total, todo = 0.0, 0
    for cand, identity in zip(candidates, identities, strict=True):
        key = f"{cand.index:06d}"
        if _finished(out_dir / "archs" / f"{key}.json", identity, setting) is not None:
            continue
        todo += 1
        net = seeded_init(
            lambda arch=cand.arch: build_network(space, arch, splits.num_classes, C=setting.C, N=setting.N),
            setting.train.seed,
        )
        done = _checkpoint_epoch(out_dir / "checkpoints" / f"{key}.pt")
        step = seconds_per_step(net, splits, setting.train, device=device, threads=threads)
        total += estimate_seconds(step, splits, setting.train, max(0, setting.train.epochs - done))
    if todo == 0:
        return f"all {len(candidates)} architectures are already validated in {out_dir}; nothing to train"
    return (
        f"estimate: about {_duration(total)} to train {todo} network(s) for {setting.train.epochs} epochs on "
        f"{device} with {threads} thread(s) (extrapolated from 2 timed training steps of each; the machine's "
        "current load is included, a change in load changes it)"
    )


def _checkpoint_epoch(path: Path) -> int:
    """Epochs already done in a checkpoint (0 when there is none or it cannot be read here)."""
    if not path.is_file():
        return 0
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True).get("epoch", 0))
    except Exception:  # noqa: BLE001 - a damaged checkpoint is reported by train(); the estimate just ignores it
        return 0


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _finished(path: Path, identity: dict[str, Any], setting: ValidationSetting) -> dict[str, Any] | None:
    """The measured values of an architecture finished earlier with the same identity and setting."""
    if not path.is_file():
        return None
    try:
        done = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a damaged record is simply measured again
    if done.get("identity") != _json_safe(identity) or done.get("setting") != _json_safe(_setting_doc(setting)):
        return None
    measured = done.get("measured") or {}
    return measured if all(c in measured for c in MEASURED_COLUMNS) else None


def _setting_doc(setting: ValidationSetting) -> dict[str, Any]:
    doc = asdict(setting)
    if doc["image_size"] is None:
        doc.pop("image_size")  # records written before the option existed stay reusable
    doc.pop("device")  # where it ran is recorded separately; it does not change what a finished row means
    doc.pop("threads")
    return doc


def proxy_table(
    benchmark: str,
    *,
    archs: list[str] | None,
    sample: int,
    sample_seed: int,
    setting: ValidationSetting,
    out: Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Zero-cost proxies, parameters and FLOPs of untrained networks, with the table's accuracy.

    The CSV has `index` and `arch_str` columns, so `nas-harness rank-stats BENCH:METRIC FILE:synflow`
    aligns it with any benchmark of the space. Each network is initialised with `setting.train.seed`
    and scored on the same fixed minibatch of the training split. `progress` shows a bar on a
    terminal (never in a pipe or log), since a sample of hundreds of cells takes minutes.
    """
    from tqdm.auto import tqdm

    from harness.benchmarks import get_spec, load_benchmark

    space_name = get_spec(benchmark).space
    if space_name not in BUILDABLE:
        raise NasHarnessError(
            f"the trainer cannot build networks of search space {space_name!r} ({benchmark}); "
            f"it builds {', '.join(BUILDABLE)}"
        )
    if out is not None and out.exists() and not force:
        raise NasHarnessError(f"{out} exists; pass --force to overwrite it")
    bench = load_benchmark(benchmark)
    try:
        candidates = choose(bench, None, 0, 0 if archs else sample, sample_seed, given=archs)
        valid_metric = bench.store.valid_metric
    finally:
        bench.store.close()
    splits = load_dataset(
        setting.dataset, setting.data_root, seed=setting.split_seed, limit=setting.limit, image_size=setting.image_size
    )
    device = resolve_device(setting.device)
    rows = []
    bar = tqdm(candidates, desc="proxies", unit="arch", file=sys.stderr, disable=None if progress else True)
    with deterministic(device, setting.threads), bar:
        for cand in bar:
            m = measure_untrained(space_name, cand.arch, splits, replace(setting, proxies=True), setting.train.seed)
            rows.append({"index": cand.index, "arch_str": cand.arch, f"table_{valid_metric}": cand.table_acc, **m})
    frame = pd.DataFrame(rows)
    frame.attrs["valid_metric"] = valid_metric
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            frame.to_csv(tmp, index=False)
    return frame
