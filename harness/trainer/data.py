"""Image classification data for the trainer, from local files only, with fixed splits.

Why: re-training the picks of a search must not depend on a download, and its numbers must say
exactly which images trained and scored each network. Datasets:

- `digits` (the offline default): scikit-learn's copy of the UCI optical digits (1,797 8x8
  grayscale images, 10 classes), real data that ships with a dependency. Images are scaled to
  [0, 1], upsampled bilinearly to 32x32 (the NB201 input size) and repeated to 3 channels, so the
  networks keep their official stem and parameter counts. Split: stratified 60/20/20 train /
  validation / test, drawn with a numpy Generator from `split_seed`.
- `cifar10` / `cifar100`: the python-pickle batches of https://www.cs.toronto.edu/~kriz/cifar.html
  (cifar-10-batches-py: data_batch_1..5, test_batch, batches.meta; cifar-100-python: train, test,
  meta) in a folder the user names. Validation = a stratified 10 % of the official training set
  (seeded), train = the rest, test = the official test set.
- `imagenet16-120`: the ImageNet16 files of NB201 (train_data_batch_1..10, val_data: pickles of
  'data' N x 768 uint8 and 1-based 'labels'), keeping classes 1..120 like NB201. Validation and
  test are the two seeded stratified halves of val_data (NB201 also splits it in halves).

Images are kept as uint8 (or float for digits) NCHW tensors and normalised per batch with the
per-channel mean and standard deviation of the training split. `Splits.describe()` records sizes,
seed and a sha256 of the index lists, written next to every validation result.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from tabular import safe_pickle
from tabular.data_dir import data_dir
from tabular.errors import NasHarnessError, SourceMissingError

log = logging.getLogger(__name__)

DATASETS = ("digits", "cifar10", "cifar100", "imagenet16-120")
NUM_CLASSES = {"digits": 10, "cifar10": 10, "cifar100": 100, "imagenet16-120": 120}
AUGMENT_DEFAULT = {"digits": "none", "cifar10": "crop_flip", "cifar100": "crop_flip", "imagenet16-120": "crop_flip"}
AUGMENTATIONS = ("none", "crop", "crop_flip")
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
_DISPLAY = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


@dataclass
class Splits:
    """Train / validation / test tensors of one dataset plus what is needed to reproduce them."""

    name: str
    num_classes: int
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_valid: torch.Tensor
    y_valid: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor = field(init=False)
    std: torch.Tensor = field(init=False)
    source: str = ""
    split_seed: int = 0
    indices: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        x = self.x_train.double() / self.scale
        self.mean = x.mean(dim=(0, 2, 3)).float()
        self.std = x.std(dim=(0, 2, 3)).clamp_min(1e-6).float()

    @property
    def scale(self) -> float:
        return 255.0 if self.x_train.dtype == torch.uint8 else 1.0

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.x_train.shape[1:])  # type: ignore[return-value]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw images (uint8 or [0, 1] floats) -> float32 standardised with the train statistics."""
        x = x.float() / self.scale if self.scale != 1.0 else x.float()
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)

    def raw_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Raw images as float32 in [0, 1] (for augmentation before normalisation)."""
        return x.float() / self.scale if self.scale != 1.0 else x.float()

    def standardise(self, x_unit: torch.Tensor) -> torch.Tensor:
        return (x_unit - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)

    def describe(self) -> dict[str, Any]:
        """What the output records about the data: enough to rebuild and to check the splits."""
        return {
            "dataset": self.name,
            "source": self.source,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "split_seed": self.split_seed,
            "sizes": {"train": len(self.y_train), "valid": len(self.y_valid), "test": len(self.y_test)},
            "indices_sha256": {k: _sha(v) for k, v in self.indices.items()},
            "mean": [round(float(v), 6) for v in self.mean],
            "std": [round(float(v), 6) for v in self.std],
        }


def _sha(indices: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(indices, dtype=np.int64).tobytes()).hexdigest()


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Indices of each part, per class in proportion to `fractions` (sorted within each part).

    Each class's indices are permuted with numpy's Generator(seed) (the same permutation on every
    platform); the first part gets round(n * f0) of them, the next round(n * (f0 + f1)) - ..., and
    the last part the rest.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(fractions)[:-1]
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        bounds = np.rint(cuts * members.size).astype(np.int64)
        for k, chunk in enumerate(np.split(members, bounds)):
            parts[k].append(chunk)
    return [np.sort(np.concatenate(p)) for p in parts]


def _limit(indices: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most `limit` indices, a seeded uniform subset (for quick runs and tests)."""
    if limit is None or indices.size <= limit:
        return indices
    rng = np.random.default_rng([seed, indices.size])
    return np.sort(rng.choice(indices, size=limit, replace=False))


