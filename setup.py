"""Only what pyproject.toml cannot say: the cffi module, the check that precedes its compilation,
and the abi3 wheel tag.  Everything else is in pyproject.toml."""

import runpy
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError

NATIVE_BUILD = Path(__file__).resolve().parent / "native" / "vcpu_build.py"


class BuildExt(build_ext):
    def build_extensions(self) -> None:
        # Here the compiler object exists: check the very program it is about to run.
        missing_build_tools = runpy.run_path(str(NATIVE_BUILD))["missing_build_tools"]
        problem = missing_build_tools(self.compiler.compiler_so[0])
        if problem is not None:
            raise CompileError(problem)  # setuptools prints "error: <problem>", no traceback
        super().build_extensions()


setup(
    cffi_modules=["native/vcpu_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExt},
    # The module is built against the limited API (cffi's default), so the wheel says so: one
    # wheel per platform for CPython 3.11 and later.
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
