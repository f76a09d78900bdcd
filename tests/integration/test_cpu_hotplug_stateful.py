"""CPU hotplug as a state machine: random sequences of plug, unplug, stop/cont and guest policy
changes against one real vmd per example, every view checked against a model after every step.
pc/q35 first; then ARM virt's (the same block behind its GED); the add-only s390x board's machine
and the pseries cores' machine are at the end.

The model is what vmd's documentation and code say (vmd/machine/cpu_manager.py,
vmd/machine/hotplug/acpi_cpu.py, vmd/guest/os_model.py, vmd/guest/acpi_ospm.py):

* device_add raises the SCI; device_del only flags the slot and raises the SCI; a guest that
  does not run (paused, or not booted yet under -S) scans nothing until `cont`;
* a scan answers every pending insert (_OST(1, 0), then online if auto-online is on), then,
  unless the policy is *ignore*, every pending remove: *refuse* gives _OST(3, 0x82) and
  DEVICE_UNPLUG_GUEST_ERROR, *accept* gives _OST(3, 0x84), the eject and its DEVICE_DELETED
  pair, then _OST(3, 0).  A request left pending under *ignore* stays flagged: the next scan
  under another policy answers it;
* a guest booting (the first `cont` after -S) enumerates every present CPU and onlines it; a
  CPU unplug before that is refused as QEMU 7.2 refuses it (the ACPI block is still legacy).

After each step the test waits (each wait bounded) for exactly the events the step must produce,
then compares the slots (query-hotpluggable-cpus), the present vCPUs (query-cpus-fast: index,
qom-path, a distinct real thread named after it), the daemon's vcpu{N} threads, _OST status,
the run state and the guest's present and online lists with the model.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.peers import TIMEOUT, Peer, start_peer

CPU = "qemu64-x86_64-cpu"
IDS = ("c1", "c2", "c3", "hot-cpu")  # few enough that duplicates come up often
UNPLUG_POLICIES = ("accept", "refuse", "ignore")
# Names that are usually nobody's, for device_del of something absent (the model resolves every
# name, so the anonymous one may be a CPU's by then).
ABSENT = ("ghost", "device[0]", "/machine/peripheral/ghost", "/machine/peripheral-anon/device[7]")
# Every event and every settled view comes within milliseconds; a failing example is re-run many
# times while hypothesis shrinks it, so a wait that will not succeed must give up soon.
WAIT = 3.0
# A whole example takes well under a second; a step that takes this long has hung.
STEP_TIMEOUT = 2 * TIMEOUT

T = TypeVar("T")
ModelT = TypeVar("ModelT")
Event = dict[str, Any]


@dataclass(frozen=True)
class Topology:
    smp: str
    sockets: int
    cores: int
    threads: int

    @property
    def max_cpus(self) -> int:
        return self.sockets * self.cores * self.threads

    def props(self, index: int) -> dict[str, int]:
        return {
            "socket-id": index // (self.threads * self.cores),
            "core-id": index // self.threads % self.cores,
            "thread-id": index % self.threads,
        }

    def apic_id(self, index: int) -> int:
        # hw/i386/topology.h: each level gets just enough bits for its count.
        thread_bits = (self.threads - 1).bit_length()
        core_bits = (self.cores - 1).bit_length()
        ids = self.props(index)
        return (
            ids["socket-id"] << (core_bits + thread_bits) | ids["core-id"] << thread_bits | ids["thread-id"]
        )


TOPOLOGIES = (
    Topology("2,maxcpus=8", 1, 8, 1),  # QEMU 7.2's q35 prefers cores
    Topology("2,sockets=2,cores=2,threads=2,maxcpus=8", 2, 2, 2),
    Topology("2,sockets=4,cores=1,threads=2,maxcpus=8", 4, 1, 2),
    Topology("2,sockets=2,cores=3,threads=1,maxcpus=6", 2, 3, 1),  # APIC IDs with holes
    Topology("2,sockets=1,cores=2,threads=3,maxcpus=6", 1, 2, 3),
)


def cpu_list(cpus: set[int]) -> str:
    """Linux's range syntax, written independently of vmd's."""
    ranges: list[list[int]] = []
    for cpu in sorted(cpus):
        if ranges and ranges[-1][1] == cpu - 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def ost(index: int, source: int, status: int, device: str | None) -> Event:
    info: dict[str, Any] = {"slot": str(index), "slot-type": "CPU", "source": source, "status": status}
    if device is not None:
        info = {"device": device, **info}
    return {"event": "ACPI_DEVICE_OST", "data": {"info": info}}


def with_device(device: str | None, path: str) -> dict[str, str]:
    return {"path": path} if device is None else {"device": device, "path": path}


@dataclass
class Cpu:
    index: int
    path: str
    device_id: str | None


@dataclass
class Model:
    """What every view must say, and the events each step must produce."""

    topology: Topology
    unplug: str
    auto_online: bool
    status: str  # prelaunch, running or paused
    cpus: dict[int, Cpu] = field(default_factory=dict)
    guest_present: set[int] = field(default_factory=set)
    online: set[int] = field(default_factory=set)  # what the guest will have once it had time
    inserts: set[int] = field(default_factory=set)  # hot-added, not scanned yet
    removes: set[int] = field(default_factory=set)  # unplug requested, not answered yet
    sci: bool = False  # raised while the guest could not scan
    ost: dict[int, tuple[int, int]] = field(default_factory=dict)
    anon: int = 0  # QEMU's peripheral-anon counter: every anonymous device_add uses one up
    booted: bool = False
    paths: set[str] = field(default_factory=set)  # every CPU path seen, for absent-path requests
    cpu_type: str = CPU
    legacy_before_boot = True  # x86's ACPI block is legacy until the guest's tables switch it

    def ids(self) -> set[str]:
        return {cpu.device_id for cpu in self.cpus.values() if cpu.device_id is not None}

    def find(self, name: str) -> Cpu | None:
        for cpu in self.cpus.values():
            if (cpu.path if name.startswith("/") else cpu.device_id) == name:
                return cpu
        return None

    def add(self, cpu: Cpu) -> None:
        self.cpus[cpu.index] = cpu
        self.paths.add(cpu.path)

    def boot(self) -> None:
        """The first run: the guest enumerates every present CPU and brings it online."""
        self.booted = True
        self.guest_present = set(self.cpus)
        self.online = set(self.cpus)
        self.inserts.clear()
        self.sci = False

    def raise_sci(self) -> tuple[list[Event], list[list[Event]]]:
        if self.status != "running":
            self.sci = True
            return [], []
        return self.scan()

    def scan(self) -> tuple[list[Event], list[list[Event]]]:
        """The guest's scan: (events in this order, then per-slot chains that may interleave)."""
        self.sci = False
        now: list[Event] = []
        chains: list[list[Event]] = []
        for index in sorted(self.inserts):
            self.guest_present.add(index)
            self.ost[index] = (1, 0)
            now.append(ost(index, 1, 0, self.cpus[index].device_id))
            if self.auto_online:
                self.online.add(index)
        self.inserts.clear()
        if self.unplug == "ignore":
            return now, chains
        for index in sorted(self.removes):
            cpu = self.cpus[index]
            if self.unplug == "refuse":
                self.ost[index] = (3, 0x82)
                now.append(ost(index, 3, 0x82, cpu.device_id))
                now.append(
                    {"event": "DEVICE_UNPLUG_GUEST_ERROR", "data": with_device(cpu.device_id, cpu.path)}
                )
                continue
            now.append(ost(index, 3, 0x84, cpu.device_id))
            chains.append(
                [
                    *self.deleted_children(cpu),
                    {"event": "DEVICE_DELETED", "data": with_device(cpu.device_id, cpu.path)},
                    ost(index, 3, 0, None),
                ]
            )
            self.ost[index] = (3, 0)
            del self.cpus[index]
            self.guest_present.discard(index)
            self.online.discard(index)
        self.removes.clear()
        return now, chains

    def deleted_children(self, cpu: Cpu) -> list[Event]:
        return [{"event": "DEVICE_DELETED", "data": {"path": f"{cpu.path}/lapic"}}]

    def occupied(self, index: int) -> str:
        return f"CPU[{index}] with APIC ID {self.topology.apic_id(index)} exists"

    def unplug_refusal(self, cpu: Cpu) -> str | None:
        """device_del's refusal of a present CPU, None when the request goes to the guest."""
        if cpu.index == 0:
            return "Boot CPU is unpluggable"
        if not self.booted:
            return f"acpi: device unplug request for not supported device type: {CPU}"
        return None

    def slots(self) -> list[dict[str, Any]]:
        listing = []
        for index in reversed(range(self.topology.max_cpus)):
            entry: dict[str, Any] = {
                "type": self.cpu_type, "vcpus-count": 1, "props": self.topology.props(index),
            }  # fmt: skip
            if index in self.cpus:
                entry["qom-path"] = self.cpus[index].path
            listing.append(entry)
        return listing

    def ospm(self) -> list[dict[str, Any]]:
        if not self.booted and self.legacy_before_boot:
            return []  # legacy interface: QEMU lists no CPU slots
        status = []
        for index in range(self.topology.max_cpus):
            source, code = self.ost.get(index, (0, 0))
            cpu = self.cpus.get(index)
            status.append(ost(index, source, code, None if cpu is None else cpu.device_id)["data"]["info"])
        return status

    def guest(self) -> dict[str, str]:
        possible = set(range(self.topology.max_cpus))
        return {
            "possible": cpu_list(possible),
            "present": cpu_list(self.guest_present),
            "online": cpu_list(self.online),
            "offline": cpu_list(possible - self.online),
        }

    def policy(self) -> dict[str, Any]:
        return {
            "auto-online": self.auto_online,
            "unplug": self.unplug,
            "delay-ms": 0,
            "cpu0-hotplug": False,
            "powerdown": "shutdown",
            "load-percent": 0,
            "agent": "on",  # the guest agent's policy: its defaults, never changed here
            "agent-delay-ms": 1000,
        }


