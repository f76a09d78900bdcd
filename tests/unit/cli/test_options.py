"""The first pass and the option table (vmd.cli.argv, vmd.cli.options): the table matches QEMU 7.2's."""

from __future__ import annotations

import pytest

from tests.unit.cli.common import error_of, outcome_of, parse


def test_options_take_one_or_two_dashes() -> None:
    assert parse("--m", "1G", "--S", "--name", "x") == parse("-m", "1G", "-S", "-name", "x")


def test_an_option_argument_may_start_with_a_dash() -> None:
    assert parse("-name", "-S").name == "-S"


# From `qemu-system-x86_64 -help` and `qemu-system-x86_64 -version -OPTION` (7.2): the
# options that take an argument, and those that do not.
QEMU_OPTIONS_WITH_ARG = (
    "D", "L", "M", "accel", "acpitable", "action", "add-fd", "append", "audio", "audiodev", "bios",
    "blockdev", "boot", "cdrom", "chardev", "chroot", "compat", "cpu", "d", "debugcon", "device",
    "dfilter", "display", "drive", "dtb", "dump-vmstate", "echr", "fda", "fdb", "fsdev", "fw_cfg", "g",
    "gdb", "global", "hda", "hdb", "hdc", "hdd", "icount", "incoming", "initrd", "iscsi", "k", "kernel",
    "loadvm", "m", "machine", "mem-path", "mon", "monitor", "msg", "mtdblock", "name", "net", "netdev",
    "nic", "numa", "object", "option-rom", "overcommit", "parallel", "pflash", "pidfile", "plugin",
    "prom-env", "qmp", "qmp-pretty", "qtest", "qtest-log", "readconfig", "rotate", "rtc", "runas",
    "sandbox", "sd", "seed", "semihosting-config", "serial", "set", "smbios", "smp", "spice", "tpmdev",
    "trace", "usbdevice", "uuid", "vga", "virtfs", "vnc", "watchdog-action", "xen-domid",
)  # fmt: skip


QEMU_OPTIONS_WITHOUT_ARG = (
    "S", "async-teardown", "audio-help", "daemonize", "enable-kvm", "enable-sync-profile", "full-screen",
    "h", "help", "mem-prealloc", "no-acpi", "no-fd-bootchk", "no-hpet", "no-reboot", "no-shutdown",
    "no-user-config", "nodefaults", "nographic", "old-param", "only-migratable", "portrait", "preconfig",
    "s", "semihosting", "singlestep", "snapshot", "usb", "version", "win2k-hack", "xen-attach",
    "xen-domid-restrict",
)  # fmt: skip


@pytest.mark.parametrize("name", QEMU_OPTIONS_WITH_ARG)
def test_every_qemu_option_with_an_argument_is_known(name: str) -> None:
    assert error_of(f"-{name}") == f"-{name}: requires an argument"


@pytest.mark.parametrize("name", QEMU_OPTIONS_WITHOUT_ARG)
def test_every_qemu_option_without_an_argument_is_known(name: str) -> None:
    outcome = outcome_of(f"-{name}")
    assert "invalid option" not in outcome
    assert "requires an argument" not in outcome
