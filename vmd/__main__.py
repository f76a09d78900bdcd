"""`vmd` / `python -m vmd`: a QEMU-style command line in, a running daemon out.

-daemonize works as QEMU's does: the parent exits 0 only after the child has
bound every monitor socket and written the pidfile (libvirt's capability probe
relies on that), and exits 1 if the child's start-up fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping

from vmd.cli import CommandLineError, EarlyExit, parse_command_line
from vmd.config import Config, InheritedFd, UnixPath
from vmd.daemon import Daemon, DaemonSettings, MachineSettings, MonitorSettings, SerialSettings, StartupError
from vmd.devices.isa_serial import DRIVER as ISA_SERIAL
from vmd.devices.isa_serial import IsaSerialError, resolve_isa_serials
from vmd.guest.firmware import MAX_CPUS as MAX_VCPUS
from vmd.guest.policy import PolicyError, parse_policy
from vmd.machine.boards import (
    DEFAULT_CPU_TYPE,
    VMD_MAX_CPUS,
    Board,
    UnknownMachineError,
    find_board,
    machine_properties,
    with_vmd_max_cpus,
)
from vmd.machine.cpu_models import TYPE_SUFFIX, find_cpu_model
from vmd.machine.numa import NumaError, resolve_numa
from vmd.machine.topology import TopologyError, resolve_smp
from vmd.machine.user_objects import ObjectError, check_option, create_objects, machine_ram
from vmd.machine.vm import NIL_UUID, Identity
from vmd.pidfile import PidfileError
from vmd.qmp.limits import SessionLimits
from vmd.qmp.server import FdEndpoint, ListenError, UnixEndpoint

log = logging.getLogger("vmd")


def default_monitor_path() -> str:
    """Where a vmd started without any QMP monitor listens: a private directory, a per-process name."""
    directory = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vmd-{os.getuid()}")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.path.join(directory, f"qmp-{os.getpid()}.sock")


def settings_from_config(config: Config) -> DaemonSettings:
    monitors = []
    for index, monitor in enumerate(config.monitors):
        endpoint = monitor.endpoint
        if isinstance(endpoint, UnixPath):
            target: UnixEndpoint | FdEndpoint = UnixEndpoint(endpoint.path, monitor.socket_mode)
        else:
            assert isinstance(endpoint, InheritedFd)
            target = FdEndpoint(endpoint.fd)
        monitors.append(
            MonitorSettings(
                f"monitor{index}",
                target,
                chardev_id=monitor.chardev_id,
                wait=monitor.wait,
                pretty=monitor.pretty,
            )
        )
    if not monitors:
        # QEMU would offer HMP on its console; vmd has only QMP, so it always opens one.
        monitors.append(MonitorSettings("monitor0", UnixEndpoint(default_monitor_path())))
    limits = SessionLimits(**{key.replace("-", "_"): value for key, value in config.limits.items()})
    return DaemonSettings(
        identity=Identity(name=config.name, uuid=config.uuid or NIL_UUID),
        limits=limits,
        monitors=tuple(monitors),
        start_paused=config.start_paused,
        no_shutdown=config.no_shutdown,
        no_reboot=config.no_reboot,
        pidfile=config.pidfile,
        machine=machine_settings(config),
    )


_SERIAL_BACKENDS = ("file", "null", "stdio", "pty")


def _apply_machine_properties(board: Board, props: Mapping[str, str]) -> Board:
    known = machine_properties(board)
    for key in props:
        if key.split(".", 1)[0] not in known:
            raise CommandLineError(f"Property '{board.name}-machine.{key}' not found")
    text = props.get(VMD_MAX_CPUS)
    if text is None:
        return board
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_VCPUS:
        raise CommandLineError(f"{VMD_MAX_CPUS}={text}: expected a number of vCPUs from 1 to {MAX_VCPUS}")
    return with_vmd_max_cpus(board, int(text))


def _fdsets(config: Config) -> dict[int, tuple[int, ...]]:
    """-add-fd: the fds of each set, in the order given (they stay open for the VM's life)."""
    sets: dict[int, list[int]] = {}
    for add_fd in config.add_fds:
        sets.setdefault(add_fd.set, []).append(add_fd.fd)
    return {number: tuple(fds) for number, fds in sets.items()}


def machine_settings(config: Config) -> MachineSettings:
    cpu_devices = tuple(d for d in config.devices if d.driver != ISA_SERIAL)
    try:
        isa_serials = resolve_isa_serials(
            (d for d in config.devices if d.driver == ISA_SERIAL),
            (serial.index for serial in config.serials),
            config.chardevs,
        )
    except IsaSerialError as error:
        text = error.device.text if error.device is not None and error.device.text else ISA_SERIAL
        raise CommandLineError(f"-device {text}: {error}") from None
    ports: list[tuple[int, str | None, str | None, bool]] = [
        (serial.index, serial.chardev_id, None, False) for serial in config.serials
    ]
    ports += [(port.index, port.chardev_id, port.device_id, True) for port in isa_serials]
    serials = []
    for index, chardev_id, device_id, from_device in ports:
        if chardev_id is None:
            serials.append(SerialSettings(index, "null", device_id=device_id, from_device=from_device))
            continue
        chardev = config.chardevs[chardev_id]
        if chardev.backend not in _SERIAL_BACKENDS:
            raise CommandLineError(
                f"serial port {index} (chardev '{chardev.id}'): vmd connects serial ports only to "
                f"{', '.join(_SERIAL_BACKENDS)} chardevs, not '{chardev.backend}'"
            )
        serials.append(
            SerialSettings(
                index,
                chardev.backend,
                chardev_id=chardev.id,
                path=chardev.props.get("path"),
                append=chardev.props.get("append") == "on",
                device_id=device_id,
                from_device=from_device,
            )
        )
    try:
        board = find_board(config.machine_type)
    except UnknownMachineError as error:
        raise CommandLineError(f"{error}\n{error.hint}") from None
    board = _apply_machine_properties(board, config.machine_props)
    try:
        topology = resolve_smp(config.smp, board)
    except TopologyError as error:
        for warning in error.warnings:
            print(f"vmd: warning: {warning}", file=sys.stderr)
        raise CommandLineError(str(error)) from None
    for warning in topology.warnings:
        print(f"vmd: warning: {warning}", file=sys.stderr)
    try:
        numa = resolve_numa(
            config.numa, config.objects, topology, board, config.memory, option_texts=config.numa_texts
        )
    except NumaError as error:
        for line in error.warnings:
            print(f"vmd: {line}", file=sys.stderr)
        raise CommandLineError(str(error) + (f"\n{error.hint}" if error.hint else "")) from None
    for line in numa.warnings if numa is not None else ():
        print(f"vmd: {line}", file=sys.stderr)
    try:
        objects = create_objects(config.objects)
        ram_backend = machine_ram(
            objects.backends, config.machine_props.get("memory-backend"), config.memory.size_bytes
        )
        for node in numa.nodes if numa is not None else ():
            if node.memdev is not None and objects.backends[node.memdev].mem_path is not None:
                raise ObjectError(
                    f"memdev={node.memdev}: vmd maps a memory-backend-file only as the machine's "
                    "RAM (-machine memory-backend=ID), not as one NUMA node's"
                )
    except ObjectError as error:
        raise CommandLineError(str(error)) from None
    model_name = config.cpu_model or (board.default_cpu_type or DEFAULT_CPU_TYPE).removesuffix(TYPE_SUFFIX)
    model = find_cpu_model(model_name)
    if model is None:
        raise CommandLineError(f"unable to find CPU model '{model_name}'")
    # The `none` board creates a CPU only when -cpu names one.
    boot_cpus = topology.boot_cpus if board.default_cpu_type is not None or config.cpu_model else 0
    try:
        policy = parse_policy(config.guest_policy)
    except PolicyError as error:
        raise CommandLineError(str(error)) from None
    return MachineSettings(
        slot_nodes=None if numa is None else numa.slot_nodes,
        guest_policy=policy,
        devices=cpu_devices,
        board=board,
        topology=topology,
        cpu_type=model.typename,
        boot_cpus=boot_cpus,
        ram_bytes=config.memory.size_bytes,
        firmware=config.machine_props.get("firmware"),
        serials=tuple(serials),
        objects=objects,
        ram_backend=ram_backend,
        fdsets=_fdsets(config),
    )


def setup_logging(logfile: str | None) -> None:
    handler: logging.Handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s vmd[%(process)d] %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("VMD_LOG_LEVEL", "INFO").upper())


