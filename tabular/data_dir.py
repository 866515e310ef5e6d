"""Where benchmark stores and user-supplied official files live.

`NAS_HARNESS_DATA` overrides the default, the user's cache folder (platformdirs). Stores go to
`<data>/stores/<family>/<dataset>.h5`; official files a user downloads go to `<data>/sources/`.
Nothing is ever downloaded: a missing official file produces a message naming this folder.

In `tabular` (the lowest layer) because converters, surrogates and the catalogue all need it and it
needs nothing of theirs.
"""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "NAS_HARNESS_DATA"


def data_dir() -> Path:
    """The data folder: `$NAS_HARNESS_DATA`, else the user's cache folder (read on every call, so tests can set it)."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else Path(platformdirs.user_cache_dir("nas-harness"))


def stores_dir() -> Path:
    """`<data>/stores`: converted stores, one file per benchmark."""
    return data_dir() / "stores"


def sources_dir() -> Path:
    """`<data>/sources`: official files the user downloads; looked for here, never fetched."""
    return data_dir() / "sources"


def store_path(benchmark: str) -> Path:
    """Cache path of a benchmark's store, e.g. nb201/cifar10 -> <data>/stores/nb201/cifar10.h5."""
    return stores_dir() / f"{benchmark}.h5"
