"""vmd.testing's pytest plugin, in vmd's own suite (tests/conftest.py loads it when the installed vmd
has no pytest11 entry point yet): where a VM's arguments come from, the module's shared VM, short
directories, the warning for a vmd that misbehaved, a failing test's report, and what loading the
plugin costs (nothing started, nothing of the daemon imported)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.peers import REPO
from tests.replies import as_dict
from vmd.testing import Vm, VmdWarning
from vmd.testing.plugin import _check_exit

pytestmark = pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=4")

CPU1 = {"driver": "qemu64-x86_64-cpu", "id": "cpu1", "socket-id": 0, "core-id": 1, "thread-id": 0}


async def cpus(vm: Vm) -> int:
    listed = await vm.qmp.execute("query-cpus-fast")
    assert isinstance(listed, list)
    return len(listed)


async def test_vmd_vm_takes_the_modules_marker(vmd_vm: Vm) -> None:
    slots = await vmd_vm.qmp.execute("query-hotpluggable-cpus")
    assert isinstance(slots, list)
    assert len(slots) == 4
    assert as_dict(await vmd_vm.qmp.execute("query-status"))["status"] == "running"


@pytest.mark.vmd_args("-smp", "2", "-name", "closest")
async def test_the_closest_marker_wins(vmd_vm: Vm) -> None:
    assert await vmd_vm.qmp.execute("query-name") == {"name": "closest"}
    assert await cpus(vmd_vm) == 2


@pytest.mark.parametrize("vmd_vm", [["-smp", "3"], ["-S"]], indirect=True, ids=["three", "paused"])
async def test_an_indirect_parameter_wins_over_markers(vmd_vm: Vm, request: pytest.FixtureRequest) -> None:
    if request.node.callspec.id == "three":
        assert await cpus(vmd_vm) == 3
    else:
        assert await cpus(vmd_vm) == 1
        assert as_dict(await vmd_vm.qmp.execute("query-status"))["status"] == "prelaunch"


SHARED: dict[str, Any] = {}


async def test_the_modules_vm_is_shared(vmd_vm_module: Vm) -> None:
    SHARED["pid"] = vmd_vm_module.pid
    SHARED["client"] = id(vmd_vm_module.qmp)
    await vmd_vm_module.qmp.execute("device_add", CPU1)
    with pytest.raises(RuntimeError, match="shared by the module's tests"):
        await vmd_vm_module.stop()


async def test_the_modules_vm_is_the_same_vm_with_a_client_of_this_tests_own(vmd_vm_module: Vm) -> None:
    assert vmd_vm_module.pid == SHARED["pid"]
    assert await cpus(vmd_vm_module) == 2  # the previous test plugged cpu1
    assert id(vmd_vm_module.qmp) != SHARED["client"]


def test_vmd_tmp_path_fits_a_socket_path(vmd_tmp_path: Path) -> None:
    assert vmd_tmp_path.is_dir()
    assert len(str(vmd_tmp_path / "a-socket-with-a-long-name.sock").encode()) < 108


def test_a_vmd_that_logged_an_exception_or_exited_badly_gives_a_warning() -> None:
    with pytest.warns(VmdWarning, match="logged an exception"):
        _check_exit(1, 0, "...\nTraceback (most recent call last):\n  ...")
    with pytest.warns(VmdWarning, match=r"vmd \(pid 1\) exited with status -9"):
        _check_exit(1, -9, "")


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_loading_the_plugin_imports_nothing_of_vmd_or_qemu_qmp() -> None:
    loaded = run_python(
        "import sys, vmd.testing.plugin\n"
        "print(sorted(m for m in sys.modules if m.startswith(('vmd', 'qemu'))))"
    )
    assert loaded == "['vmd', 'vmd.testing', 'vmd.testing.plugin', 'vmd.version']"


def test_the_daemon_never_imports_vmd_testing() -> None:
    code = (
        "import sys, vmd.__main__, vmd.daemon; print([m for m in sys.modules if m.startswith('vmd.testing')])"
    )
    assert run_python(code) == "[]"


PYTEST = [sys.executable, "-m", "pytest", "-p", "pytest_asyncio.plugin", "-p", "vmd.testing.plugin"]
USER_TESTS = """
import pytest
from vmd.testing import wait_online

@pytest.mark.asyncio
@pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=2")
async def test_passes(vmd_vm):
    await vmd_vm.qmp.execute("device_add", {"driver": "qemu64-x86_64-cpu", "id": "c1",
                                            "socket-id": 0, "core-id": 1, "thread-id": 0})
    await wait_online(vmd_vm.qmp, 1)

@pytest.mark.asyncio
async def test_fails(vmd_vm):
    assert await vmd_vm.qmp.execute("query-name") == {"name": "nobody"}
"""


def test_a_user_suite_with_the_plugin_and_a_failing_tests_report(tmp_path: Path) -> None:
    """Outside vmd's configuration (no asyncio_mode=auto, no filterwarnings=error): only the
    plugins named (as the pytest11 entry points would load them)."""
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    environ = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [*PYTEST, "-p", "no:cacheprovider", "-q", "test_user.py"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout
    assert "- vmd log (pid " in done.stdout  # the failing test's report shows what vmd wrote
    assert "vmd: QMP monitor listening on" in done.stdout
