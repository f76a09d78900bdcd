"""What the suites that compare vmd with real QEMU share."""

from __future__ import annotations

import os

import pytest

from tests.peers import QEMU_BINARY


@pytest.fixture(scope="module")
def qemu() -> str:
    """The qemu-system-x86_64 to compare with: missing, it fails the test (.ci/run installs it)
    unless VMD_ALLOW_SKIP=1 says a partial run is fine."""
    if QEMU_BINARY is None:
        if os.environ.get("VMD_ALLOW_SKIP") == "1":
            pytest.skip("qemu-system-x86_64 is not installed")
        pytest.fail("qemu-system-x86_64 is not installed")
    return QEMU_BINARY
