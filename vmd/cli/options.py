"""The option table of each target: the options of qemu-system-<target> 7.2, and vmd's own.

Each name maps to whether it takes an argument and which `Builder` method handles it.  Some
options are QEMU's sugar for -machine properties (-usb is usb=on, -bios X is firmware=X).

Every QEMU binary knows the same option names (one qemu-options.hx); each option there has
an arch mask, and a binary outside the mask refuses the option, when the option loop reaches
it, with "Option not supported for this target".  `_BY_TARGET` lists the options whose mask
leaves out one of vmd's targets.  The facts come from qemu-options.hx and were checked by
running each Debian 7.2 binary (qemu-system-x86_64, -ppc64, -s390x, -aarch64);
tests/unit/cli/test_targets.py checks them again against the binaries installed here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal

from vmd.cli.argv import Arg, Option
from vmd.cli.builder import Builder
from vmd.cli.errors import EarlyExit
from vmd.cli.help import usage_text, version_text

__all__ = ["OPTIONS", "POSITIONAL", "TARGETS", "Target"]

Target = Literal["x86_64", "ppc64", "s390x", "aarch64"]
TARGETS: tuple[Target, ...] = ("x86_64", "ppc64", "s390x", "aarch64")

_Handler = Callable[[Builder, Arg], None]
_B = Builder  # short alias for the tables


def _machine_sugar(key: str, value: str | None = None) -> _Handler:
    """An option QEMU turns into a -machine property (-usb is usb=on, -bios X is firmware=X)."""

    def handle(builder: Builder, arg: Arg) -> None:
        builder.machine.put([key], arg.value if value is None else value)

    return handle


def _help(target: Target) -> _Handler:
    def handle(builder: Builder, arg: Arg) -> None:
        raise EarlyExit("help", usage_text(target))

    return handle


def _version(builder: Builder, arg: Arg) -> None:
    raise EarlyExit("version", version_text())


_X86: frozenset[Target] = frozenset({"x86_64"})
_PPC: frozenset[Target] = frozenset({"ppc64"})
_ARM: frozenset[Target] = frozenset({"aarch64"})
_X86_ARM: frozenset[Target] = frozenset({"x86_64", "aarch64"})
_NONE: frozenset[Target] = frozenset()

# Options that some of vmd's targets refuse: (takes an argument, handler, the targets that
# accept it; the others say "Option not supported for this target").  The arch mask of
# qemu-options.hx 7.2 is in the comment.
_BY_TARGET: dict[str, tuple[bool, _Handler, frozenset[Target]]] = {
    "acpitable": (True, _B.opt_ignored, _X86),  # I386
    "smbios": (True, _B.opt_ignored, _X86_ARM),  # I386 | ARM
    "no-acpi": (False, _machine_sugar("acpi", "off"), _X86_ARM),  # I386 | ARM
    "no-hpet": (False, _machine_sugar("hpet", "off"), _X86),  # I386
    "no-fd-bootchk": (False, _B.opt_ignored, _X86),  # I386
    "win2k-hack": (False, _B.opt_ignored, _X86),  # I386
    "g": (True, _B.opt_graphic, _PPC),  # PPC | SPARC | M68K
    "prom-env": (True, _B.opt_prom_env, _PPC),  # PPC | SPARC
    # Semihosting lets the guest use the host's files and console: vmd cannot offer it.
    "semihosting": (False, _B.opt_unsupported, _ARM),  # ARM | M68K | XTENSA | MIPS | NIOS2 | RISCV
    "semihosting-config": (True, _B.opt_unsupported, _ARM),  # the same
    "old-param": (False, _B.opt_ignored, _ARM),  # ARM
    # ARM | I386, but QEMU also needs its Xen accelerator, which Debian's binaries lack: all
    # four say "Option not supported for this target".
    "xen-domid": (True, _B.opt_not_for_target, _NONE),
    "xen-attach": (False, _B.opt_not_for_target, _NONE),
    "xen-domid-restrict": (False, _B.opt_not_for_target, _NONE),
}


def _table(target: Target) -> dict[str, Option[Builder]]:
    handled: dict[str, tuple[bool, _Handler]] = {
        "machine": (True, _B.opt_machine), "M": (True, _B.opt_machine), "accel": (True, _B.opt_accel),
        "enable-kvm": (False, _B.opt_enable_kvm), "cpu": (True, _B.opt_cpu), "smp": (True, _B.opt_smp),
        "m": (True, _B.opt_m), "numa": (True, _B.opt_numa), "S": (False, _B.opt_S),
        "name": (True, _B.opt_name), "uuid": (True, _B.opt_uuid), "daemonize": (False, _B.opt_daemonize),
        "pidfile": (True, _B.opt_pidfile), "nodefaults": (False, _B.opt_nodefaults),
        "no-user-config": (False, _B.opt_no_user_config), "nographic": (False, _B.opt_nographic),
        "display": (True, _B.opt_display), "no-shutdown": (False, _B.opt_no_shutdown),
        "no-reboot": (False, _B.opt_no_reboot), "action": (True, _B.opt_action),
        "incoming": (True, _B.opt_incoming), "chardev": (True, _B.opt_chardev), "qmp": (True, _B.opt_qmp),
        "qmp-pretty": (True, _B.opt_qmp_pretty), "monitor": (True, _B.opt_monitor),
        "mon": (True, _B.opt_mon),
        "serial": (True, _B.opt_serial), "device": (True, _B.opt_device), "object": (True, _B.opt_object),
        "global": (True, _B.opt_global), "add-fd": (True, _B.opt_add_fd), "boot": (True, _B.opt_boot),
        "rtc": (True, _B.opt_rtc), "msg": (True, _B.opt_msg), "overcommit": (True, _B.opt_overcommit),
        "sandbox": (True, _B.opt_sandbox), "audiodev": (True, _B.opt_audiodev), "vga": (True, _B.opt_vga),
        "seed": (True, _B.opt_seed), "d": (True, _B.opt_d), "h": (False, _help(target)),
        "help": (False, _help(target)), "version": (False, _version),
        "net": (True, _B.opt_none_or_unsupported), "nic": (True, _B.opt_none_or_unsupported),
        "parallel": (True, _B.opt_none_or_unsupported),
        # QEMU turns these into -machine properties
        "kernel": (True, _machine_sugar("kernel")), "initrd": (True, _machine_sugar("initrd")),
        "append": (True, _machine_sugar("append")), "bios": (True, _machine_sugar("firmware")),
        "dtb": (True, _machine_sugar("dtb")), "usb": (False, _machine_sugar("usb", "on")),
        # vmd's own (a name QEMU does not use): the guest model's policy, KEY=VALUE,...
        "vmd-guest": (True, _B.opt_vmd_guest),
        # vmd's per-session protocol limits (vmd.qmp.limits), KEY=SIZE,...
        "vmd-limits": (True, _B.opt_vmd_limits),
        # QEMU's log file; vmd writes its own log there.
        "D": (True, _B.opt_log_file),
    }  # fmt: skip
    # Host-side or cosmetic: accepted, listed in Config.ignored_options.
    ignored_with_arg = (
        "L k trace vnc dfilter icount watchdog-action mem-path option-rom fw_cfg compat audio echr rotate"
    )
    ignored_flags = (
        "mem-prealloc singlestep snapshot only-migratable enable-sync-profile async-teardown full-screen "
        "portrait"
    )
    # What vmd cannot do (disks, networks, debuggers, other front ends): refused, not ignored.
    unsupported_with_arg = (
        "drive blockdev hda hdb hdc hdd fda fdb cdrom mtdblock sd pflash iscsi netdev fsdev virtfs usbdevice "
        "tpmdev spice debugcon gdb loadvm plugin qtest qtest-log readconfig set dump-vmstate chroot runas"
    )
    unsupported_flags = "s preconfig audio-help"
    table = {name: Option(has_arg, handle) for name, (has_arg, handle) in handled.items()}
    for names, has_arg, handle in (
        (ignored_with_arg, True, _B.opt_ignored),
        (ignored_flags, False, _B.opt_ignored),
        (unsupported_with_arg, True, _B.opt_unsupported),
        (unsupported_flags, False, _B.opt_unsupported),
    ):
        table.update({name: Option(has_arg, handle) for name in names.split()})
    for name, (takes_arg, accepted, targets) in _BY_TARGET.items():
        table[name] = Option(takes_arg, accepted if target in targets else _B.opt_not_for_target)
    return table


OPTIONS: Mapping[Target, Mapping[str, Option[Builder]]] = MappingProxyType(
    {target: MappingProxyType(_table(target)) for target in TARGETS}
)
POSITIONAL: Option[Builder] = Option(False, _B.opt_positional)  # QEMU reads a bare argument as a disk image
