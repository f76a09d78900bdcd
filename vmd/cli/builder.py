"""The builder: each option in command-line order, then QEMU's late checks, then the frozen Config.

`Builder` has one `opt_*` method per kind of option; the option table of a target
(`vmd.cli.options`) names which method handles which option.  A method checks what QEMU
checks while it reads that option and records the result; `finish` makes the checks QEMU
makes only once the whole line is known (monitors naming chardevs defined later, -append
without -kernel, -smp numbers, ...), in QEMU's order.

It is a little over 500 lines for one reason: one short method per kind of option, which
is QEMU's option loop (softmmu/vl.c) seen from one place.  The value parsers it calls live
in machine_opts, chardev and devices.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from types import MappingProxyType

from vmd.cli import chardev, devices, machine_opts, specs
from vmd.cli.argv import Arg
from vmd.cli.chardev import HMP_REFUSED, MONITOR_SOCKETS_ONLY, LegacySyntax, MonitorRequest, SerialRequest
from vmd.cli.errors import CommandLineError, EarlyExit, Invalid
from vmd.cli.help import guest_policy_help
from vmd.cli.json_arg import json_members
from vmd.cli.qemuopts import (
    Keyval,
    Opts,
    OptsSpec,
    check_keyval_members,
    check_opts_id,
    is_help,
    keyval_parse,
    opts_help,
    parse_opts,
)
from vmd.config import (
    AccelConfig,
    ChardevConfig,
    Config,
    DeviceConfig,
    Display,
    GlobalConfig,
    NumaConfig,
    ObjectConfig,
)
from vmd.syntax import BadValue, OutOfRange, parse_bool, qemu_strtosz, qemu_strtou64

__all__ = ["Builder", "ObjectCheck"]

# What QEMU checks of an -object while it reads the option (its type, its property names):
# the machine's knowledge, handed in by the caller.  It raises to refuse the object.
ObjectCheck = Callable[[ObjectConfig], None]

_MIGRATION_SCHEMES = ("tcp:", "rdma:", "exec:", "unix:", "fd:")
_VGA = re.compile(r"(none|std|cirrus|vmware|virtio|qxl|tcx|cg3|xenfb)(,retrace=(dumb|precise))*\Z")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")

_MAX_PROM_ENVS = 128  # QEMU's MAX_PROM_ENVS

_UNSUPPORTED = "not supported by vmd"
_NOT_FOR_TARGET = "Option not supported for this target"


def _name(arg: Arg) -> str:
    """The option as "-name", however many dashes were typed."""
    return "-" + arg.spelled.lstrip("-")


class Builder:
    """Collects the options in command-line order; `finish` makes QEMU's late checks and freezes."""

    def __init__(
        self, check_object: ObjectCheck | None = None, object_error: type[Exception] = Exception
    ) -> None:
        self.check_object = check_object
        self.object_error = object_error
        self.machine = Keyval()
        self.accel: list[AccelConfig] = []
        self.cpu_option: str | None = None
        self.smp = Keyval()
        self.memory: list[tuple[str, str]] = []
        self.numa: list[NumaConfig] = []
        self.numa_texts: list[str] = []
        self.start_paused = False
        self.name: list[tuple[str, str]] = []
        self.uuid: str | None = None
        self.daemonize = False
        self.pidfile: str | None = None
        self.nodefaults = False
        self.no_user_config = False
        self.nographic = False
        self.display: Display | None = None
        self.actions: dict[str, str] = {}
        self.chardevs: dict[str, ChardevConfig] = {}
        self.monitor_requests: list[MonitorRequest] = []
        self.compat_monitors = 0
        self.serial_requests: list[SerialRequest] = []
        self.devices: list[DeviceConfig] = []
        self.device_ids: set[str] = set()
        self.objects: list[ObjectConfig] = []
        self.object_ids: set[str] = set()
        self.globals: list[GlobalConfig] = []
        self.add_fds: list[tuple[Arg, Opts]] = []
        self.incoming: str | None = None
        self.guest_policy = Keyval()
        self.limits: dict[str, int] = {}
        self.log_file: str | None = None
        self.ignored: list[tuple[str, str]] = []
        self.device_help: EarlyExit | None = None
        self.prom_envs = 0
        # ids each QemuOpts list has handed out ("Duplicate ID 'x' for chardev")
        self.opts_ids: dict[str, set[str]] = {}

    def opts(self, spec: OptsSpec, text: str, *, abbrev: bool = True) -> Opts:
        return parse_opts(spec, text, abbrev=abbrev, taken=self.opts_ids.setdefault(spec.name, set()))

    def ignore(self, arg: Arg) -> None:
        """Accepted for compatibility, no effect in vmd: listed so the daemon can say so."""
        self.ignored.append((_name(arg), arg.value))

    # --- machine, accelerators, CPUs, memory ---------------------------------------

    def opt_machine(self, arg: Arg) -> None:
        if keyval_parse(arg.value, "type", self.machine):
            raise EarlyExit("machine", detail=self.machine.leaves.get("type"))

    def opt_accel(self, arg: Arg) -> None:
        opts = self.opts(specs.ACCEL, arg.value)
        name = opts.get("accel")
        if name is None or is_help(name):
            raise EarlyExit("accel")
        self.accel.append(AccelConfig(name, MappingProxyType(opts.last_values(skip=("accel",)))))

    def opt_enable_kvm(self, arg: Arg) -> None:
        self.machine.put(["accel"], "kvm")  # what QEMU makes of it: -machine accel=kvm

    def opt_cpu(self, arg: Arg) -> None:
        self.cpu_option = arg.value

    def opt_smp(self, arg: Arg) -> None:
        if keyval_parse(arg.value, "cpus", self.smp):
            raise EarlyExit("options", opts_help(specs.SMP_HELP), specs.SMP_HELP.name)

    def opt_m(self, arg: Arg) -> None:
        self.memory += self.opts(specs.MEMORY, arg.value).items

    def opt_numa(self, arg: Arg) -> None:
        self.numa.append(machine_opts.numa(self.opts(specs.NUMA, arg.value)))
        self.numa_texts.append(arg.value)

    # --- identity and life cycle ------------------------------------------------------

    def opt_S(self, arg: Arg) -> None:
        self.start_paused = True

    def opt_name(self, arg: Arg) -> None:
        self.name += self.opts(specs.NAME, arg.value).items

    def opt_uuid(self, arg: Arg) -> None:
        if not _UUID.match(arg.value):
            raise Invalid("failed to parse UUID string: wrong format")
        self.uuid = arg.value.lower()

    def opt_daemonize(self, arg: Arg) -> None:
        self.daemonize = True

    def opt_pidfile(self, arg: Arg) -> None:
        self.pidfile = arg.value

    def opt_nodefaults(self, arg: Arg) -> None:
        self.nodefaults = True

    def opt_no_user_config(self, arg: Arg) -> None:
        self.no_user_config = True

    def opt_nographic(self, arg: Arg) -> None:
        self.nographic = True
        self.display = "none"
        self.machine.put(["graphics"], "off")

    def opt_display(self, arg: Arg) -> None:
        if is_help(arg.value):
            raise EarlyExit("display")
        if arg.value.startswith("vnc"):
            if not arg.value.startswith("vnc="):
                raise Invalid("VNC requires a display argument vnc=<display>")
            self.ignore(arg)
            return
        self.display = machine_opts.display_type(arg.value)
        if self.display != "none":
            self.ignore(arg)

    def opt_no_shutdown(self, arg: Arg) -> None:
        self.actions["shutdown"] = "pause"

    def opt_no_reboot(self, arg: Arg) -> None:
        self.actions["reboot"] = "shutdown"

    def opt_action(self, arg: Arg) -> None:
        items = self.opts(specs.ACTION, arg.value, abbrev=False).items
        for key, value in items:
            if value not in specs.ACTION_VALUES[key]:
                raise Invalid(f"Parameter '{key}' does not accept value '{value}'")
            self.actions[key] = value
        if any(key in ("panic", "watchdog") for key, _ in items):  # vmd has no panic device or watchdog
            self.ignore(arg)

    def opt_incoming(self, arg: Arg) -> None:
        if arg.value != "defer" and not arg.value.startswith(_MIGRATION_SCHEMES):
            # QEMU reports this once the machine exists, quoting the option itself.
            raise CommandLineError(f"-incoming {arg.value}: unknown migration protocol: {arg.value}")
        self.incoming = arg.value

    def opt_log_file(self, arg: Arg) -> None:
        self.log_file = arg.value

    def opt_vmd_limits(self, arg: Arg) -> None:
        into = Keyval()
        if keyval_parse(arg.value, None, into):
            raise Invalid(f"Help: -vmd-limits {','.join(f'{key}=SIZE' for key in specs.LIMIT_KEYS)}")
        for key, value in into.leaves.items():
            if key not in specs.LIMIT_KEYS:
                raise Invalid(f"Invalid parameter '{key}'")
            try:
                self.limits[key] = qemu_strtosz(value)
            except (BadValue, OutOfRange):
                raise Invalid(f"Parameter '{key}' expects a size") from None
            if self.limits[key] <= 0:
                raise Invalid(f"Parameter '{key}' must be positive")

    def opt_vmd_guest(self, arg: Arg) -> None:
        if keyval_parse(arg.value, None, self.guest_policy):
            raise EarlyExit("options", guest_policy_help(), "vmd-guest")

    # --- monitors, chardevs, serial ports ------------------------------------------------

    def opt_chardev(self, arg: Arg) -> None:
        opts = self.opts(specs.CHARDEV, arg.value)
        if opts.id is None:
            raise Invalid("chardev: no id specified")
        backend = opts.get("backend")
        if backend is None:
            raise Invalid(f'chardev: "{opts.id}" missing backend')
        chardev.add_chardev(self.chardevs, opts.id, backend, chardev.chardev_props(opts), arg.location)

    def opt_qmp(self, arg: Arg) -> None:
        self.monitor_parse(arg, pretty=False)

    def opt_qmp_pretty(self, arg: Arg) -> None:
        self.monitor_parse(arg, pretty=True)

    def opt_monitor(self, arg: Arg) -> None:
        if not arg.value.startswith("none"):  # QEMU compares only the first four characters
            raise Invalid(f"{HMP_REFUSED}: use -qmp")

    def monitor_parse(self, arg: Arg, *, pretty: bool) -> None:
        """-qmp/-qmp-pretty: "chardev:ID" or QEMU's legacy backend syntax ("unix:PATH,server=on")."""
        mon_ids = self.opts_ids.setdefault("mon", set())
        if arg.value.startswith("chardev:"):
            label = arg.value.removeprefix("chardev:")
            check_opts_id(specs.MON, label, mon_ids)  # the chardev's id becomes the monitor's id
        else:
            # QEMU names these chardevs compat_monitor0, 1, ... and query-chardev shows them.
            label = f"compat_monitor{self.compat_monitors}"
            if label in self.opts_ids.setdefault("chardev", set()):
                raise Invalid(f"Duplicate ID '{label}' for chardev")
            try:
                backend, props = chardev.legacy_chardev(arg.value)
            except LegacySyntax:
                raise Invalid(f"parse error: {arg.value}") from None
            if backend != "socket" or props.get("mux") == "on":
                raise Invalid(f"{MONITOR_SOCKETS_ONLY}, not '{arg.value}'")
            chardev.add_chardev(self.chardevs, label, backend, props, arg.location)
            self.opts_ids["chardev"].add(label)
        mon_ids.add(label)
        self.compat_monitors += 1
        self.monitor_requests.append(MonitorRequest(arg, label, "control", pretty, label))

    def opt_mon(self, arg: Arg) -> None:
        opts = self.opts(specs.MON, arg.value)
        pretty = parse_bool(opts.get("pretty") or "off")
        self.monitor_requests.append(
            MonitorRequest(arg, opts.get("chardev"), opts.get("mode"), pretty, opts.id)
        )

    def opt_serial(self, arg: Arg) -> None:
        if arg.value == "none":
            return
        if arg.value.startswith("chardev:"):
            self.serial_requests.append(SerialRequest(arg, chardev_id=arg.value.removeprefix("chardev:")))
            return
        try:
            backend, props = chardev.legacy_chardev(arg.value)
        except LegacySyntax:
            raise Invalid(f"could not connect serial device to character backend '{arg.value}'") from None
        if props.get("mux") == "on":  # "mon:..." shares the port with a human monitor
            raise Invalid(HMP_REFUSED)
        self.serial_requests.append(SerialRequest(arg, backend=(backend, props)))

    # --- devices, objects, globals, fds ---------------------------------------------------

    def opt_device(self, arg: Arg) -> None:
        if arg.value.startswith("{"):
            self.add_device(dataclasses.replace(devices.json_device(arg.value), text=arg.value))
            return
        opts = self.opts(specs.DEVICE, arg.value)
        driver = opts.get("driver")
        if self.device_help is None and (is_help(driver) or opts.get("help") == "on"):
            # QEMU answers the first of these once the whole line is read.
            self.device_help = EarlyExit(
                "device", detail=None if is_help(driver) else driver, location=arg.location
            )
        if driver is None:
            raise Invalid("Parameter 'driver' is missing")
        props = MappingProxyType(opts.last_values(skip=("driver",)))
        self.add_device(DeviceConfig(driver, opts.id, props, text=arg.value))

    def add_device(self, device: DeviceConfig) -> None:
        if device.id is not None:
            if device.id in self.device_ids:
                raise Invalid(f"Duplicate device ID '{device.id}'")
            self.device_ids.add(device.id)
        self.devices.append(device)

    def opt_object(self, arg: Arg) -> None:
        if arg.value.startswith("{"):
            obj = devices.json_object(arg.value)
        else:
            try:
                obj = devices.opts_object(self.opts(specs.OBJECT, arg.value))  # refuses an earlier id
            except EarlyExit as early:
                early.location = arg.location
                raise
        if self.check_object is not None:
            try:
                self.check_object(obj)
            except self.object_error as error:
                raise Invalid(str(error)) from None
        if obj.id in self.object_ids:
            # QEMU finds this clash only when it creates the object, and names no option.
            raise CommandLineError(
                f"attempt to add duplicate property '{obj.id}' to object (type 'container')"
            )
        self.object_ids.add(obj.id)
        self.objects.append(obj)

    def opt_global(self, arg: Arg) -> None:
        self.globals.append(devices.global_config(arg.value, self.opts_ids.setdefault("global", set())))

    def opt_add_fd(self, arg: Arg) -> None:
        self.add_fds.append((arg, self.opts(specs.ADD_FD, arg.value, abbrev=False)))

    # --- accepted and ignored, after QEMU's checks ------------------------------------

    def opt_boot(self, arg: Arg) -> None:
        boot = Keyval()
        if keyval_parse(arg.value, "order", boot):
            raise EarlyExit("options", opts_help(specs.BOOT_HELP), specs.BOOT_HELP.name)
        check_keyval_members("boot", boot, specs.BOOT_KEYS)
        self.ignore(arg)

    def opt_rtc(self, arg: Arg) -> None:
        self.opts(specs.RTC, arg.value, abbrev=False)
        self.ignore(arg)

    def opt_msg(self, arg: Arg) -> None:
        self.opts(specs.MSG, arg.value, abbrev=False)
        self.ignore(arg)

    def opt_overcommit(self, arg: Arg) -> None:
        opts = self.opts(specs.OVERCOMMIT, arg.value, abbrev=False)
        for key, value in opts.items:
            if parse_bool(value):
                # QEMU locks all its memory (mlockall) or passes CPU power management to a KVM
                # guest; vmd does neither, so asking for it must not look as if it were done.
                raise Invalid(f"vmd cannot honour {key}=on")
        self.ignore(arg)

    def opt_sandbox(self, arg: Arg) -> None:
        for key, value in self.opts(specs.SANDBOX, arg.value).items:
            if key in specs.SANDBOX_VALUES and value not in specs.SANDBOX_VALUES[key]:
                raise Invalid(f"invalid argument for {key}")
        self.ignore(arg)

    def opt_audiodev(self, arg: Arg) -> None:
        if arg.value.startswith("{"):
            settings = {key: str(value) for key, value in json_members(arg.value).items()}
        else:
            keyval = Keyval()
            if keyval_parse(arg.value, "driver", keyval):
                raise EarlyExit("audiodev")
            settings = keyval.leaves
        if is_help(settings.get("driver")):
            raise EarlyExit("audiodev")
        if "id" not in settings:
            raise Invalid("Parameter 'id' is missing")
        self.ignore(arg)

    def opt_vga(self, arg: Arg) -> None:
        if is_help(arg.value):
            raise EarlyExit("vga")
        if not _VGA.match(arg.value):
            raise CommandLineError(f"unknown vga type: {arg.value}")  # QEMU says it without a location
        if arg.value != "none":
            self.ignore(arg)

    def opt_seed(self, arg: Arg) -> None:
        try:
            qemu_strtou64(arg.value)
        except (BadValue, OutOfRange):
            raise Invalid(f"Invalid seed number: {arg.value}") from None
        self.ignore(arg)

    def opt_d(self, arg: Arg) -> None:
        if is_help(arg.value):
            raise EarlyExit("log")
        self.ignore(arg)

    def opt_graphic(self, arg: Arg) -> None:
        machine_opts.check_graphic_mode(arg.value)
        self.ignore(arg)

    def opt_prom_env(self, arg: Arg) -> None:
        # OpenBIOS variables: vmd's guest is its own firmware, so they are only counted.
        if self.prom_envs >= _MAX_PROM_ENVS:
            raise Invalid("too many prom variables")
        self.prom_envs += 1
        self.ignore(arg)

    def opt_ignored(self, arg: Arg) -> None:
        self.ignore(arg)

    def opt_none_or_unsupported(self, arg: Arg) -> None:
        """-net/-nic/-parallel: "none" is what vmd does anyway; anything else it cannot do."""
        if arg.value != "none":
            raise Invalid(_UNSUPPORTED)

    def opt_unsupported(self, arg: Arg) -> None:
        raise Invalid(_UNSUPPORTED)

    def opt_not_for_target(self, arg: Arg) -> None:
        raise Invalid(_NOT_FOR_TARGET)

    def opt_positional(self, arg: Arg) -> None:
        raise Invalid("disk images are not supported by vmd")

    # --- the end of the line ----------------------------------------------------------

    def finish(self) -> Config:
        """QEMU's checks after the loop, in QEMU's order, then the frozen Config."""
        machine = dict(self.machine.leaves)
        kernel, initrd, append = (machine.pop(key, None) for key in ("kernel", "initrd", "append"))
        if kernel is None and append is not None:
            raise CommandLineError("-append only allowed with -kernel option")
        if kernel is None and initrd is not None:
            raise CommandLineError("-initrd only allowed with -kernel option")
        if kernel is not None:
            # The guest vmd runs is its own firmware (or a vmd-ISA image given with -bios).
            raise CommandLineError(f"-kernel {kernel}: vmd cannot boot a Linux kernel")
        add_fds = tuple(devices.add_fd(arg, opts) for arg, opts in self.add_fds)
        if is_help(self.cpu_option):
            raise EarlyExit("cpu")
        if self.device_help is not None:
            raise self.device_help
        memory = machine_opts.memory(self.memory)
        machine = machine_opts.dashify(machine)
        machine_type = machine.pop("type", None)
        smp = machine_opts.smp(self.smp)
        accel = self.accelerators(machine.pop("accel", None))
        monitors = chardev.resolve_monitors(self.monitor_requests, self.chardevs)
        serials = chardev.connect_serials(
            self.serial_requests, self.chardevs
        )  # adds `-serial file:x`'s chardevs
        cpu_model, cpu_features = machine_opts.cpu(self.cpu_option)
        name = Opts(None, self.name)
        debug_threads = name.get("debug-threads")
        return Config(
            machine_type=machine_type,
            machine_props=MappingProxyType(machine),
            accel=accel,
            cpu_model=cpu_model,
            cpu_features=cpu_features,
            cpu_options=(self.cpu_option or "").partition(",")[2],
            smp=smp,
            memory=memory,
            numa=tuple(self.numa),
            numa_texts=tuple(self.numa_texts),
            start_paused=self.start_paused,
            incoming=self.incoming,
            name=name.get("guest"),
            process_name=name.get("process"),
            debug_threads=None if debug_threads is None else parse_bool(debug_threads),
            uuid=self.uuid,
            daemonize=self.daemonize,
            pidfile=self.pidfile,
            nodefaults=self.nodefaults,
            no_user_config=self.no_user_config,
            nographic=self.nographic,
            display=self.display,
            no_shutdown=self.actions.get("shutdown") == "pause",
            no_reboot=self.actions.get("reboot") == "shutdown",
            monitors=monitors,
            chardevs=MappingProxyType(dict(self.chardevs)),
            serials=serials,
            devices=tuple(self.devices),
            objects=tuple(self.objects),
            globals=tuple(self.globals),
            add_fds=add_fds,
            kernel=kernel,
            initrd=initrd,
            append=append,
            guest_policy=MappingProxyType(dict(self.guest_policy.leaves)),
            limits=MappingProxyType(dict(self.limits)),
            log_file=self.log_file,
            ignored_options=tuple(self.ignored),
        )

    def accelerators(self, legacy: str | None) -> tuple[AccelConfig, ...]:
        if legacy is None:
            return tuple(self.accel)
        if self.accel:
            raise CommandLineError('The -accel and "-machine accel=" options are incompatible')
        return tuple(AccelConfig(name) for name in legacy.split(":"))