def announce(settings: DaemonSettings) -> None:
    """Tell a person at a terminal where to connect."""
    for monitor in settings.monitors:
        if isinstance(monitor.endpoint, UnixEndpoint):
            path = monitor.endpoint.path
            print(f"vmd: QMP monitor listening on {path}", file=sys.stderr)
            print(f"vmd: connect with:  qmp-shell {path}", file=sys.stderr)
    sys.stderr.flush()


def run(settings: DaemonSettings, ready: Callable[[], None] = lambda: None) -> int:
    import uvloop  # imported here: parsing errors should not pay for it

    try:
        return uvloop.run(Daemon(settings).run(ready))
    except (ListenError, PidfileError, StartupError) as error:
        print(f"vmd: {error}", file=sys.stderr)
        return 1


def daemonize(settings: DaemonSettings) -> int:
    """Fork twice (leaving the session) and return in the grandchild; the parent exits when it is ready."""
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        verdict = os.read(read_end, 1)
        os._exit(0 if verdict == b"\0" else 1)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    for signum in (signal.SIGTSTP, signal.SIGTTOU, signal.SIGTTIN):
        signal.signal(signum, signal.SIG_IGN)

    notified = False

    def ready() -> None:
        nonlocal notified
        announce(settings)
        os.chdir("/")
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        os.write(write_end, b"\0")
        os.close(write_end)
        notified = True

    status = run(settings, ready)
    if not notified:  # start-up failed: tell the waiting parent (its exit status becomes 1)
        with contextlib.suppress(OSError):
            os.write(write_end, b"\1")
    return status


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_command_line(
            sys.argv[1:] if argv is None else argv, check_object=check_option, object_error=ObjectError
        )
    except EarlyExit as early:
        print(early.text, end="" if early.text.endswith("\n") else "\n")
        return 0
    except CommandLineError as error:
        print(f"vmd: {error}", file=sys.stderr)
        return 1
    setup_logging(config.log_file)
    for option, value in config.ignored_options:
        log.info("%s %s: accepted for compatibility, no effect in vmd", option, value)
    if config.cpu_features:
        features = ",".join(f"{name}={value}" for name, value in config.cpu_features)
        # vmd's guest does not execute CPUID: a model's feature set changes nothing it runs.
        log.info("-cpu features %s: accepted, no effect in vmd (its guest does not use CPUID)", features)
    try:
        settings = settings_from_config(config)
    except CommandLineError as error:
        print(f"vmd: {error}", file=sys.stderr)
        return 1
    if config.daemonize:
        return daemonize(settings)
    return run(settings, ready=lambda: announce(settings))


if __name__ == "__main__":
    sys.exit(main())
