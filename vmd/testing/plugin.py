"""vmd's pytest plugin (the pytest11 entry point `vmd`): VMs as fixtures.

    @pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=4")
    async def test_plug(vmd_vm):
        await vmd_vm.qmp.execute("device_add", {...})
        await wait_online(vmd_vm.qmp, 1)

- `vmd_vm`: a fresh VM per test (`vmd.testing.Vm`), stopped after it.  Its arguments: an indirect
  parameter (`@pytest.mark.parametrize("vmd_vm", [["-smp", "2"]], indirect=True)`), else the
  closest `vmd_args` marker (test, class or module), else none; `vmd_args(..., target="ppc64")`
  picks qemu-system-<target>.
- `vmd_vm_module`: one VM shared by a module's tests (arguments from the module's `vmd_args`
  marker, `pytestmark = pytest.mark.vmd_args(...)`), each test with a client of its own on the
  VM's socket.  It cannot be stopped by a test.
- `vmd_tmp_path`: a directory for a test's own sockets, short enough for sun_path.

The fixtures are async: they need pytest-asyncio (`pip install 'vmd-qmp[testing]'`).  A VM that
logs a Python exception or does not exit cleanly gives a `vmd.testing.VmdWarning`; a failing
test's report shows the log of each VM it used.

Loading this plugin costs next to nothing and changes nothing for tests that use none of it: its
fixtures start vmd only when asked for, and the launcher (and qemu.qmp) is imported only then.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import AsyncIterator, Generator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from vmd.testing.launcher import Vm, VmdProcess

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures say what is missing when a test asks for them
    pytest_asyncio = None  # type: ignore[assignment]

MARKER = "vmd_args"
_VMS = pytest.StashKey[list["Vm"]]()  # the VMs a test used, for its report
_NEEDS_ASYNCIO = "vmd's fixtures are async and need pytest-asyncio: pip install 'vmd-qmp[testing]'"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*args, target='x86_64'): QEMU's arguments for the vmd_vm / vmd_vm_module fixtures",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when == "call":
        for vm in item.stash.get(_VMS, []):
            report.sections.append((f"vmd log (pid {vm.pid})", vm.log))
    return report


def _requested(request: pytest.FixtureRequest, node: pytest.Item | pytest.Collector) -> tuple[list[str], str]:
    """(arguments, target) for a VM: the indirect parameter, else the closest vmd_args marker."""
    param = getattr(request, "param", None)
    if param is not None:
        if isinstance(param, str) or not isinstance(param, Sequence):
            pytest.fail(f"vmd_vm's parameter is a list of arguments, not {param!r}", pytrace=False)
        return [str(arg) for arg in param], "x86_64"
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return [], "x86_64"
    unknown = set(marker.kwargs) - {"target"}
    if unknown:
        pytest.fail(f"{MARKER}: unknown keyword {sorted(unknown)[0]!r} (it takes target=)", pytrace=False)
    return [str(arg) for arg in marker.args], str(marker.kwargs.get("target", "x86_64"))


def _check_exit(pid: int, status: int, log: str) -> None:
    if "Traceback (most recent call last)" in log:
        warnings.warn(_warning(f"vmd (pid {pid}) logged an exception:\n{log}"), stacklevel=2)
    elif status != 0:
        warnings.warn(_warning(f"vmd (pid {pid}) exited with status {status}:\n{log}"), stacklevel=2)


def _warning(message: str) -> Warning:
    from vmd.testing import VmdWarning

    return VmdWarning(message)


@pytest.fixture
def vmd_tmp_path() -> Iterator[Path]:
    """A fresh directory whose socket paths fit in sun_path (108 bytes); removed afterwards."""
    from vmd.testing.launcher import short_tmpdir

    path = short_tmpdir("vmd-test-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def _vmd_module_process(request: pytest.FixtureRequest) -> Iterator[VmdProcess]:
    """The module's shared vmd: started synchronously (its greeting on the launcher's monitor)."""
    from vmd.testing.launcher import spawn

    args, target = _requested(request, request.node)
    process = spawn(args, target=target)
    process.wait_greeting()
    yield process
    status = process.stop_sync()
    _check_exit(process.pid, status, process.log)


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def vmd_vm(request: pytest.FixtureRequest) -> AsyncIterator[Vm]:
        """A fresh vmd for this test, with a negotiated `.qmp`; stopped (quit) after it."""
        from vmd.testing.launcher import VmdLauncher

        args, target = _requested(request, request.node)
        vm = await VmdLauncher(args, target=target).start()
        request.node.stash.setdefault(_VMS, []).append(vm)
        try:
            yield vm
        finally:
            status = await vm.stop()  # returns at once if the test stopped it, or vmd exited
            _check_exit(vm.pid, status, vm.log)

    @pytest_asyncio.fixture
    async def vmd_vm_module(
        request: pytest.FixtureRequest, _vmd_module_process: VmdProcess
    ) -> AsyncIterator[Vm]:
        """The module's shared vmd, with a negotiated `.qmp` of this test's own."""
        from vmd.testing.launcher import connect_shared

        vm = await connect_shared(_vmd_module_process)
        request.node.stash.setdefault(_VMS, []).append(vm)
        try:
            yield vm
        finally:
            await vm.disconnect()

else:  # pragma: no cover

    @pytest.fixture
    def vmd_vm() -> Any:
        pytest.fail(_NEEDS_ASYNCIO, pytrace=False)

    @pytest.fixture
    def vmd_vm_module() -> Any:
        pytest.fail(_NEEDS_ASYNCIO, pytrace=False)
