"""The option table: every option of qemu-system-x86_64 7.2, and vmd's own.

Each name maps to whether it takes an argument and which `Builder` method handles it.  Some
options are QEMU's sugar for -machine properties (-usb is usb=on, -bios X is firmware=X).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from vmd.cli.argv import Arg, Option
from vmd.cli.builder import Builder

__all__ = ["OPTIONS", "POSITIONAL"]

_Handler = Callable[[Builder, Arg], None]
_B = Builder  # short alias for the table


def _machine_sugar(key: str, value: str | None = None) -> _Handler:
    """An option QEMU turns into a -machine property (-usb is usb=on, -bios X is firmware=X)."""

    def handle(builder: Builder, arg: Arg) -> None:
        builder.machine.put([key], arg.value if value is None else value)

    return handle


def _table() -> dict[str, Option[Builder]]:
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
        "seed": (True, _B.opt_seed), "d": (True, _B.opt_d), "h": (False, _B.opt_help),
        "help": (False, _B.opt_help), "version": (False, _B.opt_version),
        "net": (True, _B.opt_none_or_unsupported), "nic": (True, _B.opt_none_or_unsupported),
        "parallel": (True, _B.opt_none_or_unsupported),
        # QEMU turns these into -machine properties
        "kernel": (True, _machine_sugar("kernel")), "initrd": (True, _machine_sugar("initrd")),
        "append": (True, _machine_sugar("append")), "bios": (True, _machine_sugar("firmware")),
        "dtb": (True, _machine_sugar("dtb")), "usb": (False, _machine_sugar("usb", "on")),
        "no-acpi": (False, _machine_sugar("acpi", "off")), "no-hpet": (False, _machine_sugar("hpet", "off")),
        # vmd's own (a name QEMU does not use): the guest model's policy, KEY=VALUE,...
        "vmd-guest": (True, _B.opt_vmd_guest),
        # vmd's per-session protocol limits (vmd.qmp.limits), KEY=SIZE,...
        "vmd-limits": (True, _B.opt_vmd_limits),
        # QEMU's log file; vmd writes its own log there.
        "D": (True, _B.opt_log_file),
    }  # fmt: skip
    # Host-side or cosmetic: accepted, listed in Config.ignored_options.
    ignored_with_arg = (
        "L k trace vnc dfilter icount watchdog-action mem-path option-rom smbios acpitable fw_cfg compat "
        "audio echr g rotate"
    )
    ignored_flags = (
        "mem-prealloc singlestep snapshot only-migratable enable-sync-profile async-teardown full-screen "
        "portrait win2k-hack no-fd-bootchk"
    )
    # What vmd cannot do (disks, networks, debuggers, other front ends): refused, not ignored.
    unsupported_with_arg = (
        "drive blockdev hda hdb hdc hdd fda fdb cdrom mtdblock sd pflash iscsi netdev fsdev virtfs usbdevice "
        "tpmdev spice debugcon gdb loadvm plugin qtest qtest-log readconfig set dump-vmstate chroot runas"
    )
    unsupported_flags = "s preconfig audio-help"
    # Options of other targets or accelerators: QEMU refuses them on x86 without Xen.
    other_target_with_arg = "xen-domid semihosting-config prom-env"
    other_target_flags = "xen-attach xen-domid-restrict semihosting old-param"
    table = {name: Option(has_arg, handle) for name, (has_arg, handle) in handled.items()}
    for names, has_arg, handle in (
        (ignored_with_arg, True, _B.opt_ignored),
        (ignored_flags, False, _B.opt_ignored),
        (unsupported_with_arg, True, _B.opt_unsupported),
        (unsupported_flags, False, _B.opt_unsupported),
        (other_target_with_arg, True, _B.opt_not_for_target),
        (other_target_flags, False, _B.opt_not_for_target),
    ):
        table.update({name: Option(has_arg, handle) for name in names.split()})
    return table


OPTIONS: Mapping[str, Option[Builder]] = MappingProxyType(_table())
POSITIONAL: Option[Builder] = Option(False, _B.opt_positional)  # QEMU reads a bare argument as a disk image
