"""cffi build script of the native vCPU engine (API mode, module ``vmd._native``).

Two ways in:

* the package build: ``setup(cffi_modules=["native/vcpu_build.py:ffibuilder"])``
  (``pip install -e .`` or a wheel build) takes the module-level ``ffibuilder``;
* from a checkout: ``python native/vcpu_build.py`` compiles the extension in place
  into ``vmd/`` (objects under ``build/native/``), so the tests run without installing.

The cdef is the part of ``vcpu.h`` between ``CDEF-BEGIN`` and ``CDEF-END``: one
declaration of the C API, used by the compiler and by cffi alike.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import cffi  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODULE = "vmd._native"
# -fno-strict-aliasing: guest RAM is read and written through every access width.
# The interpreter itself carries its own tuning (no GCSE, no cross-jumping) as a
# function attribute, so it does not depend on these flags.
CFLAGS = ["-O2", "-std=c11", "-pthread", "-fno-strict-aliasing", "-fvisibility=hidden"]
LDFLAGS = ["-pthread"]


def _rel(path: Path) -> str:
    """`path` relative to the working directory when possible: setuptools wants relative sources."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows): absolute is the only option
        return str(path)


def _abs(path: Path) -> str:
    return str(path)


def _cdef(header: Path) -> str:
    text = header.read_text()
    begin, end = "/* CDEF-BEGIN */", "/* CDEF-END */"
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[start:stop]


def make_ffibuilder(*, absolute: bool = False) -> cffi.FFI:
    """The builder; `absolute` paths for ``FFI.compile()``, which compiles from inside its tmpdir."""
    path = _abs if absolute else _rel
    builder = cffi.FFI()
    builder.cdef(_cdef(HERE / "vcpu.h"))
    builder.set_source(
        MODULE,
        '#include "vcpu.h"',
        sources=[path(HERE / "vcpu.c")],
        include_dirs=[path(HERE)],
        extra_compile_args=CFLAGS,
        extra_link_args=LDFLAGS,
    )
    return builder


ffibuilder = make_ffibuilder()


def build_in_place(verbose: bool = False) -> Path:
    """Compile into ``build/native/`` and copy the extension next to ``vmd/__init__.py``."""
    tmpdir = ROOT / "build" / "native"
    tmpdir.mkdir(parents=True, exist_ok=True)
    built = Path(make_ffibuilder(absolute=True).compile(tmpdir=str(tmpdir), verbose=verbose))
    target = ROOT / "vmd" / built.name
    # Copy, then rename over the old one: a running process keeps its mapping of the old file.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copy2(built, tmp)
    os.replace(tmp, target)
    return target


if __name__ == "__main__":
    path = build_in_place(verbose="-v" in sys.argv[1:])
    print(f"built {path.relative_to(ROOT)}")
