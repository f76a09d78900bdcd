"""What some tests need from the machine (a real QEMU, libvirt), and what happens when it is missing.

scripts/test installs all of it, so a test whose need is missing fails and names it, unless
VMD_ALLOW_SKIP=1 says a partial run is fine: then the test is skipped, and the run ends with one
line per reason saying how many tests were skipped and why (tests/conftest.py).

The need is checked where it arises: the `qemu` fixture and `start_peer("qemu")` (tests.peers)
call `require_qemu`, the `libvirt` fixture `require_libvirt`.  So a test marked `qemu` that
only runs vmd still runs without QEMU.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

from tests.libvirt.harness import installed as libvirt_installed

QEMU_BINARY = shutil.which("qemu-system-x86_64")

ALLOW_SKIP = os.environ.get("VMD_ALLOW_SKIP") == "1"


def missing(reason: str) -> NoReturn:
    """Skip the running test because of `reason` under VMD_ALLOW_SKIP=1, fail it otherwise."""
    if ALLOW_SKIP:
        pytest.skip(reason)
    pytest.fail(f"{reason} (scripts/test installs it; VMD_ALLOW_SKIP=1 skips such tests)", pytrace=False)


def require_qemu(target: str = "x86_64") -> str:
    """The qemu-system-<target> to compare with."""
    binary = QEMU_BINARY if target == "x86_64" else shutil.which(f"qemu-system-{target}")
    if binary is None:
        missing(f"qemu-system-{target} is not installed")
    return binary


def require_libvirt() -> None:
    """libvirtd, virtlogd and virsh, and the root the libvirt suite runs libvirtd as."""
    if not libvirt_installed():
        missing("libvirt (libvirt-daemon-system, libvirt-clients) is not installed")
    if os.geteuid() != 0:
        missing("the libvirt suite runs libvirtd as root")
