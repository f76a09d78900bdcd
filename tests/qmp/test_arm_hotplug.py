"""ARM virt vCPU hotplug end to end over QMP, on vmd-system-aarch64 (GICv3, a 64-bit CPU).

Every possible vCPU is present to the guest from boot, its engine context created and parked;
device_add enables a parked vCPU (the guest hears of it through the GED, reports `_OST(1, 0)` and
onlines it per its policy); device_del asks the guest, which answers per its `unplug` policy:
accept (offline, eject: one DEVICE_DELETED, the context parked again), refuse (`_OST` 3/0x82 and
DEVICE_UNPLUG_GUEST_ERROR) or ignore (pending).  The guest's view is arm64 Linux's: possible =
present, `enabled` changes.  No QEMU release has ARM vCPU hotplug, so this is vmd alone; the
refusals of a plain `-M virt` are compared with QEMU 7.2 in
tests/integration/test_arm_virt_vs_qemu.py.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.replies import as_list
from vmd.testing import Vm

TIMEOUT = 10.0
CPU = "cortex-a57-arm-cpu"
ARM = ("-M", "virt,gic-version=3", "-cpu", "cortex-a57")

pytestmark = pytest.mark.vmd_args(*ARM, "-smp", "1,maxcpus=4", target="aarch64")


async def next_event(listener: EventListener) -> dict[str, Any]:
    event = await asyncio.wait_for(listener.get(), TIMEOUT)
    return {"event": event["event"], **({"data": event["data"]} if "data" in event else {})}


async def events(listener: EventListener, count: int) -> list[dict[str, Any]]:
    return [await next_event(listener) for _ in range(count)]


async def no_event(listener: EventListener, within: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(listener.get(), within)


def ost(source: int, status: int, slot: int, device: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"slot": str(slot), "slot-type": "CPU", "source": source, "status": status}
    if device is not None:
        info = {"device": device, **info}
    return {"event": "ACPI_DEVICE_OST", "data": {"info": info}}


def deleted(device: str) -> dict[str, Any]:
    return {"event": "DEVICE_DELETED", "data": {"device": device, "path": f"/machine/peripheral/{device}"}}


async def guest_cpus(qmp: QMPClient) -> dict[str, str]:
    view = await qmp.execute("__com.vmd_query-guest-cpus")
    assert isinstance(view, dict)
    return {key: view[key] for key in ("possible", "present", "enabled", "online", "offline")}


async def until_guest(qmp: QMPClient, key: str, value: str) -> None:
    """The guest acts on its own time, with no event: poll (bounded)."""
    async with asyncio.timeout(TIMEOUT):
        while (await guest_cpus(qmp))[key] != value:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def refused(qmp: QMPClient, command: str, arguments: dict[str, Any]) -> str:
    with pytest.raises(ExecuteError) as caught:
        await qmp.execute(command, arguments)
    assert caught.value.error.error.class_ == "GenericError"
    return str(caught.value.error.error.desc)


async def vm_stats(qmp: QMPClient) -> dict[str, int]:
    stats = await qmp.execute("query-stats", {"target": "vm"})
    assert isinstance(stats, list)
    return {s["name"]: s["value"] for entry in stats for s in entry["stats"]}


async def vcpu_counts(qmp: QMPClient) -> tuple[int, int]:
    """(present, parked) vCPU contexts of the engine."""
    stats = await vm_stats(qmp)
    return stats["present_vcpus"], stats["parked_vcpus"]


def vcpu_threads(vm: Vm) -> list[str]:
    tasks = Path(f"/proc/{vm.pid}/task")
    return sorted(
        name for task in tasks.iterdir() if (name := (task / "comm").read_text().strip()).startswith("vcpu")
    )


async def until_threads(vm: Vm, names: list[str]) -> None:
    async with asyncio.timeout(TIMEOUT):
        while vcpu_threads(vm) != names:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def slot_entry(core: int, qom_path: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "props": {"core-id": core, "thread-id": 0, "socket-id": 0, "cluster-id": 0},
        "vcpus-count": 1,
        "type": CPU,
    }
    if qom_path is not None:
        entry["qom-path"] = qom_path
    return entry


async def test_every_slot_is_listed_and_every_context_parked_at_boot(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    assert await qmp.execute("query-hotpluggable-cpus") == [
        slot_entry(3), slot_entry(2), slot_entry(1), slot_entry(0, "/machine/unattached/device[0]"),
    ]  # fmt: skip
    assert await vcpu_counts(qmp) == (1, 3)
    await until_guest(qmp, "online", "0")
    assert await guest_cpus(qmp) == {
        "possible": "0-3", "present": "0-3", "enabled": "0", "online": "0", "offline": "1-3",
    }  # fmt: skip
    machines = await qmp.execute("query-machines")
    assert isinstance(machines, list)
    assert {m["name"]: m["hotpluggable-cpus"] for m in machines}["virt-7.2"] is True
    ospm = await qmp.execute("query-acpi-ospm-status")
    assert ospm == [{"slot": str(i), "slot-type": "CPU", "source": 0, "status": 0} for i in range(4)]
    ged = await qmp.execute("qom-get", {"path": "/machine/unattached/device[6]", "property": "ged-event"})
    assert ged == 0x2 | 0x8


async def test_plug_then_unplug_with_a_cooperating_guest(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    await until_guest(qmp, "online", "0")
    with qmp.listener() as listener:
        assert await qmp.execute("device_add", {"driver": CPU, "id": "core1", "core-id": 1}) == {}
        assert await next_event(listener) == ost(1, 0, 1, "core1")
        await until_guest(qmp, "online", "0-1")
        assert await guest_cpus(qmp) == {
            "possible": "0-3", "present": "0-3", "enabled": "0-1", "online": "0-1", "offline": "2-3",
        }  # fmt: skip
        assert vcpu_threads(vmd_vm) == ["vcpu0", "vcpu1"]
        path = "/machine/peripheral/core1"
        assert as_list(await qmp.execute("query-hotpluggable-cpus"))[2] == slot_entry(1, path)
        for prop, value in (("mp-affinity", 1), ("core-id", 1), ("cluster-id", 0), ("hotplugged", True)):
            assert await qmp.execute("qom-get", {"path": path, "property": prop}) == value
        assert await vcpu_counts(qmp) == (2, 2)

        assert await qmp.execute("device_del", {"id": "core1"}) == {}
        # One DEVICE_DELETED: an ARM CPU has no child device (x86's lapic).
        assert await events(listener, 3) == [ost(3, 0x84, 1, "core1"), deleted("core1"), ost(3, 0, 1)]
    await until_threads(vmd_vm, ["vcpu0"])
    assert await guest_cpus(qmp) == {
        "possible": "0-3", "present": "0-3", "enabled": "0", "online": "0", "offline": "1-3",
    }  # fmt: skip
    assert await vcpu_counts(qmp) == (1, 3)
    cpus = await qmp.execute("query-cpus-fast")
    assert isinstance(cpus, list)
    assert [cpu["cpu-index"] for cpu in cpus] == [0]


async def vcpu_policies(qmp: QMPClient) -> dict[int, int]:
    cpus = await qmp.execute("query-cpus-fast")
    assert isinstance(cpus, list)
    return {cpu["cpu-index"]: os.sched_getscheduler(cpu["thread-id"]) for cpu in cpus}


async def test_a_vcpu_the_guest_waits_on_is_hastened_only_until_it_answers(vmd_vm: Vm) -> None:
    """While the guest waits for a vCPU's answer to an online or offline request, vmd lifts the
    vCPU thread out of SCHED_IDLE (where the host lets it); once the answer is in, the thread is
    back under SCHED_IDLE, so that a busy guest never competes with the daemon's loop."""
    qmp = vmd_vm.qmp
    await until_guest(qmp, "online", "0")
    assert await vcpu_policies(qmp) == {0: os.SCHED_IDLE}
    await qmp.execute("device_add", {"driver": CPU, "id": "core1", "core-id": 1})
    await until_guest(qmp, "online", "0-1")
    assert await vcpu_policies(qmp) == {0: os.SCHED_IDLE, 1: os.SCHED_IDLE}
    for online in (False, True, False, True):
        await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": online})
        assert (await guest_cpus(qmp))["online"] == ("0-1" if online else "0")
        assert await vcpu_policies(qmp) == {0: os.SCHED_IDLE, 1: os.SCHED_IDLE}
    await qmp.execute("__com.vmd_set-guest-policy", {"load-percent": 100})  # a busy guest
    await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": False})
    await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": True})
    assert await vcpu_policies(qmp) == {0: os.SCHED_IDLE, 1: os.SCHED_IDLE}


