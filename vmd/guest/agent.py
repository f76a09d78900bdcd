"""The guest agent (qemu-ga 7.2 on Linux) that runs in the modelled guest, as far as a host sees it.

It is a service of the guest OS: it starts once the OS has booted and opens its virtio-serial port
(`org.qemu.guest_agent.0`: QEMU's `frontend-open`, `VSERPORT_CHANGE`), and the port closes when
the OS stops (reset, power-off) or the policy says the agent is off.  Its answers come from the
same OS model ACPI hotplug drives (`GuestOs`): the CPUs it lists are the present ones, in the
order their cpuN directories are listed in sysfs, and onlining or offlining one is the same
operation an administrator's write to `cpuN/online` is.  Error texts are qemu-ga 7.2's.

The policy (`agent=`): `on` answers at once; `off` is no agent (the port never opens); `slow`
answers each command `agent_delay_ms` late; `silent` opens the port and never answers (a hung
agent: what reads its input is the transport's business, see vmd.qmp.agent_session).

The agent answers only while the VM runs: a paused guest's agent is paused too.  Runs on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from vmd.errors import GenericError
from vmd.guest.os_model import GuestOs
from vmd.guest.sysfs import sysfs_cpu_order
from vmd.records import dataclass

log = logging.getLogger(__name__)

SHUTDOWN_MODES = ("halt", "powerdown", "reboot")
SETTLE_TIMEOUT = 10.0  # how long the agent waits for the boot to settle before it starts anyway
_SYSFS_CPU = "/sys/devices/system/cpu/cpu"


class AgentPort(Protocol):
    """The guest's end of the agent's virtio-serial port."""

    def set_guest_state(self, is_open: bool, reading: bool) -> None:
        """Whether the guest has the port open, and whether it reads what arrives on it."""


@dataclass(frozen=True, slots=True)
class LogicalProcessor:
    """One entry of guest-get-vcpus."""

    logical_id: int
    online: bool
    can_offline: bool


@dataclass(frozen=True, slots=True)
class OsRelease:
    """What guest-get-osinfo reports: the modelled guest says what it is, in os-release's terms."""

    id: str = "vmd"
    name: str = "vmd guest model"
    pretty_name: str = "vmd guest model (Linux-like)"
    version: str = "0.1.0"
    version_id: str = "0.1.0"
    kernel_release: str = "vmd-0.1.0"
    kernel_version: str = "#1 SMP vmd guest model"


