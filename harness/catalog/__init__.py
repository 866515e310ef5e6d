"""Benchmark families. Each module here defines `specs() -> list[BenchmarkSpec]`; the catalogue
(harness.benchmarks) imports every module of this package, so a new family is one new file."""
