"""cffi build script of the native vCPU engine (API mode, module ``vmd._native``).

Two ways in:

* the package build: ``setup(cffi_modules=["native/vcpu_build.py:ffibuilder"])``
  (``pip install -e .`` or a wheel build) takes the module-level ``ffibuilder``;
* from a checkout: ``python native/vcpu_build.py`` compiles the extension in place
  into ``vmd/`` (objects under ``build/native/``), so the tests run without installing.

The cdef is the part of ``vcpu.h`` between ``CDEF-BEGIN`` and ``CDEF-END``: one
declaration of the C API, used by the compiler and by cffi alike.

Both ways check first that a C compiler and Python's headers are there
(`missing_build_tools`), so a machine without them gets one paragraph that says what
to install instead of a compiler traceback.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import sysconfig
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
        # A build directory that is reused (scripts/run reinstalls from the checkout) must rebuild
        # the module when the header vcpu.c includes or these flags change, not only vcpu.c.
        depends=[path(HERE / "vcpu.h"), path(HERE / "vcpu_build.py")],
        include_dirs=[path(HERE)],
        extra_compile_args=CFLAGS,
        extra_link_args=LDFLAGS,
    )
    return builder


ffibuilder = make_ffibuilder()


def default_compiler() -> str:
    """The program the build will run as the C compiler: $CC, else Python's own configuration."""
    command = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(command)[0]


def missing_build_tools(compiler: str | None = None) -> str | None:
    """None when the engine can be compiled, else one paragraph saying what is missing and how to
    get it.  `compiler` is the program the build will run (default: `default_compiler()`)."""
    compiler = compiler or default_compiler()
    include = sysconfig.get_path("include")
    missing = []
    if shutil.which(compiler) is None:
        missing.append(f"a C compiler (the build runs {compiler!r}; set CC to use another)")
    if not (Path(include) / "Python.h").is_file():
        missing.append(f"Python's C headers (there is no Python.h in {include})")
    if not missing:
        return None
    return (
        f"vmd cannot be built: its vCPU engine is C code, compiled when vmd is installed, and this "
        f"machine lacks {' and '.join(missing)}. On Debian or Ubuntu `apt-get install gcc python3-dev` "
        f"installs what is needed (on Fedora `dnf install gcc python3-devel`); then install vmd again."
    )


def build_in_place(verbose: bool = False) -> Path:
    """Compile into ``build/native/`` and copy the extension next to ``vmd/__init__.py``."""
    problem = missing_build_tools()
    if problem is not None:
        sys.exit(problem)
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
