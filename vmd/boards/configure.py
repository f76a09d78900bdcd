"""From the command line to a machine: `Config` in, `MachineSettings` out, with QEMU 7.2's checks.

This is where the board decides what the command line leaves to it: its -machine properties, the
-smp levels and its own topology check, the default CPU model and RAM size, NUMA's default
mapping.  Checks run in QEMU's order (devices' syntax, the machine type and its properties, -smp,
-numa, -object, -cpu, the guest policy); a refusal is a `ConfigError` with QEMU's text, preceded
on stderr by the warnings QEMU prints before it.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from dataclasses import field

from vmd.boards.catalog import catalog, find_board
from vmd.config import Config, DeviceConfig
from vmd.devices.isa_serial import DRIVER as ISA_SERIAL
from vmd.devices.isa_serial import IsaSerialError, resolve_isa_serials
from vmd.devices.virtio_serial import DRIVERS as VIRTIO_SERIAL_DRIVERS
from vmd.devices.virtio_serial import VirtioSerialDevices, VirtioSerialError, resolve_virtio_serial
from vmd.errors import StartupError
from vmd.firmware.standard import MAX_CPUS as MAX_VCPUS
from vmd.guest.policy import GuestPolicy, PolicyError, parse_policy
from vmd.machine.board import VMD_MAX_CPUS, Board, UnknownMachineError
from vmd.machine.numa import NumaError, resolve_numa
from vmd.machine.topology import Topology, TopologyError, resolve_topology
from vmd.machine.user_objects import MemoryBackend, ObjectError, UserObjects, create_objects, machine_ram
from vmd.qapi.compiled import SysEmuTarget
from vmd.records import dataclass


class ConfigError(StartupError):
    """The command line asks for a machine QEMU (or vmd) would not build."""


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Guest serial port `index` (COM1 is 0) and where its output goes."""

    index: int
    backend: str  # "file", "null", "stdio" or "pty"
    chardev_id: str = ""
    path: str | None = None
    append: bool = False
    device_id: str | None = None  # set for a -device isa-serial, None for -serial
    from_device: bool = False


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """The socket chardev of a virtserialport: vmd listens on `path` or the inherited listening `fd`."""

    chardev_id: str
    path: str | None = None
    fd: int | None = None
    socket_mode: int = 0o600
    location: str = ""  # the -chardev option, for errors


@dataclass(frozen=True)
class MachineSettings:
    """Everything the daemon builds the VM from."""

    board: Board
    topology: Topology
    cpu_type: str
    boot_cpus: int  # what -smp asks for, except on `none`, which has no CPU unless -cpu asks
    ram_bytes: int
    guest_policy: GuestPolicy = field(default_factory=GuestPolicy)
    devices: tuple[DeviceConfig, ...] = ()  # -device: cold-plugged CPUs
    slot_nodes: tuple[int, ...] | None = None  # each slot's NUMA node, None without NUMA
    firmware: str | None = None  # -bios: a raw vmd-ISA image instead of the standard firmware
    serials: tuple[SerialSettings, ...] = ()
    objects: UserObjects = field(default_factory=lambda: UserObjects({}, {}))  # -object
    ram_backend: MemoryBackend | None = None  # -machine memory-backend=ID
    fdsets: Mapping[int, tuple[int, ...]] = field(default_factory=dict)  # -add-fd: set -> fds
    virtio_serial: VirtioSerialDevices = field(default_factory=VirtioSerialDevices)
    channels: tuple[ChannelSettings, ...] = ()  # the virtserialports' chardevs


_SERIAL_BACKENDS = ("file", "null", "stdio", "pty")


def _stderr(line: str) -> None:
    print(f"vmd: {line}", file=sys.stderr)


