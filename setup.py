"""Packaging: the metadata is in setup.cfg. This file adds what `packages = find:` cannot say there: the
repository's top-level `chipspecs/` and `workloads/` (a layout the project keeps) are installed as package data
in `coresim/_data/`, where `coresim.spec.files` finds them when coresim is not run from a checkout."""

from setuptools import find_packages, setup

DATA = {"coresim._data.chipspecs": "chipspecs", "coresim._data.workloads": "workloads"}

setup(packages=[*find_packages(include=["coresim", "coresim.*"]), *DATA], package_dir=DATA,
      package_data={name: ["*.yaml", "*.npz", "*.json", "*.nir"] for name in DATA})
