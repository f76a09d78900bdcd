"""Only here because setuptools takes cffi_modules from setup(); everything else is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["native/vcpu_build.py:ffibuilder"])
