"""The guest OS, as far as CPU hotplug goes: its view of the CPUs and what it does with them.

It behaves as a Linux guest does, with the policy's choices where guests differ.  It is the OS
only: how it hears of hot-added CPUs and eject requests, and how it answers, is the firmware
interface of the board, spoken by a driver (`vmd.guest.acpi_ospm` for ACPI; PAPR and SCLP next).

* boot: every present CPU up to `maxcpus` is brought online, the others stay offline;
* a CPU the driver reports hot-added becomes present, and is onlined if `auto_online`;
* a CPU is *configured* or, where the firmware has the notion (s390x's SCLP), in *standby*:
  a standby CPU cannot go online until the guest configures it (Linux's `chcpu -c`); with
  `auto_online` the guest configures a hot-added standby CPU, then onlines it.  x86 CPUs are
  configured while present;
* an eject request the driver accepts (per the `unplug` policy) first takes the CPUs offline;
* the ACPI power button powers the guest off (per `powerdown`), once it runs;
* its online CPUs are as busy as `load_percent` says: 0 rests them in HLT (an idle kernel), 100
  keeps them working, anything between is a duty cycle over DUTY_PERIOD.

Online and offline are real: the model flips the CPU's bit in the firmware's online bitmap and
wakes the vCPU, and a CPU counts as online only once that vCPU itself reported it on the CPU state
port.  The guest acts only while the VM runs: a paused VM's guest does nothing until `cont`.
Everything here runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from typing import Any, Protocol

from vmd.firmware import standard as fw
from vmd.guest.policy import GuestPolicy

log = logging.getLogger(__name__)

DELAY_STEP = 0.05  # seconds: how soon a shortened delay_ms takes effect

# How long the guest waits for a CPU to confirm a state change before it gives up on it.
CONFIRM_TIMEOUT = 10.0


class GuestRebooted(ValueError):
    """A CPU change the guest was waiting on was dropped by a machine reset (the OS rebooted)."""


# A duty-cycle load works this share of each period, and rests the rest of it.
DUTY_PERIOD = 0.05


class GuestMachine(Protocol):
    """What the guest reaches of the machine (vmd.machine.cpu_manager.CpuManager)."""

    def present_cpus(self) -> list[int]: ...

    def slot_vcpus(self, slot: int) -> range: ...

    def set_cpu_online_bit(self, index: int, online: bool) -> None: ...

    def set_work(self, enabled: bool) -> None: ...

    def wake_cpu(self, index: int) -> None: ...

    def eject(self, slot: int) -> Awaitable[None] | None: ...

    def unplug_refused(self, slot: int) -> None: ...

    def cpu_online_confirmed(self, index: int) -> None: ...

    def cpu_offline_confirmed(self, index: int) -> None: ...

    def slot_of(self, cpu_index: int) -> int: ...


class FirmwareDriver(Protocol):
    """The guest's driver for the board's CPU hotplug interface.  `standby_cpus`: whether the
    firmware has CPUs that are present but not configured (s390x's SCLP).
    `all_possible_present`: whether every possible CPU is present to the OS from boot and hotplug
    enables and disables them (arm64); the OS's `present` set then holds the enabled ones."""

    standby_cpus: bool
    all_possible_present: bool

    def is_configured(self, index: int) -> bool:
        """Whether the firmware reports the present CPU `index` configured."""

    def set_configured(self, index: int, configured: bool) -> None:
        """Configure or deconfigure the CPU (raises ValueError where the firmware cannot)."""

    def booted(self) -> None:
        """The OS has enumerated the present CPUs (events from before boot are moot)."""

    def rebooting(self) -> None:
        """The machine reset: the OS's work in flight was dropped."""

    async def close(self) -> None: ...


class GuestService(Protocol):
    """A program of the guest that runs while its OS does (the guest agent): told when the OS has
    booted, when it stops (reset, power-off), and when the policy changed."""

    def os_started(self) -> None: ...

    def os_stopped(self) -> None: ...

    def policy_changed(self) -> None: ...


class MigratingDriver(Protocol):
    """A driver with guest work a migration must carry (ACPI's accepted ejects)."""

    def accepted_ejects(self) -> list[int]:
        """Slots whose eject the guest accepted and has not performed yet."""

    def migrated(self, ejects: list[int]) -> None:
        """The guest arrived by migration: `ejects` are those the source's guest had accepted;
        events the controller still holds are answered once the guest runs."""


class GuestOs:
    def __init__(self, policy: GuestPolicy) -> None:
        self.policy = policy
        self.present: set[int] = set()  # what the guest has enumerated (cpu-indexes)
        self.configured: set[int] = set()  # present and configured (not in standby)
        self.online: set[int] = set()  # confirmed by the vCPU itself
        # Present CPUs whose state no report has told since the guest (re)booted or found them:
        # a vCPU reports its state once at start, so an operation on one of these always waits
        # for a report instead of trusting `online`.
        self._unconfirmed: set[int] = set()
        self._machine: GuestMachine | None = None
        self._driver: FirmwareDriver | None = None
        self._power_off: Callable[[], None] = lambda: None
        self.running = asyncio.Event()
        self._waiters: dict[int, tuple[int, asyncio.Future[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # One guest operation per CPU at a time, in order (Linux serializes hotplug work): an
        # eject requested while the CPU is still coming online waits for it, then offlines it.
        self._cpu_locks: dict[int, asyncio.Lock] = {}
        self._booted = False
        self._duty: asyncio.Task[None] | None = None
        self._reboot: Callable[[], None] = lambda: None
        self._services: list[GuestService] = []
        # Set once every CPU present at boot has reported its state: the boot has settled (what a
        # service started late in boot, like the guest agent, finds).
        self.boot_settled = asyncio.Event()

    def attach(
        self,
        machine: GuestMachine,
        driver: FirmwareDriver | None,
        power_off: Callable[[], None],
        reboot: Callable[[], None] = lambda: None,
    ) -> None:
        """The machine the guest runs on, its driver for the board's hotplug interface (None on a
        board without one), and what powering itself off and rebooting itself do."""
        self._machine = machine
        self._driver = driver
        self._power_off = power_off
        self._reboot = reboot

    def add_service(self, service: GuestService) -> None:
        self._services.append(service)

    @property
    def booted(self) -> bool:
        """Whether the OS has booted (and not been reset since)."""
        return self._booted

    @property
    def standby_cpus(self) -> bool:
        """Whether this guest's CPUs can be present but deconfigured (its firmware's notion)."""
        return self._driver is not None and self._driver.standby_cpus

    @property
    def all_possible_present(self) -> bool:
        """Whether this guest sees every possible CPU present, hotplug enabling them (arm64)."""
        return self._driver is not None and self._driver.all_possible_present

    @property
    def _found_word(self) -> str:
        return "enabled" if self.all_possible_present else "present"

    @property
    def machine(self) -> GuestMachine:
        assert self._machine is not None, "the guest runs on a machine"
        return self._machine

    # -- what the machine tells the guest -------------------------------------------------------

    @property
    def load_percent(self) -> int:
        return self.policy.load_percent

    def set_policy(self, policy: GuestPolicy) -> None:
        """A new policy, in force at once (a changed load changes how busy the CPUs are now)."""
        old, self.policy = self.policy, policy
        if self._booted and policy.load_percent != old.load_percent:
            self._apply_load()
        for service in self._services:
            service.policy_changed()

    def boot_plan(self, cpu_index: int) -> bool:
        """Whether a CPU present at boot is brought online (the maxcpus= boot parameter)."""
        return self.policy.maxcpus is None or cpu_index < self.policy.maxcpus

    def set_running(self, running: bool) -> None:
        if running:
            if not self._booted:
                self._boot()
            self.running.set()
        else:
            self.running.clear()

    def reset(self) -> None:
        """A machine reset reboots the guest: in-flight work is dropped, the next run boots again."""
        log.info("guest: machine reset: the OS reboots (%d operations in flight dropped)", len(self._tasks))
        for task in list(self._tasks):
            task.cancel()
        # An exception, not a cancellation: whoever waits on a change (a guest-side request made
        # over QMP) gets an answer; a cancelled waiter ended that command with no reply at all.
        # Guest work of its own (self._tasks) was cancelled just above and ends with the task.
        for index, (_, waiter) in self._waiters.items():
            if not waiter.done():
                waiter.set_exception(
                    GuestRebooted(f"CPU {index} did not confirm the change: the guest rebooted")
                )
                waiter.exception()  # retrieved here: a cancelled task waiting on it never will
        self._waiters.clear()
        self._booted = False
        self._duty = None
        self.boot_settled.clear()
        for service in self._services:
            service.os_stopped()
        self.online.clear()
        self._unconfirmed = set(self.present)  # the vCPUs restart and report afresh
        if self._driver is not None:
            self._driver.rebooting()

    # -- migration ------------------------------------------------------------------------------

    def migration_state(self) -> dict[str, Any]:
        """The OS's view of its CPUs and its policy, at switchover (the VM is stopped)."""
        driver = self._migrating_driver()
        return {
            "policy": dataclasses.asdict(self.policy),
            "booted": self._booted,
            "present": sorted(self.present),
            "configured": sorted(self.configured),
            "online": sorted(self.online),
            "ejects": [] if driver is None else driver.accepted_ejects(),
        }

    def load_migration_state(self, state: dict[str, Any]) -> None:
        """Continue as the source's guest (before the VM runs here): it has booted already, so
        running does not boot it again."""
        self.policy = GuestPolicy(**state["policy"])
        self._booted = bool(state["booted"])
        self.present = {int(i) for i in state["present"]}
        self.configured = {int(i) for i in state["configured"]}
        self.online = {int(i) for i in state["online"]}
        self._unconfirmed = set()
        if self._booted:
            self._apply_load(wake=False)  # a duty cycle goes on here; the enable word came in RAM
        driver = self._migrating_driver()
        if driver is not None:
            driver.migrated([int(s) for s in state["ejects"]])

    def _migrating_driver(self) -> MigratingDriver | None:
        """The driver, if it takes part in a migration (a firmware may have nothing in flight)."""
        driver = self._driver
        if hasattr(driver, "accepted_ejects") and hasattr(driver, "migrated"):
            return driver  # type: ignore[return-value]
        return None

    def power_button(self) -> None:
        """The ACPI power button (system_powerdown).  A guest that has not booted has no OS to
        notice it; a booted one powers off per its policy, once it runs."""
        if not self._booted:
            log.info("guest: power button pressed before the OS booted: nothing notices it")
        elif self.policy.powerdown == "shutdown":
            log.info("guest: power button pressed: shutting down (powerdown=shutdown)")
            self.spawn(self._powering_off(), "guest-power-off")
        else:
            log.info("guest: power button pressed: ignored (powerdown=ignore)")

    def shut_down(self, *, reboot: bool = False) -> None:
        """The OS shuts down (or reboots) on its own, as `shutdown -P now` / `reboot` inside it
        would: once it runs, its services stop, then the machine powers off (or resets)."""
        self.spawn(self._powering_off(reboot=reboot), "guest-reboot" if reboot else "guest-power-off")

    def cpu_reported(self, index: int, state: int) -> None:
        """A vCPU wrote its new state to the CPU state port (handed over from its thread)."""
        log.debug("guest: CPU %d reports %s", index, "online" if state == fw.CPU_STATE_ONLINE else "offline")
        if index not in self.present:
            # Not the guest's CPU (yet, or any more): a report of one being hot-added before the
            # driver found it, or the last words of an ejected one whose thread is stopping.
            return
        self._unconfirmed.discard(index)
        if self._booted and not self._unconfirmed:
            self.boot_settled.set()
        if state == fw.CPU_STATE_ONLINE:
            self.online.add(index)
            self.machine.cpu_online_confirmed(index)
        elif state == fw.CPU_STATE_OFFLINE:
            self.online.discard(index)
            self.machine.cpu_offline_confirmed(index)
        waiter = self._waiters.get(index)
        if waiter is not None and waiter[0] == state and not waiter[1].done():
            waiter[1].set_result(None)

    def cpu_gone(self, cpu_index: int) -> None:
        self.present.discard(cpu_index)
        self.configured.discard(cpu_index)
        self.online.discard(cpu_index)
        self._unconfirmed.discard(cpu_index)
        self._cpu_locks.pop(cpu_index, None)

    async def close(self) -> None:
        if self._driver is not None:
            await self._driver.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- what the driver asks of the OS ---------------------------------------------------------

    def cpus_added(self, cpus: Iterable[int], *, configured: bool = True) -> None:
        """The driver enumerated hot-added CPUs: they are present, offline, configured or in
        standby as the firmware reports them, and brought up if the policy says so (a udev
        rule's job on Linux: `chcpu -c` first for a standby CPU, then online)."""
        for index in cpus:
            self.present.add(index)
            self._unconfirmed.add(index)
            if configured:
                self.configured.add(index)
            self.machine.set_cpu_online_bit(index, False)
            if self.policy.auto_online:
                log.info(
                    "guest: CPU %d is %s%s; onlining it (auto-online=on)",
                    index,
                    self._found_word,
                    "" if configured else " in standby, configuring it and",
                )
                self.spawn(self._bring_up(index), f"guest-online-{index}")
            else:
                log.info(
                    "guest: CPU %d is %s%s; left offline (auto-online=off)",
                    index,
                    self._found_word,
                    "" if configured else " in standby",
                )

    @contextlib.asynccontextmanager
    async def holding(self, cpus: Iterable[int]) -> AsyncIterator[None]:
        """Exclusive use of these CPUs for one guest operation (locks taken in index order)."""
        async with contextlib.AsyncExitStack() as stack:
            for index in sorted(cpus):
                await stack.enter_async_context(self._lock(index))
            yield

    async def take_offline(self, cpus: Iterable[int]) -> None:
        """Offline these CPUs (held with `holding`), each confirmed by its vCPU; TimeoutError if
        one does not answer while the VM runs."""
        for index in cpus:
            await self._change_locked(index, False)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Guest work that a reboot drops."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    # -- guest-side requests (an administrator inside the guest) --------------------------------

    async def set_cpu_online(self, index: int, online: bool) -> None:
        if not self.running.is_set():
            raise ValueError("the guest is not running")
        if index not in self.present:
            state = "enabled" if self.all_possible_present else "present"
            raise ValueError(f"CPU {index} is not {state} in the guest")
        if not online and index == 0 and not self.policy.cpu0_hotplug:
            raise ValueError("CPU 0 cannot be taken offline (the guest was not booted with cpu0_hotplug)")
        if online and index not in self.configured:
            raise ValueError(f"CPU {index} is in standby (deconfigured): configure it first")
        await self._change(index, online)

    async def set_cpu_configured(self, index: int, configured: bool) -> None:
        """Configure a standby CPU or deconfigure an offline one (Linux's `chcpu -c` / `-g`)."""
        if not self.running.is_set():
            raise ValueError("the guest is not running")
        if index not in self.present:
            raise ValueError(f"CPU {index} is not present in the guest")
        async with self._lock(index):
            if index not in self.present or (index in self.configured) == configured:
                return
            if not configured and index in self.online:
                raise ValueError(f"CPU {index} is online: take it offline first")
            self._configure(index, configured)

    # -- internals ----------------------------------------------------------------------------

    def _boot(self) -> None:
        self._booted = True
        machine, driver = self.machine, self._driver
        self.present = set(machine.present_cpus())
        self._unconfirmed = set(self.present)
        if not self._unconfirmed:
            self.boot_settled.set()
        self.configured = {i for i in self.present if driver is None or driver.is_configured(i)}
        log.info(
            "guest: booting with %d CPUs present, %d brought online (load %d%%)",
            len(self.present),
            sum(1 for index in self.configured if self.boot_plan(index)),
            self.policy.load_percent,
        )
        self._apply_load(wake=False)  # before the CPUs come up: they find the load at once
        for index in sorted(self.present):
            machine.set_cpu_online_bit(index, index in self.configured and self.boot_plan(index))
            machine.wake_cpu(index)
        if driver is not None:
            driver.booted()
        for service in self._services:
            service.os_started()
        # A CPU that came in standby before boot is treated as one hot-added now.
        for index in sorted(self.present - self.configured):
            if self.policy.auto_online:
                self.spawn(self._bring_up(index), f"guest-online-{index}")

    def _apply_load(self, *, wake: bool = True) -> None:
        if self._duty is not None:
            self._duty.cancel()
            self._duty = None
        percent = self.policy.load_percent
        if percent in (0, 100):
            self._set_work(percent == 100, wake=wake)
            return
        self._duty = asyncio.get_running_loop().create_task(self._duty_cycle(percent), name="guest-load")
        self._tasks.add(self._duty)
        self._duty.add_done_callback(self._finished)

    def _set_work(self, enabled: bool, *, wake: bool = True) -> None:
        self.machine.set_work(enabled)
        if enabled and wake:  # resting CPUs sleep in HLT until woken (offline ones need not)
            for index in sorted(self.online):
                self.machine.wake_cpu(index)

    async def _duty_cycle(self, percent: int) -> None:
        busy = DUTY_PERIOD * percent / 100
        while True:
            await self.running.wait()
            self._set_work(True)
            await asyncio.sleep(busy)
            self._set_work(False)
            await asyncio.sleep(DUTY_PERIOD - busy)

    async def response_delay(self) -> None:
        """The policy's delay_ms from now on, as the drivers wait before they answer the hardware;
        a policy changed meanwhile counts (a guest that arrived by migration with a long delay can
        be made prompt)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while (left := start + self.policy.delay_ms / 1000 - loop.time()) > 0:  # noqa: ASYNC110 - the policy has no event
            await asyncio.sleep(min(left, DELAY_STEP))

    async def _powering_off(self, *, reboot: bool = False) -> None:
        await self.running.wait()
        if self.policy.delay_ms:
            await asyncio.sleep(self.policy.delay_ms / 1000)
            await self.running.wait()
        if reboot:
            self._reboot()  # a reset: reset() stops the services
            return
        for service in self._services:
            service.os_stopped()
        self._power_off()

    def _lock(self, index: int) -> asyncio.Lock:
        lock = self._cpu_locks.get(index)
        if lock is None:
            lock = self._cpu_locks[index] = asyncio.Lock()
        return lock

    def _configure(self, index: int, configured: bool) -> None:
        assert self._driver is not None
        self._driver.set_configured(index, configured)
        if configured:
            self.configured.add(index)
        else:
            self.configured.discard(index)

    async def _bring_up(self, index: int) -> None:
        """Configure the CPU if it is in standby, then online it."""
        async with self._lock(index):
            if index not in self.present:  # ejected while this waited its turn
                return
            if index not in self.configured:
                await self.running.wait()
                self._configure(index, True)
            await self._change_locked(index, True)

    async def _change(self, index: int, online: bool) -> None:
        async with self._lock(index):
            if index in self.present:  # it may have been ejected while this waited its turn
                await self._change_locked(index, online)

    async def _change_locked(self, index: int, online: bool) -> None:
        """Flip the CPU's online bit, wake it, and wait until the vCPU confirms (while running)."""
        want = fw.CPU_STATE_ONLINE if online else fw.CPU_STATE_OFFLINE
        if (index in self.online) == online and index not in self._unconfirmed:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[index] = (want, waiter)
        try:
            self.machine.set_cpu_online_bit(index, online)
            self.machine.wake_cpu(index)
            # Said after the wake, not before: the vCPU starts on the change while this is written
            # (its answer is handled on this loop, so it is logged after this line all the same).
            log.info("guest: taking CPU %d %s", index, "online" if online else "offline")
            while not waiter.done():
                await self.running.wait()
                # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the result when the
                # waiter completes in the same turn as a reboot cancels this task, and the
                # cancelled operation would then go on (eject a CPU of the rebooted guest).
                try:
                    async with asyncio.timeout(CONFIRM_TIMEOUT):
                        await asyncio.shield(waiter)
                except TimeoutError:
                    if self.running.is_set():
                        raise  # the VM ran all along: the CPU did not answer
                    # Paused meanwhile: a paused guest is not a slow one; wait again once it runs.
            waiter.result()  # GuestRebooted: a reset dropped the change while the VM was paused
            log.info("guest: CPU %d is %s (its vCPU confirmed)", index, "online" if online else "offline")
        finally:
            if self._waiters.get(index, (0, None))[1] is waiter:
                del self._waiters[index]

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("guest: %s failed", task.get_name(), exc_info=task.exception())
