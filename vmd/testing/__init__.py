"""Testing your software against vmd: VMs started from tests with QEMU's arguments.

`launch_vm(args)` (an async context manager) starts vmd, waits until QMP is ready and gives a `Vm`:
`.qmp` (a negotiated `qemu.qmp.QMPClient`), `.pid`, `.socket` (a QMP socket for the software under
test), `.log` and `.stop()`.  `wait_event` and `wait_online` wait, under a timeout, for an event and
for the guest to online a vCPU.  The pytest plugin (`vmd.testing.plugin`, loaded through the pytest11
entry point) gives fixtures on top: `vmd_vm`, `vmd_vm_module`, `vmd_tmp_path`.

The names load on first use (the plugin is imported by every pytest run where vmd is installed,
and should cost nothing there).  The daemon never imports this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vmd.testing.launcher import (
        DEFAULT_ARGS,
        Vm,
        VmdLauncher,
        VmdLaunchError,
        VmdProcess,
        connect_shared,
        launch_vm,
        short_tmpdir,
        spawn,
    )
    from vmd.testing.waits import cpu_set, event_matches, wait_event, wait_online

__all__ = [
    "DEFAULT_ARGS",
    "Vm",
    "VmdLaunchError",
    "VmdLauncher",
    "VmdProcess",
    "VmdWarning",
    "connect_shared",
    "cpu_set",
    "event_matches",
    "launch_vm",
    "short_tmpdir",
    "spawn",
    "wait_event",
    "wait_online",
]

_WAITS = {"cpu_set", "event_matches", "wait_event", "wait_online"}


class VmdWarning(UserWarning):
    """vmd logged an exception, or did not exit cleanly, under a test (a bug in vmd, not in the test)."""


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module("vmd.testing.waits" if name in _WAITS else "vmd.testing.launcher")
    value = getattr(module, name)
    globals()[name] = value
    return value
