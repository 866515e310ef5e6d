"""Package list for setuptools (everything else is in pyproject.toml).

Why a setup.py: the Hydra configs live in conf/ at the top of the repository (the layout users and
docs know) but must ship inside the wheel, so `harness.conf` is a package mapped onto conf/
(pyproject.toml's [tool.setuptools.package-dir]). pyproject.toml cannot combine an automatic package
search with an extra mapped package, so the search happens here.
"""
from setuptools import find_namespace_packages, setup

PACKAGES = find_namespace_packages(include=["harness*", "tabular*", "surrogates*", "hydra_plugins*"])

setup(packages=[*PACKAGES, "harness.conf"])
