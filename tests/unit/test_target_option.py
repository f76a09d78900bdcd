"""-vmd-target: which qemu-system-<target> vmd is (the vmd-system-<target> commands set it)."""

from __future__ import annotations

import subprocess

import pytest

from tests.peers import vmd_command
from vmd.__main__ import split_target
from vmd.cli import CommandLineError


def test_split_target() -> None:
    assert split_target(["-M", "q35"], "x86_64") == ("x86_64", ["-M", "q35"])
    assert split_target(["-vmd-target", "s390x", "-S"], "x86_64") == ("s390x", ["-S"])
    assert split_target(["--vmd-target", "ppc64"], "x86_64") == ("ppc64", [])
    with pytest.raises(CommandLineError, match=r"^-vmd-target: requires an argument$"):
        split_target(["-vmd-target"], "x86_64")
    with pytest.raises(CommandLineError, match="vmd has no target 'mips'"):
        split_target(["-vmd-target", "mips"], "x86_64")


def test_the_target_picks_the_option_table() -> None:
    """-prom-env is a ppc option: x86_64 refuses it as QEMU does."""
    done = subprocess.run(
        [*vmd_command(), "-prom-env", "x=y"], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stderr) == (1, "vmd: -prom-env x=y: Option not supported for this target\n")
