"""CPU hotplug end to end over QMP: plug, the guest's answer under every policy, unplug,
and what the slots, the vCPU threads and the guest's view say at each step.

The `running` VM is vmd.testing's `vmd_vm` (this module's vmd_args); the others are `peers`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.peers import TIMEOUT, Peer, qmp_client
from tests.replies import as_dict
from vmd.testing import Vm, wait_online

pytestmark = pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=4")

CPU = "qemu64-x86_64-cpu"


def slot(core: int) -> dict[str, Any]:
    return {"driver": CPU, "socket-id": 0, "core-id": core, "thread-id": 0}


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


def deleted(path: str, device: str | None = None) -> list[dict[str, Any]]:
    last: dict[str, Any] = {"path": path} if device is None else {"device": device, "path": path}
    return [
        {"event": "DEVICE_DELETED", "data": {"path": f"{path}/lapic"}},
        {"event": "DEVICE_DELETED", "data": last},
    ]


async def guest_cpus(qmp: QMPClient) -> dict[str, str]:
    view = await qmp.execute("__com.vmd_query-guest-cpus")
    assert isinstance(view, dict)
    return {key: view[key] for key in ("possible", "present", "online", "offline")}


async def until_online(qmp: QMPClient, cpus: str) -> None:
    """Online is what the vCPUs themselves confirm, with no event: poll (bounded) until it says so."""
    async with asyncio.timeout(TIMEOUT):
        while (await guest_cpus(qmp))["online"] != cpus:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def vcpu_threads(peer: Peer | Vm) -> list[str]:
    tasks = Path(f"/proc/{peer.pid}/task")
    return sorted(
        name for task in tasks.iterdir() if (name := (task / "comm").read_text().strip()).startswith("vcpu")
    )


async def until_threads(peer: Peer | Vm, names: list[str]) -> None:
    """A joined thread's OS thread ends a moment after Python let go of it: wait (bounded)."""
    async with asyncio.timeout(TIMEOUT):
        while vcpu_threads(peer) != names:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def qom_paths(qmp: QMPClient) -> dict[int, str]:
    cpus = await qmp.execute("query-cpus-fast")
    assert isinstance(cpus, list)
    return {cpu["cpu-index"]: cpu["qom-path"] for cpu in cpus}


@pytest.fixture
async def running(vmd_vm: Vm) -> tuple[Vm, QMPClient]:
    """The VM once its guest has booted: the boot vCPU confirms it is online when its thread first
    runs, which on a loaded host can come after a test's first plug and unplug were done (the guest
    then listed no CPU online)."""
    await wait_online(vmd_vm.qmp, 0, timeout=TIMEOUT)
    return vmd_vm, vmd_vm.qmp


async def test_plug_then_unplug_with_a_cooperating_guest(running: tuple[Vm, QMPClient]) -> None:
    peer, qmp = running
    with qmp.listener() as listener:
        assert await qmp.execute("device_add", {**slot(1), "id": "vcpu1"}) == {}
        assert await next_event(listener) == ost(1, 0, 1, "vcpu1")
        await until_online(qmp, "0-1")
        assert await guest_cpus(qmp) == {
            "possible": "0-3",
            "present": "0-1",
            "online": "0-1",
            "offline": "2-3",
        }
        assert vcpu_threads(peer) == ["vcpu0", "vcpu1"]
        assert (await qom_paths(qmp))[1] == "/machine/peripheral/vcpu1"

        assert await qmp.execute("device_del", {"id": "vcpu1"}) == {}
        assert await events(listener, 4) == [
            ost(3, 0x84, 1, "vcpu1"),
            *deleted("/machine/peripheral/vcpu1", "vcpu1"),
            ost(3, 0, 1),
        ]
    await until_threads(peer, ["vcpu0"])
    assert await qom_paths(qmp) == {0: "/machine/unattached/device[0]"}
    assert await guest_cpus(qmp) == {"possible": "0-3", "present": "0", "online": "0", "offline": "1-3"}
    slots = await qmp.execute("query-hotpluggable-cpus")
    assert isinstance(slots, list)
    assert [s.get("qom-path") for s in slots] == [None, None, None, "/machine/unattached/device[0]"]
    assert await qmp.execute("query-acpi-ospm-status") == [
        {"slot": "0", "slot-type": "CPU", "source": 0, "status": 0},
        {"slot": "1", "slot-type": "CPU", "source": 3, "status": 0},
        {"slot": "2", "slot-type": "CPU", "source": 0, "status": 0},
        {"slot": "3", "slot-type": "CPU", "source": 0, "status": 0},
    ]


