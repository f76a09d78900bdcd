"""-device isa-serial refused as QEMU 7.2 refuses it: the same one line, option named."""

from __future__ import annotations

import subprocess

import pytest

from tests.peers import BASE_ARGS, startup_error, vmd_command

pytestmark = pytest.mark.qemu

REFUSED = [
    "isa-serial,chardev=nope",
    "isa-serial,index=4",
    "isa-serial,foo=1",
    "isa-serial,index=x",
    '{"driver":"isa-serial","chardev":"nope"}',
]


@pytest.mark.parametrize("device", REFUSED)
def test_refused_like_qemu(qemu: str, device: str) -> None:
    vmd_error = startup_error([*vmd_command(), "-M", "q35", "-device", device], "vmd")
    assert vmd_error == startup_error([qemu, "-M", "q35", "-device", device], "qemu-system-x86_64")


def test_what_vmd_places_itself_is_refused_by_name() -> None:
    done = subprocess.run(
        [*vmd_command(), "-M", "q35", *BASE_ARGS, "-device", "isa-serial,iobase=0x3f8"],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "vmd: -device isa-serial,iobase=0x3f8: isa-serial property 'iobase' is not supported by vmd"
    )


def test_two_ports_on_one_base_are_refused() -> None:
    """QEMU 7.2 silently overlaps them (both get COM1's base); vmd says so."""
    done = subprocess.run(
        [*vmd_command(), "-M", "q35", *BASE_ARGS, "-device", "isa-serial,index=0", "-device", "isa-serial"],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == "vmd: -device isa-serial: serial port 0 (COM1) is already in use"
