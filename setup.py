"""Only what pyproject.toml cannot say: the cffi module and the abi3 wheel tag.  Everything else is
in pyproject.toml."""

from setuptools import setup

setup(
    cffi_modules=["native/vcpu_build.py:ffibuilder"],
    # The module is built against the limited API (cffi's default), so the wheel says so: one
    # wheel per platform for CPython 3.11 and later.
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