async def test_replug_reuses_the_parked_vcpu_and_the_id(running: tuple[Vm, QMPClient]) -> None:
    _, qmp = running
    with qmp.listener() as listener:
        for _ in range(3):
            await qmp.execute("device_add", {**slot(2), "id": "c2"})
            assert await next_event(listener) == ost(1, 0, 2, "c2")
            await qmp.execute("device_del", {"id": "c2"})
            assert (await events(listener, 4))[1:3] == deleted("/machine/peripheral/c2", "c2")
        await qmp.execute("device_add", {**slot(2), "id": "c2"})
        await next_event(listener)
    await until_online(qmp, "0,2")
    stats = await qmp.execute("query-stats", {"target": "vcpu", "vcpus": ["/machine/peripheral/c2"]})
    assert isinstance(stats, list)
    assert {s["name"]: s["value"] for s in stats[0]["stats"]}["plugs"] == 4
    vm = await qmp.execute("query-stats", {"target": "vm"})
    assert isinstance(vm, list)
    counts = {s["name"]: s["value"] for s in vm[0]["stats"]}
    assert (counts["present_vcpus"], counts["hot_adds"], counts["unplugs"]) == (2, 4, 3)
    # Every phase of the last unplug was timed, in order.
    assert 0 < counts["unplug_eject_ns"] <= counts["unplug_deleted_ns"]
    times = {s["name"]: s["value"] for s in stats[0]["stats"]}
    assert 0 < times["hotplug_thread_ns"] <= times["hotplug_guest_ns"] <= times["hotplug_online_ns"]


async def test_anonymous_cpus_and_unplug_by_path(running: tuple[Vm, QMPClient]) -> None:
    _, qmp = running
    with qmp.listener() as listener:
        await qmp.execute("device_add", slot(3))
        assert await next_event(listener) == ost(1, 0, 3)
        assert (await qom_paths(qmp))[3] == "/machine/peripheral-anon/device[0]"
        await qmp.execute("device_del", {"id": "/machine/peripheral-anon/device[0]"})
        assert await events(listener, 4) == [
            ost(3, 0x84, 3),
            *deleted("/machine/peripheral-anon/device[0]"),
            ost(3, 0, 3),
        ]