async def test_a_replug_reuses_the_parked_context_index_and_affinity(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    await until_guest(qmp, "online", "0")
    with qmp.listener() as listener:
        for round_ in range(3):
            await qmp.execute("device_add", {"driver": CPU, "id": "c2", "core-id": 2})
            assert await next_event(listener) == ost(1, 0, 2, "c2")
            await until_guest(qmp, "online", "0,2")
            cpus = await qmp.execute("query-cpus-fast")
            assert isinstance(cpus, list)
            assert cpus[1]["cpu-index"] == 2
            assert (
                await qmp.execute("qom-get", {"path": "/machine/peripheral/c2", "property": "mp-affinity"})
                == 2
            )
            stats = await qmp.execute("query-stats", {"target": "vcpu", "vcpus": ["/machine/peripheral/c2"]})
            assert isinstance(stats, list)
            plugs = {s["name"]: s["value"] for s in stats[0]["stats"]}["plugs"]
            assert plugs == round_ + 1  # the same context each time
            # ... on a new host thread (vmd's choice: a spare started ahead), named after it.
            comm = Path(f"/proc/{vmd_vm.pid}/task/{cpus[1]['thread-id']}/comm")
            assert comm.read_text().strip() == "vcpu2"
            await qmp.execute("device_del", {"id": "c2"})
            assert (await events(listener, 3))[1] == deleted("c2")
        await until_threads(vmd_vm, ["vcpu0"])


async def test_device_add_checks_in_order(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    cases: list[tuple[dict[str, Any], str]] = [
        ({"driver": "cortex-a15-arm-cpu"}, "Parameter 'driver' expects a pluggable device type"),
        ({"driver": "arm-cpu"}, "Parameter 'driver' expects a non-abstract device type"),
        ({"driver": "host-arm-cpu"}, "'host-arm-cpu' is not a valid device model name"),
        ({"driver": CPU, "foo": 1}, f"Property '{CPU}.foo' not found"),
        ({"driver": "max-arm-cpu", "core-id": 1}, f"Invalid CPU type, expected cpu type: '{CPU}'"),
        ({"driver": CPU, "core-id": 1, "thread-id": 2}, "Invalid thread-id 2 specified, correct range 0:0"),
        ({"driver": CPU, "core-id": 7}, "Invalid core-id 7 specified, correct range 0:3"),
        ({"driver": CPU, "core-id": -1}, "Invalid core-id 4294967295 specified, correct range 0:3"),
        ({"driver": CPU, "core-id": 1, "cluster-id": 1}, "Invalid cluster-id 1 specified, correct range 0:0"),
        ({"driver": CPU, "core-id": 1, "socket-id": 1}, "Invalid socket-id 1 specified, correct range 0:0"),
        ({"driver": CPU}, "cpu(id0=0:0:0:0) with arch-id 0 exist"),
    ]
    for arguments, message in cases:
        assert await refused(qmp, "device_add", arguments) == message, arguments
    await qmp.execute("device_add", {"driver": CPU, "id": "x", "core-id": 3})
    assert (
        await refused(qmp, "device_add", {"driver": CPU, "id": "x", "core-id": 2})
        == "Duplicate device ID 'x'"
    )
    assert await refused(qmp, "device_add", {"driver": CPU, "core-id": 3}) == (
        "cpu(id3=0:0:3:0) with arch-id 3 exist"
    )
    boot = "/machine/unattached/device[0]"
    assert await refused(qmp, "device_del", {"id": boot}) == "Boot CPU(id0=0:0:0:0) hot-unplug not supported"
    assert await refused(qmp, "device_del", {"id": "/machine/unattached/device[7]"}) == (
        "Bus 'main-system-bus' does not support hotplugging"
    )


@pytest.mark.vmd_args(*ARM, "-smp", "1,maxcpus=4", "-vmd-guest", "unplug=refuse", target="aarch64")
async def test_a_refusing_guest_keeps_the_cpu(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener() as listener:
        await qmp.execute("device_add", {"driver": CPU, "id": "core1", "core-id": 1})
        await next_event(listener)
        await until_guest(qmp, "online", "0-1")
        await qmp.execute("device_del", {"id": "core1"})
        assert await events(listener, 2) == [
            ost(3, 0x82, 1, "core1"),
            {
                "event": "DEVICE_UNPLUG_GUEST_ERROR",
                "data": {"device": "core1", "path": "/machine/peripheral/core1"},
            },
        ]
    assert (await guest_cpus(qmp))["enabled"] == "0-1"
    assert vcpu_threads(vmd_vm) == ["vcpu0", "vcpu1"]


@pytest.mark.vmd_args(*ARM, "-smp", "1,maxcpus=4", "-vmd-guest", "unplug=ignore", target="aarch64")
async def test_an_ignoring_guest_leaves_the_unplug_pending(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener() as listener:
        await qmp.execute("device_add", {"driver": CPU, "id": "core1", "core-id": 1})
        await next_event(listener)
        for _ in range(2):  # asked again: {} each time, no "in progress" error
            assert await qmp.execute("device_del", {"id": "core1"}) == {}
        await no_event(listener)
        assert await refused(qmp, "device_add", {"driver": CPU, "core-id": 1}) == (
            "cpu(id1=0:0:1:0) with arch-id 1 exist"
        )
    assert (await guest_cpus(qmp))["enabled"] == "0-1"


@pytest.mark.vmd_args(*ARM, "-smp", "1,maxcpus=4", "-vmd-guest", "auto-online=off", target="aarch64")
async def test_without_auto_online_the_cpu_is_enabled_but_offline(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    # The boot vCPU confirms its online state when its thread first runs: on a loaded host that can
    # come after the plug below, so wait for it (the test is about CPU 2).
    await until_guest(qmp, "online", "0")
    with qmp.listener() as listener:
        await qmp.execute("device_add", {"driver": CPU, "id": "core2", "core-id": 2})
        assert await next_event(listener) == ost(1, 0, 2, "core2")
        await until_guest(qmp, "enabled", "0,2")
        assert (await guest_cpus(qmp))["online"] == "0"
        message = await refused(qmp, "__com.vmd_guest-set-cpu-online", {"cpu-index": 3, "online": True})
        assert message == "CPU 3 is not enabled in the guest"
        await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 2, "online": True})
        assert (await guest_cpus(qmp))["online"] == "0,2"
        await qmp.execute("device_del", {"id": "core2"})
        assert (await events(listener, 3))[1] == deleted("core2")


@pytest.mark.vmd_args(*ARM, "-smp", "2,maxcpus=6", "-vmd-guest", "maxcpus=1", target="aarch64")
async def test_the_guest_view_of_the_cover_letters(vmd_vm: Vm) -> None:
    """-smp cpus=N,maxcpus=M with the guest booted with maxcpus=: the V2-V6 cover letters' table."""
    qmp = vmd_vm.qmp
    await until_guest(qmp, "online", "0")
    assert await guest_cpus(qmp) == {
        "possible": "0-5", "present": "0-5", "enabled": "0-1", "online": "0", "offline": "1-5",
    }  # fmt: skip
    await qmp.execute("device_add", {"driver": CPU, "id": "core4", "core-id": 4})
    await until_guest(qmp, "online", "0,4")
    assert await guest_cpus(qmp) == {
        "possible": "0-5", "present": "0-5", "enabled": "0-1,4", "online": "0,4", "offline": "1-3,5",
    }  # fmt: skip
    # A cold-booted CPU other than the boot CPU may go (V6 and x86; v5 refused it).
    with qmp.listener() as listener:
        await qmp.execute("device_del", {"id": "/machine/unattached/device[1]"})
        assert (await events(listener, 3))[1] == {
            "event": "DEVICE_DELETED", "data": {"path": "/machine/unattached/device[1]"},
        }  # fmt: skip
    assert (await guest_cpus(qmp))["enabled"] == "0,4"


@pytest.mark.vmd_args(*ARM, "-S", "-smp", "1,maxcpus=4", target="aarch64")
async def test_before_boot_a_plug_is_taken_in_and_an_unplug_stays_pending(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener() as listener:
        assert await qmp.execute("device_add", {"driver": CPU, "id": "core1", "core-id": 1}) == {}
        assert await qmp.execute("device_del", {"id": "core1"}) == {}  # ARM has no legacy mode
        await no_event(listener)
        await qmp.execute("cont")
        # The booting guest enumerates the CPU (no _OST for its insert), then answers the eject.
        assert await events(listener, 4) == [
            {"event": "RESUME"}, ost(3, 0x84, 1, "core1"), deleted("core1"), ost(3, 0, 1),
        ]  # fmt: skip
    assert (await guest_cpus(qmp))["enabled"] == "0"


@pytest.mark.vmd_args(*ARM, "-smp", "1,maxcpus=4", "-M", "virt,gic-version=3,acpi=off", target="aarch64")
async def test_without_acpi_slots_are_listed_but_plug_and_unplug_fail(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    slots = await qmp.execute("query-hotpluggable-cpus")
    assert isinstance(slots, list)
    assert len(slots) == 4
    assert (
        await refused(qmp, "device_add", {"driver": CPU, "core-id": 1}) == "GED acpi device does not exists"
    )
    assert await refused(qmp, "device_del", {"id": "/machine/unattached/device[0]"}) == (
        "GED does not exists or device is not realized!"
    )
    assert await refused(qmp, "query-acpi-ospm-status", {}) == "command is not supported, missing ACPI device"


@pytest.mark.vmd_args("-M", "virt", "-cpu", "cortex-a57", "-smp", "1,maxcpus=4", target="aarch64")
async def test_plain_virt_has_no_hotplug_and_never_aborts(vmd_vm: Vm) -> None:
    qmp = vmd_vm.qmp
    assert await refused(qmp, "query-hotpluggable-cpus", {}) == (
        "The feature 'query-hotpluggable-cpus' is not enabled"
    )
    assert await refused(qmp, "device_del", {"id": "/machine/unattached/device[0]"}) == (
        f"Device '{CPU}' does not support hotplugging"
    )
    assert await vcpu_counts(qmp) == (1, 0)
    assert (await guest_cpus(qmp))["present"] == "0"