Outcome = tuple[object, tuple[str, str] | None]
OK: Outcome = ({}, None)


def failure(error_class: str, desc: str) -> Outcome:
    return None, (error_class, desc)


async def eventually(probe: Callable[[], Awaitable[T]], expected: T) -> T:
    """Poll (bounded) until `probe` gives `expected`; the last value seen otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    seen = await probe()
    while seen != expected and loop.time() < deadline:
        await asyncio.sleep(0.01)
        seen = await probe()
    return seen


def vcpu_threads(peer: Peer) -> list[str]:
    """The daemon's vcpu{N} threads; one that ends while they are listed is not one of them."""
    names = []
    for task in Path(f"/proc/{peer.pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if name.startswith("vcpu"):
            names.append(name)
    return sorted(names)


class VmdMachine(RuleBasedStateMachine, Generic[ModelT]):
    """What every board's machine shares: one vmd per example, its client and event listener, and
    the steps that run a command and check its reply and events.  No rules: each board's machine
    brings its own, and its `start` sets `model`."""

    model: ModelT

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.peer: Peer | None = None
        self.qmp: QMPClient | None = None
        self.listener = EventListener()
        self.listening = False

    # -- plumbing -----------------------------------------------------------------------------

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(asyncio.wait_for(work, STEP_TIMEOUT))

    @property
    def client(self) -> QMPClient:
        assert self.qmp is not None
        return self.qmp

    async def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Outcome:
        try:
            return await self.client.execute(command, arguments), None
        except ExecuteError as error:
            return None, (error.error.error.class_, error.error.error.desc)

    def assert_no_stray_events(self) -> None:
        stray = [{"event": e["event"], "data": e.get("data")} for e in self.listener.clear()]
        assert not stray, f"events nothing asked for: {stray}"

    async def expect_events(self, now: list[Event], chains: list[list[Event]]) -> None:
        """`now` in this order, then every chain in its own order (ejects run concurrently)."""
        got: list[Event] = []
        for _ in range(len(now) + sum(map(len, chains))):
            event = await asyncio.wait_for(self.listener.get(), WAIT)
            got.append({"event": event["event"], **({"data": event["data"]} if "data" in event else {})})
        expected = f"expected {now} then the chains {chains}, got {got}"
        assert got[: len(now)] == now, expected
        waiting = [list(chain) for chain in chains]
        for arrived in got[len(now) :]:
            chain = next((c for c in waiting if c and c[0] == arrived), None)
            assert chain is not None, expected
            chain.pop(0)

    def step(
        self,
        command: str,
        arguments: dict[str, Any] | None,
        expected: Outcome,
        now: list[Event] | None = None,
        chains: list[list[Event]] | None = None,
    ) -> None:
        """Run one command: its reply must be `expected`, and the events it causes `now`, `chains`."""
        self.assert_no_stray_events()

        async def go() -> None:
            outcome = await self.execute(command, arguments)
            assert outcome == expected, f"{command} {arguments}"
            await self.expect_events(now or [], chains or [])

        self.run(go())

    def teardown(self) -> None:
        try:
            if self.listening:
                self.client.remove_listener(self.listener)
            if self.qmp is not None:
                self.run(self.client.disconnect())
        finally:
            self.runner.close()
            if self.peer is not None:
                self.peer.stop()
                text = self.peer.log.read_text() if self.peer.log.exists() else ""
                shutil.rmtree(self.peer.workdir, ignore_errors=True)
                assert "Traceback" not in text, f"vmd logged an exception:\n{text}"


class CpuHotplugMachine(VmdMachine[Model]):
    """pc/q35: plug, unplug, stop/cont and guest policy changes."""

    # -- the VM -------------------------------------------------------------------------------

    @initialize(
        topology=st.sampled_from(TOPOLOGIES),
        unplug=st.sampled_from(UNPLUG_POLICIES),
        auto_online=st.booleans(),
        paused=st.booleans(),
    )
    def start(self, topology: Topology, unplug: str, auto_online: bool, paused: bool) -> None:
        guest = f"unplug={unplug},auto-online={'on' if auto_online else 'off'}"
        args = ["-M", "q35", "-smp", topology.smp, "-vmd-guest", guest, *(["-S"] if paused else [])]
        self.peer = start_peer("vmd", args)
        model = self.model = Model(topology, unplug, auto_online, "prelaunch" if paused else "running")
        model.add(Cpu(0, "/machine/unattached/device[0]", None))
        model.add(Cpu(1, "/machine/unattached/device[2]", None))
        if not paused:
            model.boot()

        async def connect(socket: str) -> None:
            self.qmp = QMPClient("stateful")
            await asyncio.wait_for(self.qmp.connect(socket), TIMEOUT)
            self.qmp.register_listener(self.listener)
            self.listening = True

        self.run(connect(self.peer.socket))

    # -- steps --------------------------------------------------------------------------------

    def plug(self, index: int, device_id: str | None) -> None:
        model = self.model
        arguments: dict[str, Any] = {"driver": model.cpu_type, **model.topology.props(index)}
        if device_id is not None:
            arguments["id"] = device_id
        if device_id is not None and device_id in model.ids():
            self.step("device_add", arguments, failure("GenericError", f"Duplicate device ID '{device_id}'"))
            return
        name = device_id
        if device_id is None:
            name = f"device[{model.anon}]"
            model.anon += 1
        if index in model.cpus:
            self.step("device_add", arguments, failure("GenericError", model.occupied(index)))
            return
        container = "peripheral" if device_id is not None else "peripheral-anon"
        model.add(Cpu(index, f"/machine/{container}/{name}", device_id))
        model.inserts.add(index)
        self.step("device_add", arguments, OK, *model.raise_sci())

    def unplug(self, name: str) -> None:
        model = self.model
        cpu = model.find(name)
        refusal = None if cpu is None else model.unplug_refusal(cpu)
        if cpu is None:
            expected = failure("DeviceNotFound", f"Device '{name}' not found")
        elif refusal is not None:
            expected = failure("GenericError", refusal)
        else:
            model.removes.add(cpu.index)
            self.step("device_del", {"id": name}, OK, *model.raise_sci())
            return
        self.step("device_del", {"id": name}, expected)

    @precondition(lambda self: len(self.model.cpus) < self.model.topology.max_cpus)
    @rule(data=st.data())
    def plug_into_a_free_slot(self, data: st.DataObject) -> None:
        free = sorted(set(range(self.model.topology.max_cpus)) - set(self.model.cpus))
        index = data.draw(st.sampled_from(free), label="slot")
        self.plug(index, data.draw(st.none() | st.sampled_from(IDS), label="id"))

    @rule(data=st.data())
    def plug_into_any_slot(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, self.model.topology.max_cpus - 1), label="slot")
        self.plug(index, data.draw(st.none() | st.sampled_from(IDS), label="id"))

    @rule(data=st.data())
    def unplug_a_present_cpu(self, data: st.DataObject) -> None:
        names = {cpu.path for cpu in self.model.cpus.values()} | self.model.ids()
        self.unplug(data.draw(st.sampled_from(sorted(names)), label="name"))

    @rule(data=st.data())
    def unplug_anything(self, data: st.DataObject) -> None:
        names = self.model.paths | set(IDS) | set(ABSENT)
        self.unplug(data.draw(st.sampled_from(sorted(names)), label="name"))

    @rule(command=st.sampled_from(("stop", "cont")))
    def stop_or_cont(self, command: str) -> None:
        model = self.model
        if command == "stop":
            if model.status != "running":
                self.step("stop", None, OK)
                return
            model.status = "paused"
            self.step("stop", None, OK, [{"event": "STOP"}])
            return
        if model.status == "running":
            self.step("cont", None, OK)
            return
        if not model.booted:
            model.boot()
        model.status = "running"
        now, chains = model.scan() if model.sci else ([], [])
        self.step("cont", None, OK, [{"event": "RESUME"}, *now], chains)

    @rule(unplug=st.none() | st.sampled_from(UNPLUG_POLICIES), auto_online=st.none() | st.booleans())
    def set_guest_policy(self, unplug: str | None, auto_online: bool | None) -> None:
        model = self.model
        arguments: dict[str, Any] = {}
        if unplug is not None:
            model.unplug = arguments["unplug"] = unplug
        if auto_online is not None:
            model.auto_online = arguments["auto-online"] = auto_online
        self.step("__com.vmd_set-guest-policy", arguments, (model.policy(), None))

    # -- the views ----------------------------------------------------------------------------

    @invariant()
    def every_view_agrees_with_the_model(self) -> None:
        self.run(self.check_views())
        self.assert_no_stray_events()

    async def check_views(self) -> None:
        model, peer, qmp = self.model, self.peer, self.client
        assert peer is not None
        status = await qmp.execute("query-status")
        # Whatever the daemon emitted before this reply has reached the listener by now.
        self.assert_no_stray_events()
        assert isinstance(status, dict)
        assert (status["status"], status["running"]) == (model.status, model.status == "running")

        assert await qmp.execute("query-hotpluggable-cpus") == model.slots()

        cpus = await qmp.execute("query-cpus-fast")
        assert isinstance(cpus, list)
        # In creation order, as QEMU's CPU list: a CPU plugged again comes last.
        assert [(cpu["cpu-index"], cpu["qom-path"]) for cpu in cpus] == [
            (index, cpu.path) for index, cpu in model.cpus.items()
        ]
        threads = [cpu["thread-id"] for cpu in cpus]
        assert len(set(threads)) == len(threads), f"vCPUs share host threads: {cpus}"
        for cpu in cpus:
            assert cpu["props"] == model.topology.props(cpu["cpu-index"])
            comm = Path(f"/proc/{peer.pid}/task/{cpu['thread-id']}/comm")
            assert comm.exists(), f"vCPU {cpu['cpu-index']}: thread {cpu['thread-id']} does not exist"
            assert comm.read_text().strip() == f"vcpu{cpu['cpu-index']}"

        async def threads_now() -> list[str]:
            return vcpu_threads(peer)

        expected_threads = sorted(f"vcpu{index}" for index in model.cpus)
        assert await eventually(threads_now, expected_threads) == expected_threads

        assert await qmp.execute("query-acpi-ospm-status") == model.ospm()

        async def guest_now() -> dict[str, str]:
            view = await qmp.execute("__com.vmd_query-guest-cpus")
            assert isinstance(view, dict)
            assert view["policy"] == model.policy()
            return {key: view[key] for key in model.guest()}

        assert await eventually(guest_now, model.guest()) == model.guest()
        assert peer.alive()