async def test_a_refusing_guest_keeps_the_cpu_and_says_so(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", "unplug=refuse")
    async with qmp_client(peer.socket) as qmp:
        with qmp.listener() as listener:
            await qmp.execute("device_add", {**slot(1), "id": "vcpu1"})
            await next_event(listener)
            await qmp.execute("device_del", {"id": "vcpu1"})
            assert await events(listener, 2) == [
                ost(3, 0x82, 1, "vcpu1"),
                {
                    "event": "DEVICE_UNPLUG_GUEST_ERROR",
                    "data": {"device": "vcpu1", "path": "/machine/peripheral/vcpu1"},
                },
            ]
            assert (await qom_paths(qmp))[1] == "/machine/peripheral/vcpu1"
            assert vcpu_threads(peer) == ["vcpu0", "vcpu1"]
            # Once the guest changes its mind, the same request goes through.
            await qmp.execute("__com.vmd_set-guest-policy", {"unplug": "accept"})
            await qmp.execute("device_del", {"id": "vcpu1"})
            assert (await events(listener, 4))[1:3] == deleted("/machine/peripheral/vcpu1", "vcpu1")


async def test_an_ignoring_guest_leaves_the_request_pending(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", "unplug=ignore")
    async with qmp_client(peer.socket) as qmp:
        with qmp.listener() as listener:
            await qmp.execute("device_add", {**slot(1), "id": "vcpu1"})
            await next_event(listener)
            assert await qmp.execute("device_del", {"id": "vcpu1"}) == {}
            assert await qmp.execute("device_del", {"id": "vcpu1"}) == {}  # QEMU: no "already in progress"
            await no_event(listener)
            slots = await qmp.execute("query-hotpluggable-cpus")
            assert isinstance(slots, list)
            assert slots[2]["qom-path"] == "/machine/peripheral/vcpu1"
            with pytest.raises(ExecuteError) as caught:
                await qmp.execute("device_add", {**slot(1), "id": "other"})
            assert caught.value.error.error.desc == "CPU[1] with APIC ID 1 exists"


async def test_auto_online_off_leaves_a_hot_added_cpu_offline(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", "auto-online=off")
    async with qmp_client(peer.socket) as qmp:
        await wait_online(qmp, 0, timeout=TIMEOUT)  # the guest is up (its boot vCPU reported)
        with qmp.listener() as listener:
            await qmp.execute("device_add", {**slot(1), "id": "vcpu1"})
            assert await next_event(listener) == ost(1, 0, 1, "vcpu1")
            assert (await guest_cpus(qmp))["online"] == "0"
            assert (await guest_cpus(qmp))["present"] == "0-1"
            await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": True})
            assert (await guest_cpus(qmp))["online"] == "0-1"
            await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": False})
            assert (await guest_cpus(qmp))["online"] == "0"
            with pytest.raises(ExecuteError) as caught:
                await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 0, "online": False})
            assert "CPU 0 cannot be taken offline" in caught.value.error.error.desc


async def test_maxcpus_keeps_boot_cpus_offline(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "3,maxcpus=4", "-vmd-guest", "maxcpus=1")
    async with qmp_client(peer.socket) as qmp:
        await until_online(qmp, "0")
        assert await guest_cpus(qmp) == {"possible": "0-3", "present": "0-2", "online": "0", "offline": "1-3"}
        assert vcpu_threads(peer) == ["vcpu0", "vcpu1", "vcpu2"]


async def test_unplug_before_the_guest_booted_is_refused_as_qemu_does(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4", "-S")
    async with qmp_client(peer.socket) as qmp:
        with qmp.listener() as listener:
            await qmp.execute("device_add", {**slot(1), "id": "vcpu1"})
            with pytest.raises(ExecuteError) as caught:
                await qmp.execute("device_del", {"id": "vcpu1"})
            assert (
                caught.value.error.error.desc
                == f"acpi: device unplug request for not supported device type: {CPU}"
            )
            assert await qmp.execute("query-acpi-ospm-status") == []
            await no_event(listener)
            await qmp.execute("cont")  # the guest boots, switches ACPI to modern, finds the CPU
            assert (await next_event(listener))["event"] == "RESUME"
            await qmp.execute("device_del", {"id": "vcpu1"})
            assert (await events(listener, 4))[1:3] == deleted("/machine/peripheral/vcpu1", "vcpu1")


async def test_unplug_requested_while_paused_completes_after_cont(running: tuple[Vm, QMPClient]) -> None:
    _, qmp = running
    with qmp.listener() as listener:
        await qmp.execute("device_add", {**slot(1), "id": "vcpu1"})
        await next_event(listener)
        await qmp.execute("stop")
        assert (await next_event(listener))["event"] == "STOP"
        await qmp.execute("device_del", {"id": "vcpu1"})
        await qmp.execute("device_del", {"id": "vcpu1"})
        await no_event(listener)  # a paused guest does nothing
        await qmp.execute("cont")
        assert (await next_event(listener))["event"] == "RESUME"
        assert await events(listener, 4) == [
            ost(3, 0x84, 1, "vcpu1"),
            *deleted("/machine/peripheral/vcpu1", "vcpu1"),
            ost(3, 0, 1),
        ]
        await no_event(listener)  # one eject for the two requests


async def test_cold_plugged_cpus_are_present_at_boot(peers: Callable[..., Peer]) -> None:
    device = '{"driver": "qemu64-x86_64-cpu", "id": "cold2", "socket-id": 0, "core-id": 2, "thread-id": 0}'
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4", "-device", device, "-S")
    async with qmp_client(peer.socket) as qmp:
        assert (await qom_paths(qmp))[2] == "/machine/peripheral/cold2"
        assert (
            await qmp.execute("qom-get", {"path": "/machine/peripheral/cold2", "property": "hotplugged"})
            is False
        )
        await qmp.execute("cont")
        await until_online(qmp, "0,2")
    assert vcpu_threads(peer) == ["vcpu0", "vcpu2"]


async def test_guest_policy_can_change_at_run_time(running: tuple[Vm, QMPClient]) -> None:
    _, qmp = running
    policy = await qmp.execute("__com.vmd_set-guest-policy", {"unplug": "ignore", "delay-ms": 5})
    assert policy == {
        "auto-online": True,
        "unplug": "ignore",
        "delay-ms": 5,
        "cpu0-hotplug": False,
        "powerdown": "shutdown",
        "load-percent": 0,
        "agent": "on",
        "agent-delay-ms": 1000,
    }
    with pytest.raises(ExecuteError):
        await qmp.execute("__com.vmd_set-guest-policy", {"unplug": "maybe"})
    for member, value in (("delay-ms", 1 << 32), ("delay-ms", -1), ("maxcpus", 1 << 32)):
        with pytest.raises(ExecuteError) as caught:
            await qmp.execute("__com.vmd_set-guest-policy", {member: value})
        assert caught.value.error.error.desc == f"Parameter '{member}' expects uint32_t"
    assert as_dict(await qmp.execute("__com.vmd_query-guest-cpus"))["policy"] == policy


async def test_an_eject_never_completes_while_paused(running: tuple[Vm, QMPClient]) -> None:
    """device_del then stop, a few 100 us apart, many times: the eject finishes before STOP or
    after RESUME, never in between."""
    _, qmp = running
    with qmp.listener() as listener:
        for round_ in range(20):
            await qmp.execute("device_add", {**slot(1), "id": f"r{round_}"})
            assert await next_event(listener) == ost(1, 0, 1, f"r{round_}")
            await until_online(qmp, "0-1")
            await qmp.execute("device_del", {"id": f"r{round_}"})
            await asyncio.sleep(round_ % 5 * 0.0005)  # land the stop at different points of the eject
            await qmp.execute("stop")
            seen: list[dict[str, Any]] = []
            while not seen or seen[-1]["event"] != "STOP":
                seen.append(await next_event(listener))
            with contextlib.suppress(TimeoutError):
                while True:
                    seen.append(await asyncio.wait_for(next_event(listener), 0.05))
            stop_at = next(i for i, e in enumerate(seen) if e["event"] == "STOP")
            assert "DEVICE_DELETED" not in [e["event"] for e in seen[stop_at:]], seen
            await qmp.execute("cont")
            assert await next_event(listener) == {"event": "RESUME"}
            while ost(3, 0, 1) not in seen:  # the eject, if it waited for cont
                seen.append(await next_event(listener))
            await until_threads(running[0], ["vcpu0"])


async def test_unplug_queued_behind_its_own_plug(running: tuple[Vm, QMPClient]) -> None:
    """Plug and unplug requested before the guest looks: it onlines the CPU, then offlines and
    ejects it, in order, and nothing is left waiting."""
    peer, qmp = running
    with qmp.listener() as listener:
        await qmp.execute("stop")
        assert (await next_event(listener))["event"] == "STOP"
        await qmp.execute("device_add", {**slot(3), "id": "c3"})
        await qmp.execute("device_del", {"id": "c3"})
        await qmp.execute("cont")
        assert await events(listener, 6) == [
            {"event": "RESUME"},
            ost(1, 0, 3, "c3"),
            ost(3, 0x84, 3, "c3"),
            *deleted("/machine/peripheral/c3", "c3"),
            ost(3, 0, 3),
        ]
    await until_threads(peer, ["vcpu0"])
    assert await guest_cpus(qmp) == {"possible": "0-3", "present": "0", "online": "0", "offline": "1-3"}
    stats = await qmp.execute("query-stats", {"target": "vm"})
    assert isinstance(stats, list)
    assert {s["name"]: s["value"] for s in stats[0]["stats"]}["unplugs"] == 1
