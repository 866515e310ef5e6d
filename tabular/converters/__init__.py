"""Converters: official benchmark files and PyPI data packages -> `StoreData` (docs/FORMAT.md)."""
