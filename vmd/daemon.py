"""The running daemon: one VM, its monitors, and an orderly way out.

Start-up order: bind (or connect) every monitor socket (so errors are reported
before the parent of a -daemonize process exits), write the pidfile, start serving
the monitors (a client-mode monitor's greeting goes out: the launcher that waits
for it may rely on every socket being bound and the pidfile written), report ready,
wait for monitors with wait=on to get a client, then launch the VM.  Exit order (quit,
SIGTERM, a guest shutdown): stop accepting, flush and close every session, stop
the vCPUs, remove socket files and the pidfile.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any

from vmd.agent_migration import AgentChannelSection
from vmd.boards.configure import ChannelSettings, MachineSettings, SerialSettings
from vmd.boards.x86.virtio_serial import add_virtio_serial
from vmd.config import thaw_json
from vmd.devices.cpu_state import CpuStatePort
from vmd.devices.ports import PortBus
from vmd.devices.serial import COM_BASES, REGISTERS, ByteSink, FdSink, NullSink, PtySink, SerialPort
from vmd.devices.virtio_serial import PortState
from vmd.errors import QmpError, StartupError
from vmd.firmware import standard as fw
from vmd.guest.agent import GuestAgent
from vmd.guest.drivers import driver_for
from vmd.guest.os_model import GuestOs
from vmd.handlers.context import CommandContext
from vmd.handlers.control import version_info
from vmd.handlers.qga import AGENT_HANDLERS, AgentContext
from vmd.handlers.table import all_handlers
from vmd.json.writer import Encoded, encode
from vmd.machine.qdev.opts import ArgumentSource
from vmd.machine.qom import DeviceObject, QomProperty, constant
from vmd.machine.user_objects import add_to_qom
from vmd.machine.vcpus import FaultHandler, LoopHandoff, VcpuHost, VcpuSetupError, favour_the_loop_thread
from vmd.machine.vm import Identity, VirtualMachine
from vmd.pidfile import Pidfile
from vmd.qapi.compiled import __COM_VMD_GUEST_CPU_STATE as GUEST_CPU_STATE
from vmd.qapi.compiled import (
    AGENT_SCHEMA,
    SCHEMA,
    SCHEMA_INFO_JSON,
    VSERPORT_CHANGE,
    ShutdownCause,
    VserportChangeData,
)
from vmd.qmp.agent_session import AgentReading, AgentSession
from vmd.qmp.channel import ChannelListener
from vmd.qmp.dispatch import Dispatcher, to_wire
from vmd.qmp.events import EventBus
from vmd.qmp.limits import SessionLimits
from vmd.qmp.server import Endpoint, FdEndpoint, MonitorListener, UnixEndpoint
from vmd.qmp.session import OFFERED_CAPABILITIES, QmpSession
from vmd.records import dataclass
from vmd.vcpu import FaultInfo

if TYPE_CHECKING:
    from vmd.qmp.connection import ConnectionEndpoint, MonitorConnection

log = logging.getLogger(__name__)

SESSION_CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    name: str
    endpoint: Endpoint | ConnectionEndpoint
    chardev_id: str = "compat_monitor0"
    wait: bool = False
    pretty: bool = False
    location: str = ""  # the option that asked for it: prefixes the errors of opening it, as in QEMU


@dataclass(frozen=True)
class DaemonSettings:
    machine: MachineSettings
    identity: Identity = field(default_factory=Identity)
    monitors: tuple[MonitorSettings, ...] = ()
    start_paused: bool = False
    incoming: str | None = None
    no_shutdown: bool = False
    no_reboot: bool = False
    pidfile: str | None = None
    limits: SessionLimits = field(default_factory=SessionLimits)


FDSET_PREFIX = "/dev/fdset/"


def _open_serial(serial: SerialSettings, fdsets: Mapping[int, tuple[int, ...]]) -> ByteSink:
    if serial.backend == "null":
        return NullSink()
    if serial.backend == "stdio":
        return FdSink(sys.stdout.fileno(), owned=False)
    if serial.backend == "pty":
        try:
            sink = PtySink()
        except OSError as error:
            raise StartupError(f"Failed to create PTY: {error.strerror}") from None
        # QEMU's words: libvirt and people read the terminal's path from the log.
        print(f"char device redirected to {sink.path} (label {serial.chardev_id})", file=sys.stderr)
        return sink
    assert serial.backend == "file"
    assert serial.path is not None
    if serial.path.startswith(FDSET_PREFIX):
        # A file the caller opened for vmd and passed with -add-fd (libvirt does this).
        number = serial.path.removeprefix(FDSET_PREFIX)
        fds = fdsets.get(int(number)) if number.isdigit() else None
        if not fds:
            raise StartupError(f"Could not open '{serial.path}': No such file or directory")
        return FdSink(os.dup(fds[0]), owned=True)
    try:
        return FdSink.open_file(serial.path, append=serial.append)
    except OSError as error:
        raise StartupError(f"Could not open '{serial.path}': {error.strerror}") from None


def _channel_endpoint(settings: ChannelSettings) -> Endpoint:
    if settings.fd is not None:
        return FdEndpoint(settings.fd)
    assert settings.path is not None
    return UnixEndpoint(settings.path, settings.socket_mode)


def _read_firmware(path: str) -> bytes:
    try:
        with open(path, "rb") as image:
            return image.read()
    except OSError:
        raise StartupError(f"could not load PC BIOS '{path}'") from None


def _build_vcpus(
    machine: MachineSettings, on_fault: FaultHandler, handoff: LoopHandoff, guest: GuestOs
) -> tuple[VcpuHost, list[ByteSink], dict[str, SerialPort]]:
    """Guest RAM, firmware, the I/O bus with its serial ports and CPU state port, the vCPU engine."""
    bus = PortBus()
    ports: dict[str, SerialPort] = {}
    bus.map(fw.CPU_STATE_PORT, 1, CpuStatePort(handoff, guest.cpu_reported))
    sinks: list[ByteSink] = []
    try:
        for serial in machine.serials:
            sink = _open_serial(serial, machine.fdsets)
            sinks.append(sink)
            port = SerialPort(sink)
            ports[serial.chardev_id] = port
            bus.map(COM_BASES[serial.index], REGISTERS, port)
        image = None if machine.firmware is None else _read_firmware(machine.firmware)
        try:
            host = VcpuHost(
                ram_bytes=machine.ram_bytes,
                ram_backend=machine.ram_backend,
                max_vcpus=machine.topology.max_cpus,
                bus=bus,
                on_fault=on_fault,
                handoff=handoff,
                image=image,
            )
        except VcpuSetupError as error:
            raise StartupError(str(error)) from None
    except BaseException:
        for sink in sinks:
            sink.close()
        raise
    return host, sinks, ports


class Daemon:
    def __init__(self, settings: DaemonSettings) -> None:
        self.settings = settings
        # vmd's own events that only sessions asking for them get (__com.vmd_enable-events).
        self.bus = EventBus(opt_in=frozenset({GUEST_CPU_STATE.name}))
        self.sessions: set[QmpSession] = set()
        self._exit: asyncio.Future[None] | None = None
        self._handoff = LoopHandoff()
        self.guest = guest = GuestOs(settings.machine.guest_policy)
        vcpus, self._sinks, serial_ports = _build_vcpus(
            settings.machine, self._on_guest_fault, self._handoff, guest
        )
        self.vm = VirtualMachine(
            settings.identity,
            emit=self.bus.emit,
            request_exit=self._request_exit,
            start_paused=settings.start_paused,
            no_shutdown=settings.no_shutdown,
            no_reboot=settings.no_reboot,
            vcpus=vcpus,
            board=settings.machine.board,
            topology=settings.machine.topology,
            cpu_type=settings.machine.cpu_type,
            boot_cpus=settings.machine.boot_cpus,
            slot_nodes=settings.machine.slot_nodes,
            guest=guest,
            incoming=settings.incoming,
        )
        for chardev_id, port in serial_ports.items():
            self.vm.devices[f"serial:{chardev_id}"] = port
        manager = self.vm.cpu_manager
        guest.attach(
            manager,
            driver_for(guest, manager.controller, manager),
            self.vm.guest_powered_off,
            reboot=lambda: self.vm.reset(ShutdownCause.GUEST_RESET),
        )
        add_to_qom(settings.machine.objects, self.vm.qom.root.children["objects"])
        self._add_serial_devices()
        add_virtio_serial(self.vm.qom.machine, settings.machine.virtio_serial)
        host_name = settings.identity.name or "localhost"
        self.agent = GuestAgent(guest, machine=settings.machine.board.target.value, host_name=host_name)
        self._agent_dispatcher = Dispatcher(AGENT_SCHEMA, AGENT_HANDLERS)
        self._ports = {
            port.chardev_id: PortState(port)
            for port in settings.machine.virtio_serial.ports
            if port.chardev_id is not None
        }
        self._channels: list[ChannelListener] = []
        for state in self._ports.values():
            state.listen(functools.partial(self._port_changed, state))
            if state.port.is_agent:
                self.agent.attach(state)
        agent_chardev = next((c for c, state in self._ports.items() if state.port.is_agent), None)
        self._agent_section = AgentChannelSection(
            self.agent, agent_chardev, functools.partial(self._agent_client, agent_chardev)
        )
        self.vm.sections["agent-channel"] = self._agent_section
        # QEMU has one schema per target: this binary's commands only, each with its handler.
        self._target = settings.machine.board.target.value
        schema = SCHEMA.for_target(self._target)
        handlers = {name: handler for name, handler in all_handlers().items() if name in schema.commands}
        self.dispatcher = Dispatcher(schema, handlers)
        self._greeting = {
            "QMP": {"version": to_wire(version_info()), "capabilities": list(OFFERED_CAPABILITIES)}
        }
        self._monitors: list[MonitorListener | MonitorConnection] = []
        self._pidfile = Pidfile(settings.pidfile) if settings.pidfile else None

    # -- DaemonServices -----------------------------------------------------------------------

    @functools.cache  # noqa: B019 - one daemon per process; encoded on first use to keep start-up short
    def schema_info(self) -> Encoded:
        """query-qmp-schema's reply, in wire form once and for all (it never changes)."""
        return Encoded(encode(json.loads(SCHEMA_INFO_JSON[self._target])))

    def command_names(self) -> list[str]:
        return list(self.dispatcher.commands)

    def chardevs(self) -> list[tuple[str, str, bool]]:
        """(label, filename, frontend open) of every character device, as query-chardev shows them:
        the monitors' sockets ("disconnected:" while no client is connected), then the serial ports'."""
        listed = []
        for endpoint, monitor in zip(self._monitors, self.settings.monitors, strict=False):
            connected = any(s.chardev_id == monitor.chardev_id for s in self.sessions)
            listed.append((monitor.chardev_id, endpoint.chardev_filename(connected), True))
        for serial, sink in zip(self.settings.machine.serials, self._sinks, strict=False):
            filename = f"pty:{sink.path}" if isinstance(sink, PtySink) else serial.backend
            listed.append((serial.chardev_id, filename, True))
        for channel in self._channels:
            guest_open = self._ports[channel.chardev_id].guest_open
            listed.append((channel.chardev_id, channel.chardev_filename(), guest_open))
        return listed

    def yankable_chardevs(self) -> list[str]:
        return [monitor.chardev_id for monitor in self.settings.monitors]

    def agent_vcpus(self) -> dict[int, tuple[bool, bool]] | None:
        if not self.agent.answering:
            return None
        return {cpu.logical_id: (cpu.online, cpu.can_offline) for cpu in self.agent.get_vcpus()}

    def yank_chardev(self, chardev_id: str) -> None:
        """Drop every connection of that monitor at once, pending output included (QEMU shuts the channel)."""
        for session in list(self.sessions):
            if session.chardev_id == chardev_id:
                log.info("%s: yanked", session.name)
                session.abort()

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self, ready: Callable[[], None] = lambda: None) -> int:
        loop = asyncio.get_running_loop()
        self._exit = loop.create_future()
        self._handoff.bind(loop)
        favour_the_loop_thread()
        try:
            self.vm.create_boot_cpus()
            self._cold_plug()
            self._open_monitors()
            self._open_channels()
            if self._pidfile is not None:
                self._pidfile.write()
            # As in QEMU, the VM starts before any monitor serves a request, so no client sees the
            # RESUME of the start (a client on a connected fd= monitor would negotiate at once).
            # A wait=on monitor holds the start until its client connected, as QEMU's does.
            held = any(
                monitor.wait and isinstance(endpoint, MonitorListener)
                for endpoint, monitor in zip(self._monitors, self.settings.monitors, strict=True)
            )
            if not held:
                self.vm.launch()
            for endpoint in self._monitors:
                await endpoint.start()
            for channel in self._channels:
                channel.start()
        except Exception:
            await self._close_monitors()
            await self._stop_vcpus()
            raise
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            # As QEMU: a wait=on monitor holds start-up (and a -daemonize parent) until a client connects.
            for endpoint, monitor in zip(self._monitors, self.settings.monitors, strict=True):
                if monitor.wait and isinstance(endpoint, MonitorListener) and not self._exit.done():
                    log.info("waiting for a connection on %s (wait=on)", endpoint.describe())
                    await asyncio.wait(
                        [endpoint.first_client, self._exit], return_when=asyncio.FIRST_COMPLETED
                    )
            if not self._exit.done():
                ready()
                if held:
                    self.vm.launch()
            await self._exit
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            await self._shutdown()
        return self.vm.exit_status

    def _open_monitors(self) -> None:
        """Bind, adopt or connect every monitor's socket, in command-line order; serve none yet."""
        for monitor in self.settings.monitors:
            factory = functools.partial(self._new_session, monitor)
            endpoint: MonitorListener | MonitorConnection
            if isinstance(monitor.endpoint, Endpoint):
                endpoint = MonitorListener(monitor.endpoint, factory)
            else:  # client mode: its module loads only when a command line asks for one
                from vmd.qmp.connection import MonitorConnection

                endpoint = MonitorConnection(monitor.endpoint, factory, monitor.chardev_id)
            self._monitors.append(endpoint)
            try:
                endpoint.open()
            except StartupError as error:
                if not monitor.location:
                    raise
                raise StartupError(f"{monitor.location}: {error}") from None

    def _open_channels(self) -> None:
        """Bind or adopt the socket of every virtserialport's chardev."""
        for settings in self.settings.machine.channels:
            channel = ChannelListener(
                settings.chardev_id,
                _channel_endpoint(settings),
                functools.partial(self._new_agent_session, settings.chardev_id),
            )
            self._channels.append(channel)
            try:
                channel.open()
            except StartupError as error:
                where = f"{settings.location}: " if settings.location else ""
                raise StartupError(f"{where}{error}") from None

    def _agent_reading(self, chardev_id: str) -> AgentReading:
        """How the guest reads the port: a port other than the agent's is never read."""
        state = self._ports[chardev_id]
        if not state.port.is_agent or not state.guest_open:
            return AgentReading.CLOSED
        return AgentReading.SERVING if state.guest_reading else AgentReading.DROPPING

    def _agent_client(self, chardev_id: str | None) -> AgentSession | None:
        """The session of the client connected to that chardev now, if any."""
        for channel in self._channels:
            if channel.chardev_id == chardev_id and channel.session is not None:
                return channel.session
        return None

    def _new_agent_session(self, chardev_id: str) -> AgentSession:
        session = self._agent_session(chardev_id)
        if self._ports[chardev_id].port.is_agent:
            self._agent_section.connected(session)  # requests a migration brought, if any
        return session

    def _agent_session(self, chardev_id: str) -> AgentSession:
        return AgentSession(
            reading=self._agent_reading(chardev_id),
            name=f"agent:{chardev_id}",
            chardev_id=chardev_id,
            dispatcher=self._agent_dispatcher,
            context=lambda session: AgentContext(self.agent),
            accepting=lambda: not self.vm.exiting,
            bus=self.bus,
            limits=self.settings.limits,
        )

    def _port_changed(self, state: PortState, open_changed: bool) -> None:
        """The guest opened, closed, hung on or came back to a port."""
        if open_changed and state.port.device_id is not None:
            self.bus.emit(VSERPORT_CHANGE, VserportChangeData(open=state.guest_open, id=state.port.device_id))
        chardev_id = state.port.chardev_id
        for channel in self._channels:
            if channel.chardev_id == chardev_id and channel.session is not None:
                channel.session.set_reading(self._agent_reading(chardev_id))

    def _new_session(self, monitor: MonitorSettings) -> QmpSession:
        session = QmpSession(
            name=monitor.name,
            chardev_id=monitor.chardev_id,
            dispatcher=self.dispatcher,
            context=lambda session: CommandContext(
                vm=self.vm, guest=self.guest, session=session, daemon=self
            ),
            accepting=lambda: not self.vm.exiting,
            bus=self.bus,
            greeting=self._greeting,
            limits=self.settings.limits,
            pretty=monitor.pretty,
            on_closed=self.sessions.discard,
        )
        self.sessions.add(session)
        return session

    def _add_serial_devices(self) -> None:
        """-device isa-serial ports as QOM devices, where QEMU puts them (-serial ones are not
        modelled in QOM)."""
        machine = self.vm.qom.machine
        for serial in self.settings.machine.serials:
            if not serial.from_device:
                continue
            obj = DeviceObject("isa-serial")
            obj.add_property(QomProperty("index", "uint32", get=constant(serial.index)))
            obj.add_property(QomProperty("chardev", "str", get=constant(serial.chardev_id)))
            if serial.device_id is not None:
                machine.children["peripheral"].add_child(serial.device_id, obj)
            else:
                anon = machine.children["peripheral-anon"]
                anon.add_child(f"device[{len(anon.children)}]", obj)

    def _cold_plug(self) -> None:
        """-device, in command-line order, after the boot CPUs (as QEMU creates them)."""
        for device in self.settings.machine.devices:
            arguments: dict[str, Any] = {"driver": device.driver}
            if device.id is not None:
                arguments["id"] = device.id
            arguments.update((key, thaw_json(value)) for key, value in device.props.items())
            source = ArgumentSource.CLI_JSON if device.from_json else ArgumentSource.CLI
            try:
                self.vm.cpu_manager.device_add(arguments, hotplug=False, source=source)
            except QmpError as error:
                raise StartupError(f"-device {device.text}: {error.desc}") from None

    def _on_guest_fault(self, index: int, fault: FaultInfo) -> None:
        self.vm.guest_fault(index, fault)

    def _on_signal(self, signum: int) -> None:
        log.info("terminating on signal %d", signum)
        if not self.vm.exiting:
            self.vm.shutdown(ShutdownCause.HOST_SIGNAL)

    def _request_exit(self) -> None:
        # Called from inside a command; the reply is written before this runs.
        if self._exit is not None and not self._exit.done():
            asyncio.get_running_loop().call_soon(self._exit_now)

    def _exit_now(self) -> None:
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(None)

    async def _shutdown(self) -> None:
        await self._close_monitors()
        sessions = list(self.sessions)
        for session in sessions:
            session.close()
        if sessions:
            _, stuck = await asyncio.wait([s.closed for s in sessions], timeout=SESSION_CLOSE_TIMEOUT)
            for session in sessions:
                if not session.closed.done():
                    session.abort()
            if stuck:
                await asyncio.wait(stuck, timeout=SESSION_CLOSE_TIMEOUT)
        await self._stop_vcpus()
        if self._pidfile is not None:
            self._pidfile.remove()

    async def _stop_vcpus(self) -> None:
        """Join every vCPU thread, then close the serial backends they wrote to."""
        await self.vm.migration.close()
        await self.vm.dump.close()
        await self.vm.settle()
        await self.vm.vcpus.close()
        for sink in self._sinks:
            sink.close()
        self._sinks.clear()

    async def _close_monitors(self) -> None:
        for endpoint in self._monitors:
            await endpoint.close()
        self._monitors.clear()
        for channel in self._channels:
            await channel.close()
        self._channels.clear()
