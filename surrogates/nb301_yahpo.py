"""NAS-Bench-301 through YAHPO Gym's ONNX surrogate (yahpo_data `nb301`, version 1).

The folder holds `model.onnx`, `config_space.json` and `encoding.json`. The model (a feed-forward
network exported from PyTorch) takes

* `x_cat`: int32 (1, 34): the 34 architecture hyperparameters in YAHPO's order for this model
  (edge_normal_0..13, edge_reduce_0..13, inputs_node_normal_3..5, inputs_node_reduce_3..5, edges
  numbered as in NB301's configuration), each integer-coded by `encoding.json` (alphabetical
  codes, `#na#` = 0 for an edge its node does not use);
* `x_cont`: float32 (1, 1): the epoch, 1..98 (`config_space.json`);

and returns (1, 2): validation accuracy (%) and runtime (seconds) at that epoch. The runtime is
cumulative (it grows with the epoch), which is the store convention for costs, so the benchmark is
multi-fidelity with fidelities 1..98. The model is deterministic: the benchmark has one seed.
The export fixes the batch size at 1, so architectures are run one at a time (~0.4 ms each).
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from harness.spaces.darts import CELLS, EDGE_START, OPS, PAIRS, parse
from tabular.errors import NasHarnessError, SourceMissingError
from tabular.hashing import sha256_file

log = logging.getLogger(__name__)

FILES = ("model.onnx", "config_space.json", "encoding.json")
_PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
CAT_NAMES = tuple(
    [f"{_PREFIX}edge_{cell}_{e}" for cell in CELLS for e in range(14)]
    + [f"{_PREFIX}inputs_node_{cell}_{t}" for cell in CELLS for t in (3, 4, 5)]
)
TARGETS = ("val_accuracy", "runtime")
EPOCHS = (1, 98)


def check_folder(folder: Path) -> None:
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise SourceMissingError(
            f"YAHPO NB301 surrogate files {', '.join(missing)} not found in {folder}; copy the `nb301` folder of "
            "https://github.com/slds-lmu/yahpo_data (v1.0: model.onnx, config_space.json, encoding.json) there"
        )


class YahpoNB301:
    """Predictor of validation accuracy and cumulative runtime per epoch for DARTS architectures."""

    space = "darts"
    fidelity_name = "epoch"
    noisy = False
    roles = {"valid_metric": "val_accuracy", "test_metric": "", "cost_metric": "runtime"}

    def __init__(self, folder: str | Path, *, name: str = "nb301/yahpo"):
        self.folder = self.path = Path(folder)
        self.name = name
        check_folder(self.folder)
        self.encoding = json.loads((self.folder / "encoding.json").read_text())
        self._check_config_space(json.loads((self.folder / "config_space.json").read_text()))
        hashes = {f: sha256_file(self.folder / f) for f in FILES}
        self.file_hashes = hashes
        self.sha256 = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()
        self._session: Any = None
        self._cache: OrderedDict[tuple[str, float], np.ndarray] = OrderedDict()
        # Integer code of op / input pair per position, from encoding.json (not assumed).
        self._op_code = [np.array([self.encoding[n][op] for op in OPS]) for n in CAT_NAMES[:28]]
        self._pair_code = [
            np.array([self.encoding[n][f"{a}_{b}"] for a, b in PAIRS[t]])
            for n, t in zip(CAT_NAMES[28:], (1, 2, 3, 1, 2, 3), strict=True)
        ]

    def _check_config_space(self, cs: dict[str, Any]) -> None:
        hps = {h["name"]: h for h in cs.get("hyperparameters", [])}
        problems = [n for n in CAT_NAMES if n not in hps or n not in self.encoding]
        if problems or "epoch" not in hps:
            raise NasHarnessError(
                f"{self.folder} does not look like YAHPO's nb301 v1 surrogate (missing {problems[:3] or ['epoch']})"
            )
        for n in CAT_NAMES[:28]:
            if tuple(hps[n]["choices"]) != OPS:
                raise NasHarnessError(
                    f"{self.folder}: {n} has choices {hps[n]['choices']}, expected the NB301 ops {list(OPS)}"
                )
        if (hps["epoch"].get("lower"), hps["epoch"].get("upper")) != EPOCHS:
            raise NasHarnessError(
                f"{self.folder}: epoch range {hps['epoch'].get('lower')}..{hps['epoch'].get('upper')}, expected 1..98"
            )

    @property
    def session(self) -> Any:
        if self._session is None:
            try:
                import onnxruntime as ort
            except ImportError:
                raise NasHarnessError("nb301/yahpo needs onnxruntime: pip install onnxruntime") from None
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1  # one thread: deterministic and friendly to grid workers
            options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                str(self.folder / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
            )
            names = [i.name for i in self._session.get_inputs()]
            shapes = [list(i.shape) for i in self._session.get_inputs()]
            if names != ["x_cat", "x_cont"] or shapes[0][-1] != len(CAT_NAMES) or shapes[1][-1] != 1:
                raise NasHarnessError(
                    f"{self.folder}/model.onnx has inputs {names} {shapes}, "
                    "not YAHPO nb301 v1's x_cat (1, 34), x_cont (1, 1)"
                )
        return self._session

    @property
    def fidelities(self) -> np.ndarray:
        return np.arange(EPOCHS[0], EPOCHS[1] + 1, dtype=np.float64)

    @property
    def metric_info(self) -> dict[str, dict[str, Any]]:
        return {
            "val_accuracy": {
                "unit": "%",
                "higher_is_better": True,
                "description": "YAHPO NB301 v1 predicted validation accuracy",
            },
            "runtime": {
                "unit": "s",
                "higher_is_better": False,
                "description": "YAHPO NB301 v1 predicted training time up to the epoch",
            },
        }

    @property
    def provenance(self) -> dict[str, Any]:
        return {
            "surrogate": self.name,
            "surrogate_path": str(self.folder),
            "surrogate_sha256": self.sha256,
            "files": self.file_hashes,
            "source": "YAHPO Gym nb301 v1 ONNX surrogate (yahpo_data, Apache-2.0), trained on NAS-Bench-301's data",
            "deterministic": True,
        }

    def x_cat(self, arch: str) -> np.ndarray:
        """The (1, 34) int32 model input of one architecture."""
        x = np.zeros((1, len(CAT_NAMES)), dtype=np.int32)
        for c, nodes in enumerate(parse(arch)):
            for t, node in enumerate(nodes):
                for src, op in node:
                    pos = c * 14 + EDGE_START[t] + src
                    x[0, pos] = self._op_code[pos][op]
                if t > 0:
                    x[0, 28 + 3 * c + t - 1] = self._pair_code[3 * c + t - 1][PAIRS[t].index((node[0][0], node[1][0]))]
        return x

    def _epoch(self, fidelity: float | None) -> float:
        epoch = float(EPOCHS[1] if fidelity is None else fidelity)
        if epoch != int(epoch) or not EPOCHS[0] <= epoch <= EPOCHS[1]:
            raise NasHarnessError(f"nb301/yahpo predicts epochs {EPOCHS[0]}..{EPOCHS[1]}, not {fidelity}")
        return epoch

    def outputs(self, archs: list[str], fidelity: float | None = None) -> np.ndarray:
        """(n, 2) raw model outputs (val_accuracy %, runtime s) at one epoch."""
        epoch = self._epoch(fidelity)
        x_cont = np.array([[epoch]], dtype=np.float32)
        out = np.empty((len(archs), 2))
        for i, arch in enumerate(archs):
            key = (arch, epoch)
            hit = self._cache.get(key)
            if hit is None:
                hit = np.asarray(
                    self.session.run(None, {"x_cat": self.x_cat(arch), "x_cont": x_cont})[0][0], dtype=np.float64
                )
                self._cache[key] = hit
                if len(self._cache) > 100_000:
                    self._cache.popitem(last=False)
            out[i] = hit
        return out

    def predict(self, metric: str, archs: list[str], fidelity: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        if metric not in TARGETS:
            raise NasHarnessError(f"nb301/yahpo predicts {', '.join(TARGETS)}, not {metric!r}")
        values = self.outputs(list(archs), fidelity)[:, TARGETS.index(metric)]
        return values, np.zeros_like(values)


__all__ = ["CAT_NAMES", "YahpoNB301", "check_folder"]
