"""tests.needs and the run's summary: a missing QEMU fails the test that needs it, or under
VMD_ALLOW_SKIP=1 skips it and the run says how many tests were skipped and why.  A pytest run of
its own, on a machine (PATH) without QEMU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.peers import REPO

CONFTEST = "from tests.conftest import pytest_terminal_summary  # noqa: F401\n"
TESTS = """
from tests import needs

def test_needs_qemu():
    needs.require_qemu()

def test_needs_nothing():
    pass
"""


def _pytest(tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_machine.py").write_text(TESTS)
    env = {key: value for key, value in os.environ.items() if key != "VMD_ALLOW_SKIP"}
    # Only the interpreter's directory on PATH: no qemu-system-x86_64 there.
    env |= {"PYTHONPATH": str(REPO), "PATH": str(Path(sys.executable).parent), **environ}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_qemu_fails_the_test_that_needs_it(tmp_path: Path) -> None:
    run = _pytest(tmp_path)
    assert run.returncode == 1, run.stdout
    assert "qemu-system-x86_64 is not installed (scripts/test installs it; VMD_ALLOW_SKIP=1" in run.stdout
    assert "1 failed, 1 passed" in run.stdout
    assert "skipped" not in run.stdout


def test_allow_skip_skips_it_and_the_run_says_why(tmp_path: Path) -> None:
    run = _pytest(tmp_path, VMD_ALLOW_SKIP="1")
    assert run.returncode == 0, run.stdout
    assert "\nskipped 1 test: qemu-system-x86_64 is not installed\n" in run.stdout
    assert "1 passed, 1 skipped" in run.stdout