def _make(name: str, images: torch.Tensor, labels: np.ndarray, parts: list[np.ndarray], source: str, seed: int,
          limit: int | None, test_images: torch.Tensor | None = None, test_labels: np.ndarray | None = None) -> Splits:
    train, valid = parts[0], parts[1]
    train, valid = _limit(train, limit, seed), _limit(valid, limit, seed + 1)
    y = torch.as_tensor(labels, dtype=torch.int64)
    if test_images is None:
        test = _limit(parts[2], limit, seed + 2)
        x_test, y_test = images[test], y[test]
    else:
        test = _limit(np.arange(len(test_labels)), limit, seed + 2)
        x_test, y_test = test_images[test], torch.as_tensor(test_labels, dtype=torch.int64)[test]
    return Splits(name, NUM_CLASSES[name], images[train], y[train], images[valid], y[valid], x_test, y_test,
                  source=source, split_seed=seed, indices={"train": train, "valid": valid, "test": test})


# -- digits -------------------------------------------------------------------------------------
def load_digits(seed: int = 0, size: int = 32, limit: int | None = None) -> Splits:
    """scikit-learn's digits, upsampled to size x size and repeated to 3 channels; 60/20/20 split."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (1797, 1, 8, 8), [0, 1]
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)
    images = images.repeat(1, 3, 1, 1).contiguous()
    labels = np.asarray(bunch.target, dtype=np.int64)
    parts = stratified_split(labels, (0.6, 0.2, 0.2), seed)
    return _make(
        "digits",
        images,
        labels,
        parts,
        f"sklearn.datasets.load_digits, bilinear 8x8->{size}x{size}, 3 channels",
        seed,
        limit,
    )


# -- CIFAR ----------------------------------------------------------------------------------------
_CIFAR_FILES = {
    "cifar10": (
        [f"data_batch_{i}" for i in range(1, 6)],
        "test_batch",
        "batches.meta",
        b"labels",
        "cifar-10-batches-py",
    ),
    "cifar100": (["train"], "test", "meta", b"fine_labels", "cifar-100-python"),
}


def _read_pickle(path: Path, what: str) -> Any:
    """A pickle from a folder the user named, with the plain-data allow-list of
    `tabular.safe_pickle` (CIFAR and ImageNet16 batches are dicts of lists and numpy arrays), so a
    file naming any other Python object is refused instead of run. `bytes` decodes Python 2 strings."""
    return safe_pickle.load_path(path, allowed=safe_pickle.PLAIN_GLOBALS, what=what, encoding="bytes",
                                 hint="use the original python version of the dataset",
                                 damaged="replace it with the original file")


def _batch(path: Path, label_key: bytes, side: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    doc = _read_pickle(path, what)
    if isinstance(doc, dict):
        doc = {k.encode() if isinstance(k, str) else k: v for k, v in doc.items()}
    if not isinstance(doc, dict) or b"data" not in doc or label_key not in doc:
        raise NasHarnessError(f"{path} is not a {what}: expected a pickled dict with {b'data'!r} and {label_key!r}")
    data = np.asarray(doc[b"data"])
    labels = np.asarray(doc[label_key], dtype=np.int64)
    pixels = 3 * side * side
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels or data.shape[0] != labels.shape[0]:
        raise NasHarnessError(f"{path} is not a {what}: 'data' must be N x {pixels} uint8 with one label per row, "
                              f"got {data.dtype} {data.shape} and {labels.shape[0]} labels")
    return data.reshape(-1, 3, side, side), labels


def _folder(root: Path | None, name: str, subfolder: str, needed: list[str], how: str) -> Path:
    root = Path(root).expanduser() if root is not None else data_dir() / "datasets" / name
    for candidate in (root, root / subfolder):
        if all((candidate / f).is_file() for f in needed):
            return candidate
    if not root.exists():
        raise SourceMissingError(f"{name} data folder {root} does not exist; {how} (nothing is downloaded)")
    missing = [f for f in needed if not (root / f).is_file()]
    raise SourceMissingError(
        f"{root} is not a {name} folder: missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}; {how}"
    )


def load_cifar(name: str, root: Path | None = None, seed: int = 0, limit: int | None = None) -> Splits:
    """CIFAR-10/100 from the python batches; validation = stratified 10 % of the training set."""
    train_files, test_file, meta_file, label_key, subfolder = _CIFAR_FILES[name]
    how = (
        f"put the python version of {_DISPLAY[name]} there (from {_CIFAR_URL}, extracted: "
        f"{', '.join(train_files[:1] + ['...'] if len(train_files) > 1 else train_files)}, {test_file}, {meta_file}) "
        f"or pass --data-root"
    )
    folder = _folder(root, name, subfolder, train_files + [test_file, meta_file], how)
    what = f"{_DISPLAY[name]} python batch"
    chunks = [_batch(folder / f, label_key, 32, what) for f in train_files]
    x = torch.from_numpy(np.concatenate([c[0] for c in chunks]))
    y = np.concatenate([c[1] for c in chunks])
    x_test, y_test = _batch(folder / test_file, label_key, 32, what)
    n_classes = NUM_CLASSES[name]
    if y.min() < 0 or y.max() >= n_classes or y_test.min() < 0 or y_test.max() >= n_classes:
        raise NasHarnessError(f"{folder}: labels outside 0..{n_classes - 1}; is this {name}?")
    parts = stratified_split(y, (0.9, 0.1), seed)
    return _make(name, x, y, parts, str(folder), seed, limit, torch.from_numpy(x_test), y_test)


# -- ImageNet16-120 ------------------------------------------------------------------------------
def load_imagenet16(root: Path | None = None, seed: int = 0, limit: int | None = None, classes: int = 120) -> Splits:
    """NB201's ImageNet16 (16x16) restricted to classes 1..`classes`; valid/test = halves of val_data."""
    train_files = [f"train_data_batch_{i}" for i in range(1, 11)]
    how = ("put the ImageNet16 files of NAS-Bench-201 there (train_data_batch_1..10 and val_data, "
           "from the Downsampled ImageNet 16x16 release) or pass --data-root")
    folder = _folder(root, "imagenet16-120", "ImageNet16", train_files + ["val_data"], how)
    what = "ImageNet16 batch"

    def keep(path: Path) -> tuple[np.ndarray, np.ndarray]:
        data, labels = _batch(path, b"labels", 16, what)
        mask = (labels >= 1) & (labels <= classes)
        return data[mask], labels[mask] - 1

    chunks = [keep(folder / f) for f in train_files]
    x = torch.from_numpy(np.concatenate([c[0] for c in chunks]))
    y = np.concatenate([c[1] for c in chunks])
    vx, vy = keep(folder / "val_data")
    # train indices are all of the training files; valid and test index into val_data.
    halves = stratified_split(vy, (0.5, 0.5), seed)
    train = _limit(np.arange(len(y)), limit, seed)
    valid, test = _limit(halves[0], limit, seed + 1), _limit(halves[1], limit, seed + 2)
    yt, yv = torch.as_tensor(y), torch.as_tensor(vy)
    vxt = torch.from_numpy(vx)
    return Splits("imagenet16-120", classes, x[train], yt[train], vxt[valid], yv[valid], vxt[test], yv[test],
                  source=str(folder), split_seed=seed, indices={"train": train, "valid": valid, "test": test})


