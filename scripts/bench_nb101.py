"""Benchmark the NB101 tfrecord reader and the resulting store (BENCHMARKS.md, "NB101 conversion").

Generates official-format tfrecord files (real framing and protobuf, synthetic metric values, distinct
valid NB101 cells with their official hashes), converts each one in a fresh subprocess and reports:

- conversion throughput (records/s, MB/s) and the subprocess's peak RSS, for files with the same
  cells but different numbers of records (peak memory should not follow the file size);
- store open time (fresh subprocess, page cache evicted) and query throughput on the result;
- `index_of` throughput for canonical and re-spelled cells.

    python scripts/bench_nb101.py [--cells 100000] [--keep DIR] [--json out.json]

The generated files live in a temporary folder that is deleted at the end (unless --keep).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.spaces.nb101 import graph_hash  # noqa: E402
from tabular.converters.nb101_tfrecord import EPOCHS, encode_model_metrics, frame_records  # noqa: E402


def distinct_cells(n: int, seed: int = 0) -> list[tuple[str, str, list[str]]]:
    """n distinct valid 7-vertex cells as (official hash, adjacency string, ops), like most of
    NB101's (359k of its 423k cells have 7 vertices). Each interior vertex gets an edge from a random
    earlier vertex and to a random later one (so nothing is pruned), plus random extra edges up to
    9; every cell is checked and canonicalised, and duplicates (isomorphic draws) are dropped."""
    from harness.spaces.nb101 import EDGE_SLOTS, arch_from_codes, parse, to_cell

    slot = {pair: k for k, pair in enumerate((int(x), int(y)) for x, y in EDGE_SLOTS)}
    rng = np.random.default_rng(seed)
    seen: dict[str, tuple[str, str, list[str]]] = {}
    while len(seen) < n:
        edges = np.zeros(21, dtype=np.int64)
        for v in range(1, 6):
            edges[slot[(int(rng.integers(v)), v)]] = 1
            edges[slot[(v, int(rng.integers(v + 1, 7)))]] = 1
        extra = rng.permutation(np.flatnonzero(edges == 0))[
            : max(0, int(rng.integers(0, 4)) - max(0, int(edges.sum()) - 9))
        ]
        edges[extra] = 1
        if edges.sum() > 9:
            continue
        arch = arch_from_codes(edges, rng.integers(0, 3, size=5))
        if arch is None or arch in seen:
            continue
        matrix, op_names = parse(arch)
        seen[arch] = (graph_hash(*to_cell(matrix, op_names)), "".join(map(str, matrix.reshape(-1).tolist())), op_names)
    return list(seen.values())


def write_file(path: Path, cells: list[tuple[str, str, list[str]]], epochs: tuple[int, ...], seed: int = 1) -> int:
    """Write 3 records per (cell, budget), budget-major; returns the number of records."""
    rng = np.random.default_rng(seed)
    count = 0
    with open(path, "wb") as handle:
        for e in epochs:
            for start in range(0, len(cells), 20000):
                batch = cells[start:start + 20000]
                acc = rng.uniform(0.1, 0.95, size=(len(batch), 3, 3))
                times = rng.uniform(100, 5000, size=(len(batch), 3))
                payloads = []
                for k, (h, adj, ops) in enumerate(batch):
                    for r in range(3):
                        a = acc[k, r]
                        evals = [
                            [0.0, 0.0, 0.1, 0.1, 0.1],
                            [e / 2, times[k, r] / 2, *(a * 0.9)],
                            [float(e), times[k, r], *a],
                        ]
                        blob = base64.b64encode(encode_model_metrics(evals, 1_000_000 + k, times[k, r] * 1.1)).decode()
                        payloads.append(json.dumps([h, e, adj, ",".join(ops), blob]).encode())
                handle.write(frame_records(payloads))
                count += len(payloads)
    return count


_CONVERT = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from harness.catalog.nb101 import cell_rules
from tabular.converters.nb101_tfrecord import convert
t = time.perf_counter()
convert({src!r}, {out!r}, rules=cell_rules(), force=True, progress=False)
wall = time.perf_counter() - t
print(json.dumps({{"wall": wall, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""

_BASE = """
import json, resource, sys
sys.path.insert(0, {root!r})
import tabular.converters.nb101_tfrecord, tabular.writer, harness.spaces.nb101, tqdm
print(json.dumps({{"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""

_OPEN = """
import json, os, sys, time
sys.path.insert(0, {root!r})
import numpy as np
from tabular.store import open_store
fd = os.open({path!r}, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)
t = time.perf_counter()
store = open_store({path!r})
opened = time.perf_counter() - t
rows = np.random.default_rng(0).integers(store.n_archs, size=10_000)
store.query("valid_acc", rows, seed_policy="mean")
first = time.perf_counter() - t
print(json.dumps({{"open": opened, "first_query": first}}))
"""


def run_py(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def query_throughput(path: Path) -> dict:
    from harness.spaces import get_space
    from tabular.store import open_store

    store = open_store(path)
    rng = np.random.default_rng(0)
    out = {}
    for policy in ("mean", "fixed", "sample"):
        rows = rng.integers(store.n_archs, size=1_000_000)
        kwargs = {"seed": 0} if policy == "fixed" else {"rng": rng} if policy == "sample" else {}
        store.query("valid_acc", rows, seed_policy=policy, **kwargs)  # warm-up (maps, caches)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            store.query("valid_acc", rows, seed_policy=policy, **kwargs)
            times.append(time.perf_counter() - t)
        out[f"query_{policy}_per_s"] = len(rows) / float(np.median(times))
    space = get_space("nb101").bind_store(store)
    t = time.perf_counter()
    space.index_of(space.arch_at(0))  # builds the string -> row table
    out["index_table_build_s"] = time.perf_counter() - t
    archs = [space.arch_at(int(i)) for i in rng.integers(store.n_archs, size=100_000)]
    t = time.perf_counter()
    for a in archs:
        space.index_of(a)
    out["index_of_canonical_per_s"] = len(archs) / (time.perf_counter() - t)
    # Re-spelled: the same cells with an extra dangling vertex (needs pruning and the canonical form).
    respelled = [_spelling(*_pad_spec(*space.cell(a))) for a in archs[:5000]]
    t = time.perf_counter()
    for a in respelled:
        space.index_of(a)
    out["index_of_respelled_per_s"] = len(respelled) / (time.perf_counter() - t)
    store.close()
    return out


def _pad_spec(matrix: np.ndarray, labels: tuple[int, ...]) -> tuple[np.ndarray, list[str]]:
    """A 7-vertex spelling with an extra dangling vertex (so it needs pruning) where possible."""
    from harness.spaces.nb101 import OPS

    v = matrix.shape[0]
    big = np.zeros((v + 1, v + 1), dtype=np.int8)
    big[:v - 1, :v - 1] = matrix[:v - 1, :v - 1]
    big[:v - 1, v] = matrix[:v - 1, v - 1]
    big[0, v - 1] = 1  # the extra vertex v-1 hangs off the input and leads nowhere
    ops = ["input", *(OPS[x] for x in labels[1:-1]), "maxpool3x3", "output"]
    return big, ops


def _spelling(matrix: np.ndarray, ops: list[str]) -> str:
    from harness.spaces.nb101 import OPS, SHORT_OPS

    v = matrix.shape[0]
    rows = ".".join("".join(str(int(matrix[i, j])) for j in range(i + 1, v)) for i in range(v - 1))
    return rows + "|" + ",".join(SHORT_OPS[OPS.index(o)] for o in ops[1:-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=100_000, help="distinct cells in the generated files")
    parser.add_argument("--keep", type=Path, default=None, help="write the files here and keep them")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    report: dict = {
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    }
    with tempfile.TemporaryDirectory(prefix="bench_nb101_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        cells = distinct_cells(args.cells)
        report["generate_cells_s"] = time.perf_counter() - t
        report["baseline_rss_mb"] = run_py(_BASE.format(root=str(ROOT)))["maxrss_kb"] / 1024
        for label, epochs in (("108-only layout", (108,)), ("full layout", EPOCHS)):
            src = folder / f"{label.split()[0]}.tfrecord"
            t = time.perf_counter()
            records = write_file(src, cells, epochs)
            written = time.perf_counter() - t
            size = src.stat().st_size
            out = folder / f"{label.split()[0]}.h5"
            res = run_py(_CONVERT.format(root=str(ROOT), src=str(src), out=str(out)))
            row = {
                "records": records, "cells": len(cells), "file_mb": size / 1e6, "write_s": written,
                "convert_s": res["wall"], "records_per_s": records / res["wall"], "mb_per_s": size / 1e6 / res["wall"],
                "peak_rss_mb": res["maxrss_kb"] / 1024, "store_mb": out.stat().st_size / 1e6,
            }
            opens = [run_py(_OPEN.format(root=str(ROOT), path=str(out))) for _ in range(5)]
            row["open_ms_median"] = 1000 * float(np.median([o["open"] for o in opens]))
            row["open_first_query_ms_median"] = 1000 * float(np.median([o["first_query"] for o in opens]))
            row.update(query_throughput(out))
            report[label] = row
            print(json.dumps({label: row}, indent=1), flush=True)
            if args.keep is None:
                src.unlink()
    report["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