def machine_settings(
    config: Config, target: SysEmuTarget = SysEmuTarget.X86_64, warn: Callable[[str], None] = _stderr
) -> MachineSettings:
    """The machine `config` describes on `target`, or ConfigError; `warn` gets each warning line
    (without the program name) as QEMU prints it."""
    serials = _serials(config, target)
    try:
        board = find_board(config.machine_type, target)
    except UnknownMachineError as error:
        raise ConfigError(f"{error}\n{error.hint}") from None
    virtio_serial, channels = _virtio_serial(config, board, target)
    board = _apply_machine_properties(board, config.machine_props)
    try:
        topology = resolve_topology(config.smp, board)
    except TopologyError as error:
        for warning in error.warnings:
            warn(f"warning: {warning}")
        raise ConfigError(str(error)) from None
    for warning in topology.warnings:
        warn(f"warning: {warning}")
    memory = config.memory
    if not memory.size_given:  # -m absent (or 0): the board's default, as QEMU's default_ram_size
        memory = dataclasses.replace(memory, size_bytes=board.default_ram_size)
    try:
        numa = resolve_numa(
            config.numa, config.objects, topology, board, memory, option_texts=config.numa_texts
        )
    except NumaError as error:
        for line in error.warnings:
            warn(line)
        raise ConfigError(str(error) + (f"\n{error.hint}" if error.hint else "")) from None
    for line in numa.warnings if numa is not None else ():
        warn(line)
    ram_bytes = memory.size_bytes
    try:
        objects = create_objects(config.objects)
        ram_backend = machine_ram(objects.backends, config.machine_props.get("memory-backend"), ram_bytes)
        for node in numa.nodes if numa is not None else ():
            if node.memdev is not None and objects.backends[node.memdev].mem_path is not None:
                raise ObjectError(
                    f"memdev={node.memdev}: vmd maps a memory-backend-file only as the machine's "
                    "RAM (-machine memory-backend=ID), not as one NUMA node's"
                )
    except ObjectError as error:
        raise ConfigError(str(error)) from None
    models = board.cpu_models()
    model_name = config.cpu_model or board.default_cpu_model() or _any_default(target)
    model = models.find(model_name)
    if model is None:
        raise ConfigError(f"unable to find CPU model '{model_name}'")
    try:
        board.check_machine(topology, model.typename, ram_bytes)
    except StartupError as error:
        raise ConfigError(str(error)) from None
    if config.cpu_model is not None and board.boot_cpu_count(topology, True):
        # QEMU applies -cpu's options to the first CPU it creates, and checks that CPU's model.
        board = board.with_cpu_options(model.typename, config.cpu_options, warn)
    try:
        board = board.finalize(model.typename, topology)
    except StartupError as error:
        raise ConfigError(str(error)) from None
    try:
        policy = parse_policy(config.guest_policy)
    except PolicyError as error:
        raise ConfigError(str(error)) from None
    return MachineSettings(
        slot_nodes=None if numa is None else numa.slot_nodes,
        guest_policy=policy,
        devices=tuple(
            d
            for d in config.devices
            if (d.driver != ISA_SERIAL and d.driver not in VIRTIO_SERIAL_DRIVERS)
            or target is not SysEmuTarget.X86_64
        ),
        board=board,
        topology=topology,
        cpu_type=model.typename,
        boot_cpus=board.boot_cpu_count(topology, config.cpu_model is not None),
        ram_bytes=ram_bytes,
        firmware=config.machine_props.get("firmware"),
        serials=serials,
        objects=objects,
        ram_backend=ram_backend,
        fdsets=_fdsets(config),
        virtio_serial=virtio_serial,
        channels=channels,
    )


def _any_default(target: SysEmuTarget) -> str:
    """The model a board without a default CPU type names (`none` without -cpu creates no CPU,
    but its slot layout still has one): the target's default board's."""
    model = catalog(target).default.default_cpu_model()
    assert model is not None
    return model


def _apply_machine_properties(board: Board, props: Mapping[str, str]) -> Board:
    known = board.machine_properties()
    for key in props:
        if key.split(".", 1)[0] not in known:
            raise ConfigError(f"Property '{board.name}-machine.{key}' not found")
    try:
        board = board.with_properties(props)
    except StartupError as error:
        raise ConfigError(str(error)) from None
    text = props.get(VMD_MAX_CPUS)
    if text is None:
        return board
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_VCPUS:
        raise ConfigError(f"{VMD_MAX_CPUS}={text}: expected a number of vCPUs from 1 to {MAX_VCPUS}")
    return board.with_max_cpus(int(text))


def _serials(config: Config, target: SysEmuTarget) -> tuple[SerialSettings, ...]:
    """-serial ports, then -device isa-serial ones (x86 only: other targets have no ISA bus),
    each with its backend."""
    isa = target is SysEmuTarget.X86_64
    try:
        isa_serials = resolve_isa_serials(
            (d for d in config.devices if isa and d.driver == ISA_SERIAL),
            (serial.index for serial in config.serials),
            config.chardevs,
        )
    except IsaSerialError as error:
        text = error.device.text if error.device is not None and error.device.text else ISA_SERIAL
        raise ConfigError(f"-device {text}: {error}") from None
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
            raise ConfigError(
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
    return tuple(serials)


def _virtio_serial(
    config: Config, board: Board, target: SysEmuTarget
) -> tuple[VirtioSerialDevices, tuple[ChannelSettings, ...]]:
    """-device virtio-serial-pci, virtserialport, pcie-root-port (x86: where vmd has the guest agent's
    channel), and the socket each port's chardev listens on."""
    if target is not SysEmuTarget.X86_64:
        return VirtioSerialDevices(), ()
    devices = [d for d in config.devices if d.driver in VIRTIO_SERIAL_DRIVERS]
    try:
        root_bus = "pcie.0" if board.family == "pc_q35" else "pci.0"
        resolved = resolve_virtio_serial(devices, config.chardevs, root_bus)
    except VirtioSerialError as error:
        text = error.device.text if error.device is not None and error.device.text else "virtserialport"
        raise ConfigError(f"-device {text}: {error}") from None
    channels = []
    for port in resolved.ports:
        if port.chardev_id is None:
            continue
        chardev = config.chardevs[port.chardev_id]
        props = chardev.props
        if chardev.backend != "socket" or props.get("server") != "on" or "host" in props:
            raise ConfigError(
                f"virtserialport (chardev '{chardev.id}'): vmd connects virtio serial ports only to "
                "unix socket chardevs in server mode (path=PATH or fd=N, server=on)"
            )
        mode = int(props["mode"], 8) if "mode" in props else 0o600
        fd = int(props["fd"]) if "fd" in props else None
        channels.append(ChannelSettings(chardev.id, props.get("path"), fd, mode, chardev.location))
    return resolved, tuple(channels)


def _fdsets(config: Config) -> dict[int, tuple[int, ...]]:
    """-add-fd: the fds of each set, in the order given (they stay open for the VM's life)."""
    sets: dict[int, list[int]] = {}
    for add_fd in config.add_fds:
        sets.setdefault(add_fd.set, []).append(add_fd.fd)
    return {number: tuple(fds) for number, fds in sets.items()}