def load_dataset(name: str, root: str | Path | None = None, *, seed: int = 0, limit: int | None = None,
                 image_size: int | None = None) -> Splits:
    """One of DATASETS with its fixed splits; `limit` caps each split (a seeded subset).

    `image_size` sets the side digits are upsampled to (default 32, NB201's input size; the CPU
    schedule of `validate` uses 16, a quarter of the compute). The other datasets have a native
    size, which is never resampled."""
    if name == "digits":
        return load_digits(seed, size=image_size or 32, limit=limit)
    if image_size is not None:
        raise NasHarnessError(f"an image size can be chosen for digits only; {name} keeps its native size")
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, Path(root) if root else None, seed, limit)
    if name == "imagenet16-120":
        return load_imagenet16(Path(root) if root else None, seed, limit)
    raise NasHarnessError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def augment(x_unit: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding (4 px at 32x32, 2 px at 16x16) and horizontal flip, batched.

    The offsets and flips come from `generator`, so a batch's augmentation is a function of the
    epoch's seed only. Padding is applied to the [0, 1] image before normalisation, as in the usual
    torchvision pipeline (pad with black, then normalise).
    """
    if kind == "none":
        return x_unit
    if kind not in AUGMENTATIONS:
        raise NasHarnessError(f"unknown augmentation {kind!r}; choose one of {', '.join(AUGMENTATIONS)}")
    b, _, h, w = x_unit.shape
    pad = max(1, h // 8)
    padded = F.pad(x_unit, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = (oy[:, None] + torch.arange(h))[:, :, None]  # (b, h, 1)
    cols = (ox[:, None] + torch.arange(w))[:, None, :]  # (b, 1, w)
    out = padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)  # (b, c, h, w)
    if kind == "crop_flip":
        flip = torch.rand(b, generator=generator) < 0.5
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
    return out.contiguous()