SETTINGS = settings(
    max_examples=10,
    stateful_step_count=25,
    deadline=None,
    database=None,  # nothing written under the work tree
    # A failing example costs a daemon per attempt: shrink one failure, skip the coverage-traced
    # explain phase.
    report_multiple_bugs=False,
    phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.slow
def test_cpu_hotplug_state_machine() -> None:
    run_state_machine_as_test(CpuHotplugMachine, settings=SETTINGS)


# -- ARM virt: every possible vCPU present, hotplug enables them -----------------------------------
#
# The model (vmd/boards/arm/, vmd/machine/hotplug/ged_cpu.py, vmd/guest/ged_ospm.py): x86's
# machine with the GED's block, which is modern from power-on (an unplug before boot is flagged,
# and the booting guest answers it), one DEVICE_DELETED per eject (no lapic), the RFC's texts, and
# the guest's arm64 view (present = possible; `enabled` is what x86 calls present).

ARM_CPU = "cortex-a57-arm-cpu"


@dataclass(frozen=True)
class ArmTopology(Topology):
    clusters: int = 1

    @property
    def max_cpus(self) -> int:
        return self.sockets * self.clusters * self.cores * self.threads

    def props(self, index: int) -> dict[str, int]:
        return {
            "socket-id": index // (self.threads * self.cores * self.clusters),
            "cluster-id": index // (self.threads * self.cores) % self.clusters,
            "core-id": index // self.threads % self.cores,
            "thread-id": index % self.threads,
        }


ARM_TOPOLOGIES = (
    ArmTopology("2,maxcpus=8", 1, 8, 1),  # virt >= 6.2 prefers cores
    ArmTopology("2,sockets=2,clusters=2,cores=2,threads=1,maxcpus=8", 2, 2, 1, clusters=2),
    ArmTopology("2,sockets=1,clusters=2,cores=1,threads=3,maxcpus=6", 1, 1, 3, clusters=2),
)


@dataclass
class ArmModel(Model):
    cpu_type: str = ARM_CPU
    legacy_before_boot = False

    def boot(self) -> None:
        super().boot()
        self.sci = bool(self.removes)  # the booting guest answers the eject requests it finds

    def deleted_children(self, cpu: Cpu) -> list[Event]:
        return []

    def occupied(self, index: int) -> str:
        ids = self.topology.props(index)
        address = ":".join(str(ids[f"{level}-id"]) for level in ("socket", "cluster", "core", "thread"))
        return f"cpu(id{index}={address}) with arch-id {index} exist"  # mp-affinity: index < 16

    def unplug_refusal(self, cpu: Cpu) -> str | None:
        return "Boot CPU(id0=0:0:0:0) hot-unplug not supported" if cpu.index == 0 else None

    def guest(self) -> dict[str, str]:
        possible = set(range(self.topology.max_cpus))
        return {
            "possible": cpu_list(possible),
            "present": cpu_list(possible),
            "enabled": cpu_list(self.guest_present),
            "online": cpu_list(self.online),
            "offline": cpu_list(possible - self.online),
        }


class ArmCpuHotplugMachine(CpuHotplugMachine):
    @initialize(
        topology=st.sampled_from(ARM_TOPOLOGIES),
        unplug=st.sampled_from(UNPLUG_POLICIES),
        auto_online=st.booleans(),
        paused=st.booleans(),
    )
    def start(self, topology: Topology, unplug: str, auto_online: bool, paused: bool) -> None:
        guest = f"unplug={unplug},auto-online={'on' if auto_online else 'off'}"
        args = ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", topology.smp, "-vmd-guest", guest]
        self.peer = start_peer("vmd", [*args, *(["-S"] if paused else [])], target="aarch64")
        model = self.model = ArmModel(topology, unplug, auto_online, "prelaunch" if paused else "running")
        model.add(Cpu(0, "/machine/unattached/device[0]", None))
        model.add(Cpu(1, "/machine/unattached/device[1]", None))
        if not paused:
            model.boot()

        async def connect(socket: str) -> None:
            self.qmp = QMPClient("stateful-arm")
            await asyncio.wait_for(self.qmp.connect(socket), TIMEOUT)
            self.qmp.register_listener(self.listener)
            self.listening = True

        self.run(connect(self.peer.socket))


@pytest.mark.slow
def test_arm_virt_cpu_hotplug_state_machine() -> None:
    run_state_machine_as_test(ArmCpuHotplugMachine, settings=SETTINGS)


# -- s390x: add only ----------------------------------------------------------------------------
#
# The model (vmd/machine/hotplug/sclp_cpu.py, vmd/guest/sclp.py, vmd/boards/s390x/cpus.py):
# device_add raises the SCLP's CPU configuration change; the guest, while it runs, finds the CPU
# in standby and, with auto-online, configures it and brings it online.  CPUs present when it
# boots are configured, except those hot-added before boot, which are treated as hot-added then.
# device_del of anything is refused and changes nothing; no step sends an event but RESUME/STOP.
# cpu-state is `operating` for the IPL CPU and every CPU the guest has online.

S390X_CPU = "qemu-s390x-cpu"
S390X_UNPLUG = "CPU hot unplug not supported on this machine"


@dataclass
class S390Model:
    max_cpus: int
    auto_online: bool
    status: str
    cpus: dict[int, Cpu] = field(default_factory=dict)
    cold: set[int] = field(default_factory=set)  # present before boot, not hot-added
    present: set[int] = field(default_factory=set)  # the guest's
    configured: set[int] = field(default_factory=set)
    online: set[int] = field(default_factory=set)
    pending: set[int] = field(default_factory=set)  # hot-added, the guest has not read the event
    anon: int = 0
    booted: bool = False
    paths: set[str] = field(default_factory=set)

    def ids(self) -> set[str]:
        return {cpu.device_id for cpu in self.cpus.values() if cpu.device_id is not None}

    def find(self, name: str) -> Cpu | None:
        return next(
            (c for c in self.cpus.values() if (c.path if name.startswith("/") else c.device_id) == name), None
        )

    def add(self, cpu: Cpu) -> None:
        self.cpus[cpu.index] = cpu
        self.paths.add(cpu.path)

    def take_in(self, indexes: set[int]) -> None:
        for index in sorted(indexes):
            self.present.add(index)
            if self.auto_online:
                self.configured.add(index)
                self.online.add(index)

    def boot(self) -> None:
        self.booted = True
        self.present = set(self.cpus)
        self.configured = set(self.cold)
        self.online = set(self.cold)
        self.take_in(set(self.cpus) - self.cold)
        self.pending.clear()

    def run(self) -> None:
        if not self.booted:
            self.boot()
        self.status = "running"
        self.take_in(self.pending)
        self.pending.clear()

    def guest(self) -> dict[str, str]:
        possible = set(range(self.max_cpus))
        return {
            "possible": cpu_list(possible),
            "present": cpu_list(self.present),
            "configured": cpu_list(self.configured),
            "online": cpu_list(self.online),
            "offline": cpu_list(possible - self.online),
        }

    def states(self) -> list[tuple[int, str, str]]:
        return [
            (index, cpu.path, "operating" if index == 0 or index in self.online else "stopped")
            for index, cpu in self.cpus.items()
        ]


class S390CpuHotplugMachine(VmdMachine[S390Model]):
    """The add-only board: plug anywhere, unplug anything (always refused), stop/cont, the
    auto-online policy, and the guest's own configure and online requests."""

    @initialize(max_cpus=st.sampled_from((2, 4, 6)), auto_online=st.booleans(), paused=st.booleans())
    def start(self, max_cpus: int, auto_online: bool, paused: bool) -> None:
        args = ["-M", "s390-ccw-virtio", "-smp", f"1,maxcpus={max_cpus}", "-device", f"{S390X_CPU},core-id=1"]
        args += ["-vmd-guest", f"auto-online={'on' if auto_online else 'off'}", *(["-S"] if paused else [])]
        self.peer = start_peer("vmd", args, target="s390x")
        model = self.model = S390Model(max_cpus, auto_online, "prelaunch" if paused else "running")
        model.add(Cpu(0, "/machine/unattached/device[0]", None))
        model.add(Cpu(1, "/machine/peripheral-anon/device[0]", None))
        model.anon = 1
        model.cold = {0, 1}
        if not paused:
            model.run()

        async def connect(socket: str) -> None:
            self.qmp = QMPClient("stateful-s390x")
            await asyncio.wait_for(self.qmp.connect(socket), TIMEOUT)
            self.qmp.register_listener(self.listener)
            self.listening = True

        self.run(connect(self.peer.socket))

    def plug(self, index: int, device_id: str | None) -> None:
        model = self.model
        arguments: dict[str, Any] = {"driver": S390X_CPU, "core-id": index}
        if device_id is not None:
            arguments["id"] = device_id
            if device_id in model.ids():
                self.step(
                    "device_add", arguments, failure("GenericError", f"Duplicate device ID '{device_id}'")
                )
                return
        name = device_id
        if device_id is None:
            name = f"device[{model.anon}]"
            model.anon += 1
        if index in model.cpus:
            text = f"Unable to add CPU with core-id: {index}, it already exists"
            self.step("device_add", arguments, failure("GenericError", text))
            return
        container = "peripheral" if device_id is not None else "peripheral-anon"
        model.add(Cpu(index, f"/machine/{container}/{name}", device_id))
        if model.status == "running":
            model.take_in({index})
        elif model.booted:
            model.pending.add(index)
        self.step("device_add", arguments, OK)

    @rule(data=st.data())
    def plug_into_any_slot(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(0, self.model.max_cpus), label="core-id")  # max_cpus: out of range
        device_id = data.draw(st.none() | st.sampled_from(IDS), label="id")
        if index == self.model.max_cpus:
            text = f"Unable to add CPU with core-id: {index}, maximum core-id: {index - 1}"
            arguments: dict[str, Any] = {"driver": S390X_CPU, "core-id": index}
            if device_id is not None and device_id in self.model.ids():
                text = f"Duplicate device ID '{device_id}'"
            elif device_id is None:
                self.model.anon += 1
            if device_id is not None:
                arguments["id"] = device_id
            self.step("device_add", arguments, failure("GenericError", text))
            return
        self.plug(index, device_id)

    @rule(data=st.data())
    def unplug_anything(self, data: st.DataObject) -> None:
        model = self.model
        name = data.draw(st.sampled_from(sorted(model.paths | set(IDS) | set(ABSENT))), label="name")
        if model.find(name) is not None:
            self.step("device_del", {"id": name}, failure("GenericError", S390X_UNPLUG))
        else:
            self.step("device_del", {"id": name}, failure("DeviceNotFound", f"Device '{name}' not found"))

    @rule(command=st.sampled_from(("stop", "cont")))
    def stop_or_cont(self, command: str) -> None:
        model = self.model
        if command == "stop":
            events = [{"event": "STOP"}] if model.status == "running" else []
            if model.status == "running":
                model.status = "paused"
            self.step("stop", None, OK, events)
            return
        events = [] if model.status == "running" else [{"event": "RESUME"}]
        model.run()
        self.step("cont", None, OK, events)

    @rule(auto_online=st.booleans())
    def set_auto_online(self, auto_online: bool) -> None:
        self.model.auto_online = auto_online
        self.run(self.execute("__com.vmd_set-guest-policy", {"auto-online": auto_online}))

    @rule(data=st.data(), action=st.sampled_from(("configure", "deconfigure", "online", "offline")))
    def guest_request(self, data: st.DataObject, action: str) -> None:
        model = self.model
        index = data.draw(st.sampled_from(sorted(model.cpus)), label="cpu")
        arguments: dict[str, Any]
        if action in ("configure", "deconfigure"):
            command, arguments = "__com.vmd_guest-set-cpu-configured", {"configured": action == "configure"}
        else:
            command, arguments = "__com.vmd_guest-set-cpu-online", {"online": action == "online"}
        arguments = {"cpu-index": index, **arguments}
        if model.status != "running":
            expected = failure("GenericError", "the guest is not running")
        elif index not in model.present:
            expected = failure("GenericError", f"CPU {index} is not present in the guest")
        elif action == "offline" and index == 0:
            expected = failure(
                "GenericError", "CPU 0 cannot be taken offline (the guest was not booted with cpu0_hotplug)"
            )
        elif action == "online" and index not in model.configured:
            expected = failure(
                "GenericError", f"CPU {index} is in standby (deconfigured): configure it first"
            )
        elif action == "deconfigure" and index in model.online:
            expected = failure("GenericError", f"CPU {index} is online: take it offline first")
        else:
            expected = OK
            {
                "configure": model.configured.add,
                "deconfigure": model.configured.discard,
                "online": model.online.add,
                "offline": model.online.discard,
            }[action](index)
        self.step(command, arguments, expected)

    @invariant()
    def every_view_agrees_with_the_model(self) -> None:
        self.run(self.check_views())
        self.assert_no_stray_events()

    async def check_views(self) -> None:
        model, peer, qmp = self.model, self.peer, self.client
        assert peer is not None
        status = await qmp.execute("query-status")
        assert isinstance(status, dict)
        assert status["status"] == model.status
        slots = await qmp.execute("query-hotpluggable-cpus")
        expected_slots = []
        for index in reversed(range(model.max_cpus)):
            entry: dict[str, Any] = {"type": S390X_CPU, "vcpus-count": 1, "props": {"core-id": index}}
            if index in model.cpus:
                entry["qom-path"] = model.cpus[index].path
            expected_slots.append(entry)
        assert slots == expected_slots

        async def cpus_now() -> list[tuple[int, str, str]]:
            cpus = await qmp.execute("query-cpus-fast")
            assert isinstance(cpus, list)
            for cpu in cpus:
                assert cpu["props"] == {"core-id": cpu["cpu-index"]}
                assert cpu["target"] == "s390x"
                assert (
                    Path(f"/proc/{peer.pid}/task/{cpu['thread-id']}/comm").read_text().strip()
                    == f"vcpu{cpu['cpu-index']}"
                )
            return [(cpu["cpu-index"], cpu["qom-path"], cpu["cpu-state"]) for cpu in cpus]

        assert await eventually(cpus_now, model.states()) == model.states()

        async def guest_now() -> dict[str, str]:
            view = await qmp.execute("__com.vmd_query-guest-cpus")
            assert isinstance(view, dict)
            assert view["policy"]["auto-online"] is model.auto_online
            return {key: view[key] for key in ("possible", "present", "configured", "online", "offline")}

        assert await eventually(guest_now, model.guest()) == model.guest()
        assert peer.alive()


@pytest.mark.slow
def test_s390x_add_only_state_machine() -> None:
    run_state_machine_as_test(S390CpuHotplugMachine, settings=SETTINGS)


# -- pseries: cores through DR connectors ------------------------------------------------------
#
# The model (vmd/machine/hotplug/spapr_drc.py, vmd/guest/papr.py, vmd/boards/ppc64/cores.py):
# a slot is a core of 2 threads (core-id = slot x 2, cpu-index = core-id + thread).  Boot and
# -device cores are configured; a hot-added core is taken by the guest (its connector configured,
# its threads present, online with auto-online) once the guest runs; before that it is released
# at once by device_del, its events before the reply.  device_del of a configured core is a request
# the guest answers by its policy once it runs: accept (DEVICE_DELETED chain after the reply),
# refuse (DEVICE_UNPLUG_GUEST_ERROR), ignore (pending; device_add into it: already populated).
# system_reset completes every pending request (events before RESET); the rebooted guest finds
# every core configured and brings every thread online; a reset while not running lands in
# prelaunch.

PSERIES_CORE = "power9_v2.0-spapr-cpu-core"
PSERIES_THREADS = 2


@dataclass
class Core:
    slot: int
    path: str
    device_id: str | None
    configured: bool
    pending: bool = False

    def threads(self) -> range:
        return range(self.slot * PSERIES_THREADS, (self.slot + 1) * PSERIES_THREADS)


def core_deleted(core: Core) -> list[Event]:
    events: list[Event] = []
    for thread in range(PSERIES_THREADS):
        base = f"{core.path}/thread[{thread}]"
        events += [
            {"event": "DEVICE_DELETED", "data": {"path": f"{base}/icp"}},
            {"event": "DEVICE_DELETED", "data": {"path": f"{base}/xive-tctx"}},
            {"event": "DEVICE_DELETED", "data": {"path": base}},
        ]
    return [*events, {"event": "DEVICE_DELETED", "data": with_device(core.device_id, core.path)}]


@dataclass
class PseriesModel:
    cores_max: int
    unplug: str
    auto_online: bool
    status: str
    cores: dict[int, Core] = field(default_factory=dict)  # creation order
    present: set[int] = field(default_factory=set)  # the guest's threads
    online: set[int] = field(default_factory=set)
    anon: int = 0
    booted: bool = False

    def ids(self) -> set[str]:
        return {core.device_id for core in self.cores.values() if core.device_id is not None}

    def find(self, name: str) -> Core | None:
        return next(
            (c for c in self.cores.values() if (c.path if name.startswith("/") else c.device_id) == name),
            None,
        )

    def take(self, core: Core) -> None:
        core.configured = True
        self.present.update(core.threads())
        if self.auto_online:
            self.online.update(core.threads())

    def boot(self) -> None:
        """Configured cores come up online; cores hot-added before boot are taken as hot-added."""
        self.booted = True
        self.present, self.online = set(), set()
        for core in self.cores.values():
            if core.configured:
                self.present.update(core.threads())
                self.online.update(core.threads())
            else:
                self.take(core)

    def guest(self) -> dict[str, str]:
        return {"present": cpu_list(self.present), "online": cpu_list(self.online)}


class PseriesCpuHotplugMachine(VmdMachine[PseriesModel]):
    """pseries cores: plug anywhere, unplug anything, stop/cont, system_reset, one unplug policy
    and one auto-online setting per example."""

    @initialize(
        cores=st.sampled_from((3, 4)),
        unplug=st.sampled_from(UNPLUG_POLICIES),
        auto_online=st.booleans(),
        paused=st.booleans(),
    )
    def start(self, cores: int, unplug: str, auto_online: bool, paused: bool) -> None:
        smp = f"{PSERIES_THREADS},maxcpus={cores * PSERIES_THREADS},threads={PSERIES_THREADS}"
        args = ["-M", "pseries", "-smp", smp, "-device", f"{PSERIES_CORE},core-id={PSERIES_THREADS}"]
        policy = f"unplug={unplug},auto-online={'on' if auto_online else 'off'}"
        args += ["-vmd-guest", policy, *(["-S"] if paused else [])]
        self.peer = start_peer("vmd", args, target="ppc64")
        model = self.model = PseriesModel(cores, unplug, auto_online, "prelaunch" if paused else "running")
        model.cores[0] = Core(0, "/machine/unattached/device[1]", None, True)
        model.cores[1] = Core(1, "/machine/peripheral-anon/device[0]", None, True)
        model.anon = 1
        if not paused:
            model.boot()

        async def connect(socket: str) -> None:
            self.qmp = QMPClient("stateful-pseries")
            await asyncio.wait_for(self.qmp.connect(socket), TIMEOUT)
            self.qmp.register_listener(self.listener)
            self.listening = True

        self.run(connect(self.peer.socket))

    @rule(data=st.data())
    def plug(self, data: st.DataObject) -> None:
        model = self.model
        slot = data.draw(st.integers(0, model.cores_max), label="slot")  # cores_max: out of range
        device_id = data.draw(st.none() | st.sampled_from(IDS), label="id")
        core_id = slot * PSERIES_THREADS
        arguments: dict[str, Any] = {"driver": PSERIES_CORE, "core-id": core_id}
        if device_id is not None:
            arguments["id"] = device_id
            if device_id in model.ids():
                self.step(
                    "device_add", arguments, failure("GenericError", f"Duplicate device ID '{device_id}'")
                )
                return
        name = device_id
        if device_id is None:
            name = f"device[{model.anon}]"
            model.anon += 1
        if slot == model.cores_max:
            self.step("device_add", arguments, failure("GenericError", f"core id {core_id} out of range"))
            return
        if slot in model.cores:
            self.step("device_add", arguments, failure("GenericError", f"core {core_id} already populated"))
            return
        container = "peripheral" if device_id is not None else "peripheral-anon"
        core = model.cores[slot] = Core(slot, f"/machine/{container}/{name}", device_id, False)
        if model.status == "running":
            model.take(core)
        self.step("device_add", arguments, OK)

    @rule(data=st.data())
    def unplug(self, data: st.DataObject) -> None:
        model = self.model
        paths = {core.path for core in model.cores.values()}
        name = data.draw(st.sampled_from(sorted(paths | set(IDS) | set(ABSENT))), label="name")
        core = model.find(name)
        if core is None:
            self.step("device_del", {"id": name}, failure("DeviceNotFound", f"Device '{name}' not found"))
            return
        if core.slot == 0:
            self.step(
                "device_del", {"id": name}, failure("GenericError", "Boot CPU core may not be unplugged")
            )
            return
        if not core.configured:  # no guest took it: released at once
            del model.cores[core.slot]
            self.step("device_del", {"id": name}, OK, core_deleted(core))
            return
        core.pending = True
        if model.status != "running" or model.unplug == "ignore":
            self.step("device_del", {"id": name}, OK)
            return
        self.step("device_del", {"id": name}, OK, [], self.answer([core]))

    def answer(self, cores: list[Core]) -> list[list[Event]]:
        """The running guest's answers to these pending requests, by its policy."""
        model, chains = self.model, []
        for core in cores:
            if model.unplug == "accept":
                del model.cores[core.slot]
                model.present -= set(core.threads())
                model.online -= set(core.threads())
                chains.append(core_deleted(core))
            elif model.unplug == "refuse":
                core.pending = False
                error = {"event": "DEVICE_UNPLUG_GUEST_ERROR", "data": with_device(core.device_id, core.path)}
                chains.append([error])
        return chains

    @rule(command=st.sampled_from(("stop", "cont")))
    def stop_or_cont(self, command: str) -> None:
        model = self.model
        if command == "stop":
            events = [{"event": "STOP"}] if model.status == "running" else []
            if model.status == "running":
                model.status = "paused"
            self.step("stop", None, OK, events)
            return
        events = [] if model.status == "running" else [{"event": "RESUME"}]
        was_running = model.status == "running"
        model.status = "running"
        if not model.booted:
            model.boot()
        chains: list[list[Event]] = []
        if not was_running:
            for core in model.cores.values():
                if not core.configured:
                    model.take(core)  # its add event, read now
            chains = self.answer([c for c in list(model.cores.values()) if c.pending])
        self.step("cont", None, OK, events, chains)

    @rule()
    def reset(self) -> None:
        model = self.model
        pending = sorted((c for c in model.cores.values() if c.pending), key=lambda c: c.slot)
        events: list[Event] = []
        for core in pending:
            del model.cores[core.slot]
            events += core_deleted(core)
        events.append({"event": "RESET", "data": {"guest": False, "reason": "host-qmp-system-reset"}})
        for core in model.cores.values():
            core.configured = True
        model.booted = False
        model.present, model.online = set(), set()
        if model.status == "running":
            model.boot()
        else:
            model.status = "prelaunch"
        self.step("system_reset", None, OK, events)

    @invariant()
    def every_view_agrees_with_the_model(self) -> None:
        self.run(self.check_views())
        self.assert_no_stray_events()

    async def check_views(self) -> None:
        model, peer, qmp = self.model, self.peer, self.client
        assert peer is not None
        status = await qmp.execute("query-status")
        assert isinstance(status, dict)
        assert status["status"] == model.status
        slots = await qmp.execute("query-hotpluggable-cpus")
        expected_slots = []
        for slot in reversed(range(model.cores_max)):
            entry: dict[str, Any] = {
                "type": PSERIES_CORE,
                "vcpus-count": PSERIES_THREADS,
                "props": {"core-id": slot * PSERIES_THREADS, "node-id": 0},
            }
            if slot in model.cores:
                entry["qom-path"] = model.cores[slot].path
            expected_slots.append(entry)
        assert slots == expected_slots
        cpus = await qmp.execute("query-cpus-fast")
        assert isinstance(cpus, list)
        for cpu in cpus:
            comm = Path(f"/proc/{peer.pid}/task/{cpu['thread-id']}/comm").read_text().strip()
            assert comm == f"vcpu{cpu['cpu-index']}"
        assert [(c["cpu-index"], c["qom-path"]) for c in cpus] == [
            (index, f"{core.path}/thread[{index % PSERIES_THREADS}]")
            for core in model.cores.values()
            for index in core.threads()
        ]

        async def guest_now() -> dict[str, str]:
            view = await qmp.execute("__com.vmd_query-guest-cpus")
            assert isinstance(view, dict)
            return {key: view[key] for key in ("present", "online")}

        if model.booted:
            assert await eventually(guest_now, model.guest()) == model.guest()
        assert peer.alive()


@pytest.mark.slow
def test_pseries_core_state_machine() -> None:
    run_state_machine_as_test(PseriesCpuHotplugMachine, settings=SETTINGS)
