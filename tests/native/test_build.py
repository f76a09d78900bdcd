"""The native build: warning-free C, both ways of building, the missing-module message, and what a
machine without a C compiler or Python's headers is told."""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"


def test_c_compiles_without_warnings(tmp_path: Path) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    assert cc, "a C compiler is needed to build vmd"
    cmd = [cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-fno-strict-aliasing", "-pthread"]
    proc = subprocess.run(
        [*cmd, "-c", str(NATIVE / "vcpu.c"), "-o", str(tmp_path / "vcpu.o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_missing_native_module_says_what_to_run() -> None:
    code = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "vmd._native":
            raise ModuleNotFoundError("No module named 'vmd._native'", name=name)
sys.meta_path.insert(0, Block())
try:
    import vmd.vcpu
except ImportError as exc:
    print(exc)
else:
    print("imported")
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install -e ." in proc.stdout
    assert "python native/vcpu_build.py" in proc.stdout


def test_the_build_tools_check_names_what_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    check = runpy.run_path(str(NATIVE / "vcpu_build.py"))["missing_build_tools"]
    assert check() is None  # this machine builds vmd, with the compiler Python's configuration names
    no_compiler = check("/nonexistent/cc")
    assert "lacks a C compiler (the build runs '/nonexistent/cc'; set CC to use another)." in no_compiler
    monkeypatch.setattr(sysconfig, "get_path", lambda name, *args, **kwargs: str(tmp_path))
    neither = check("/nonexistent/cc")
    assert (
        "lacks a C compiler (the build runs '/nonexistent/cc'; set CC to use another) and Python's C "
        f"headers (there is no Python.h in {tmp_path})."
    ) in neither
    assert "apt-get install gcc python3-dev" in neither


def test_the_script_without_a_compiler_says_what_to_install() -> None:
    proc = subprocess.run(
        [sys.executable, str(NATIVE / "vcpu_build.py")],
        cwd=ROOT,
        env={**os.environ, "CC": "/nonexistent/cc"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith(
        "vmd cannot be built: its vCPU engine is C code, compiled when vmd is installed"
    )
    assert proc.stderr.count("\n") == 1  # one paragraph, no traceback


def test_setuptools_sees_the_ffibuilder_with_relative_sources() -> None:
    # What cffi's setuptools integration does with cffi_modules=["native/vcpu_build.py:ffibuilder"].
    code = """
path = "native/vcpu_build.py"
ns = {"__name__": "__cffi__", "__file__": path}
exec(compile(open(path).read(), path, "exec"), ns, ns)
name, _, _, kwds = ns["ffibuilder"]._assigned_source
print(name, kwds["sources"], kwds["include_dirs"], "-O2" in kwds["extra_compile_args"])
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.split() == ["vmd._native", "['native/vcpu.c']", "['native']", "True"]


@pytest.mark.slow
def test_the_script_builds_in_place_relative_to_itself(tmp_path: Path) -> None:
    # A copy of the checkout's relevant parts, built from an unrelated working directory.
    shutil.copytree(NATIVE, tmp_path / "native", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "vmd").mkdir()
    (tmp_path / "vmd" / "__init__.py").write_text("")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run(
        [sys.executable, str(tmp_path / "native" / "vcpu_build.py")],
        cwd=elsewhere,
        capture_output=True,
        timeout=300,
        check=True,
    )
    built = list((tmp_path / "vmd").glob("_native*.so"))
    assert len(built) == 1
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", "import vmd._native as n; print(n.lib.VMD_REGS)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.strip() == "256"
