"""The help listings against qemu-system-x86_64 7.2: vmd prints QEMU's listing without the lines of
what vmd does not have (machine types, accelerators, devices), and QEMU's lines for what it has."""

from __future__ import annotations

import subprocess

import pytest

from tests.peers import vmd_command

pytestmark = pytest.mark.qemu


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def both(qemu: str, *args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    return run([qemu, *args]), run([*vmd_command(), *args])


def test_machine_help(qemu: str) -> None:
    theirs, ours = both(qemu, "-machine", "help")
    lacking = {"microvm", "isapc", "x-remote"}  # QEMU's x86 types vmd does not offer
    expected = [line for line in theirs.stdout.splitlines() if line.split(" ", 1)[0] not in lacking]
    assert ours.stdout.splitlines() == expected
    assert (ours.returncode, ours.stderr) == (0, "")


@pytest.mark.parametrize("machine", ["q35", "pc", "pc-i440fx-1.4", "pc-q35-4.0.1", "none", "nonsense"])
def test_machine_type_help(qemu: str, machine: str) -> None:
    theirs, ours = both(qemu, "-machine", f"{machine},help")
    if machine == "nonsense":  # QEMU lists every machine instead
        assert ours.stdout.startswith("Supported machines are:\n")
        return
    assert ours.stdout == theirs.stdout
    assert ours.returncode == theirs.returncode == 0


def test_cpu_help(qemu: str) -> None:
    theirs, ours = both(qemu, "-cpu", "help")
    assert ours.stdout == theirs.stdout


def test_accel_help(qemu: str) -> None:
    theirs, ours = both(qemu, "-accel", "help")
    assert theirs.stdout.splitlines() == ["Accelerators supported in QEMU binary:", "tcg", "kvm"]
    assert ours.stdout.splitlines() == theirs.stdout.splitlines()[:-1]  # vmd has no KVM


def test_device_help(qemu: str) -> None:
    """QEMU's categories, each with the devices vmd has and QEMU's empty line before it."""
    theirs, ours = both(qemu, "-device", "help")
    ours_devices = {line for line in ours.stdout.splitlines() if line.startswith("name ")}
    categories: list[tuple[list[str], list[str]]] = []  # (header lines, device lines)
    blank = False
    for line in theirs.stdout.splitlines():
        if line == "":
            blank = True
        elif line.endswith(" devices:"):
            categories.append(([""] * blank + [line], []))
            blank = False
        else:
            categories[-1][1].append(line)
    expected = []
    for header, lines in categories:
        kept = [line for line in lines if line in ours_devices]
        if kept:
            expected += header + kept
    assert ours_devices
    assert ours.stdout.splitlines() == expected


@pytest.mark.parametrize("driver", ["isa-serial", "qemu64-x86_64-cpu", "max-x86_64-cpu"])
def test_device_driver_help(qemu: str, driver: str) -> None:
    """What vmd declares of a device type is what QEMU says of it, line for line."""
    theirs, ours = both(qemu, "-device", f"{driver},help")
    assert ours.stdout.splitlines()[0] == theirs.stdout.splitlines()[0] == f"{driver} options:"
    assert set(ours.stdout.splitlines()) <= set(theirs.stdout.splitlines())
    assert len(ours.stdout.splitlines()) > 1


@pytest.mark.parametrize("driver", ["foo", "x86_64-cpu"])
def test_device_help_refusals(qemu: str, driver: str) -> None:
    """QEMU prints why and still exits 0."""
    theirs, ours = both(qemu, "-device", f"{driver},help")
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout) == (0, "")
    assert ours.stderr.removeprefix("vmd: ") == theirs.stderr.removeprefix("qemu-system-x86_64: ")


def test_object_help(qemu: str) -> None:
    theirs, ours = both(qemu, "-object", "help")
    assert ours.stdout.splitlines()[0] == theirs.stdout.splitlines()[0]
    assert set(ours.stdout.splitlines()) <= set(theirs.stdout.splitlines())
    for qom_type in ("memory-backend-ram", "memory-backend-file", "secret"):
        theirs, ours = both(qemu, "-object", f"{qom_type},help")
        assert set(ours.stdout.splitlines()) <= set(theirs.stdout.splitlines()), qom_type
    theirs, ours = both(qemu, "-object", "foo,help")
    assert ours.returncode == theirs.returncode == 1
    assert ours.stderr.removeprefix("vmd: ") == theirs.stderr.removeprefix("qemu-system-x86_64: ")