class GuestAgent:
    def __init__(self, guest: GuestOs, *, machine: str, host_name: str) -> None:
        self.guest = guest
        self.machine = machine  # `uname -m`: x86_64, s390x, ...
        self.host_name = host_name
        self.os_release = OsRelease()
        self._port: AgentPort | None = None
        self.running = False  # the agent process runs (and has its port open)
        guest.add_service(self)

    def attach(self, port: AgentPort) -> None:
        """The port the agent opens (the machine has an agent channel)."""
        self._port = port

    # -- as a service of the guest OS -------------------------------------------------------------

    def os_started(self) -> None:
        if self._port is not None and self.guest.policy.agent != "off":  # installed, with a channel
            self.guest.spawn(self._start_late_in_boot(), "guest-agent-start")

    async def _start_late_in_boot(self) -> None:
        """qemu-ga starts once the boot has settled: by then the CPUs it lists have their state."""
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                await self.guest.boot_settled.wait()
        except TimeoutError:
            log.warning(
                "guest: the boot did not settle in %g s; the guest agent starts anyway", SETTLE_TIMEOUT
            )
        if self.guest.policy.agent != "off":
            self._start()

    def os_stopped(self) -> None:
        self._stop()

    def policy_changed(self) -> None:
        wanted = self.guest.booted and self.guest.policy.agent != "off"
        if wanted and not self.running:
            self._start()
        elif not wanted and self.running:
            self._stop()
        elif self.running and self._port is not None:
            self._port.set_guest_state(True, not self.silent)  # it hung, or came back

    def _start(self) -> None:
        if self._port is None or self.running:
            return
        log.info("guest: the guest agent starts and opens its port (agent=%s)", self.guest.policy.agent)
        self.running = True
        self._port.set_guest_state(True, not self.silent)

    def _stop(self) -> None:
        if self._port is None or not self.running:
            return
        log.info("guest: the guest agent stops and closes its port")
        self.running = False
        self._port.set_guest_state(False, False)

    def migration_state(self) -> dict[str, bool]:
        return {"running": self.running}

    def load_migration_state(self, state: dict[str, bool]) -> None:
        """The source's agent was running: it runs here too, its port open (the guest booted
        there; it does not boot again here)."""
        if state["running"]:
            self._start()

    @property
    def silent(self) -> bool:
        return self.guest.policy.agent == "silent"

    @property
    def answering(self) -> bool:
        """Whether a client of the port would get answers (a slow agent's come late)."""
        return self.running and self._port is not None and not self.silent

    async def ready(self) -> None:
        """Wait until the agent would answer: the VM runs, and a slow agent took its time."""
        await self.guest.running.wait()
        if self.guest.policy.agent == "slow":
            await asyncio.sleep(self.guest.policy.agent_delay_ms / 1000)
            await self.guest.running.wait()

    # -- commands -----------------------------------------------------------------------------------

    def _has_online_file(self, cpu: int) -> bool:
        # x86 Linux gives CPU 0 no `online` file unless booted with cpu0_hotplug.
        return cpu != 0 or self.guest.policy.cpu0_hotplug

    def get_vcpus(self) -> list[LogicalProcessor]:
        """guest-get-vcpus: every present CPU, in sysfs order; one without an `online` file is online
        and cannot be offlined, every other one can (qemu-ga does not ask the kernel)."""
        processors = []
        for cpu in sysfs_cpu_order(self.guest.present):
            has_file = self._has_online_file(cpu)
            processors.append(LogicalProcessor(cpu, cpu in self.guest.online or not has_file, has_file))
        return processors

    async def set_vcpus(self, changes: Sequence[tuple[int, bool]]) -> int:
        """guest-set-vcpus: each (logical id, online) in order, up to the first failure.  Returns
        how many succeeded; a failure of the first one is the command's error (qemu-ga's rule)."""
        done = 0
        for cpu, online in changes:
            try:
                await self._set_vcpu(cpu, online)
            except GenericError:
                if done == 0:
                    raise
                log.info("guest agent: guest-set-vcpus stopped at CPU %d after %d done", cpu, done)
                return done
            done += 1
        return done

    async def _set_vcpu(self, cpu: int, online: bool) -> None:
        guest = self.guest
        if cpu not in guest.present:
            raise GenericError(f'open("{_SYSFS_CPU}{cpu}/"): No such file or directory')
        if not self._has_online_file(cpu):
            if not online:
                raise GenericError(f"logical processor #{cpu} can't be offlined")
            return
        if (cpu in guest.online) == online:
            return  # qemu-ga writes only when the value differs
        where = f'pwrite("{_SYSFS_CPU}{cpu}//online")'
        if not online and guest.online <= {cpu}:
            raise GenericError(f"{where}: Device or resource busy")  # the kernel keeps one CPU online
        if online and cpu not in guest.configured:
            raise GenericError(f"{where}: Invalid argument")  # a CPU in standby (s390x)
        try:
            await guest.set_cpu_online(cpu, online)
        except ValueError:
            raise GenericError(f"{where}: Device or resource busy") from None
        except TimeoutError:
            raise GenericError(f"{where}: Input/output error") from None

    def time_ns(self) -> int:
        """guest-get-time: the guest's clock (it keeps the host's time)."""
        return time.time_ns()

    def shutdown(self, mode: str | None) -> None:
        """guest-shutdown: the guest shuts down as `shutdown -P`/`-H`/`-r` would.  Halting stops
        the OS (the agent's port closes) without powering the machine off."""
        mode = mode or "powerdown"
        if mode not in SHUTDOWN_MODES:
            # sic: qemu-ga 7.2's message has no closing parenthesis
            raise GenericError("mode is invalid (valid values are: halt|powerdown|reboot")
        log.info("guest agent: guest-shutdown mode=%s", mode)
        if mode == "halt":
            self._stop()
            return
        self.guest.shut_down(reboot=mode == "reboot")
