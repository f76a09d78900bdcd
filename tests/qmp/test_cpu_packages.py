"""CPU packages (/machine/cpu-packages) over QMP: one object per possible slot, `present` as the
hypervisor's truth at every instant, and qom-set of `present` plugging and unplugging with the
same events as an anonymous device_add and a device_del.  pc/q35 first, then s390x."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.peers import TIMEOUT, Peer, qmp_client

pytestmark = pytest.mark.vmd_args("-M", "q35", "-smp", "1,sockets=2,cores=2,threads=1,maxcpus=4")

PACKAGES = "/machine/cpu-packages"


def package(slot: int) -> str:
    return f"{PACKAGES}/package[{slot}]"


async def get(qmp: QMPClient, slot: int, prop: str) -> Any:
    return await qmp.execute("qom-get", {"path": package(slot), "property": prop})


async def set_present(qmp: QMPClient, slot: int, value: object) -> Any:
    return await qmp.execute("qom-set", {"path": package(slot), "property": "present", "value": value})


async def next_event(listener: EventListener) -> dict[str, Any]:
    event = await asyncio.wait_for(listener.get(), TIMEOUT)
    return {"event": event["event"], **({"data": event["data"]} if "data" in event else {})}


async def events(listener: EventListener, count: int) -> list[dict[str, Any]]:
    return [await next_event(listener) for _ in range(count)]


def ost(source: int, status: int, slot: int) -> dict[str, Any]:
    return {
        "event": "ACPI_DEVICE_OST",
        "data": {"info": {"slot": str(slot), "slot-type": "CPU", "source": source, "status": status}},
    }


async def error_of(qmp: QMPClient, command: str, arguments: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ExecuteError) as caught:
        await qmp.execute(command, arguments)
    return caught.value.error.error.class_, caught.value.error.error.desc


async def present_slots(qmp: QMPClient) -> set[int]:
    """query-hotpluggable-cpus's occupied slots (listed highest first)."""
    slots = await qmp.execute("query-hotpluggable-cpus")
    assert isinstance(slots, list)
    count = len(slots)
    return {count - 1 - i for i, entry in enumerate(slots) if "qom-path" in entry}


async def until(probe: Callable[[], Any], expected: Any) -> None:
    async with asyncio.timeout(TIMEOUT):
        while await probe() != expected:  # noqa: ASYNC110 - QOM is polled, it has no event
            await asyncio.sleep(0.01)


async def test_one_package_per_possible_slot_with_its_address(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    children = await qmp.execute("qom-list", {"path": PACKAGES})
    assert isinstance(children, list)
    assert [(c["name"], c["type"]) for c in children if c["name"] != "type"] == [
        (f"package[{slot}]", "child<x86-thread-cpu-package>") for slot in range(4)
    ]
    props = await qmp.execute("qom-list", {"path": package(3)})
    assert isinstance(props, list)
    assert [(p["name"], p["type"]) for p in props] == [
        ("type", "string"), ("present", "bool"), ("unplug-pending", "bool"), ("vcpus", "uint32"),
        ("cpu-indexes", "uint32List"), ("hotpluggable", "bool"), ("socket-id", "int32"), ("die-id", "int32"),
        ("core-id", "int32"), ("thread-id", "int32"), ("node-id", "int32"), ("qom-path", "string"),
    ]  # fmt: skip
    assert [await get(qmp, 3, p) for p in ("type", "present", "vcpus", "cpu-indexes", "hotpluggable")] == [
        "x86-thread-cpu-package",
        False,
        1,
        [3],
        True,
    ]
    ids = ("socket-id", "die-id", "core-id", "thread-id", "node-id", "qom-path")
    assert [await get(qmp, 3, p) for p in ids] == [1, 0, 1, 0, -1, ""]
    assert [await get(qmp, 0, p) for p in ("present", "hotpluggable", "qom-path")] == [
        True,
        False,
        "/machine/unattached/device[0]",
    ]


async def test_present_true_plugs_as_an_anonymous_device_add_and_false_unplugs(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener() as listener:
        assert await set_present(qmp, 2, True) == {}
        assert await get(qmp, 2, "present") is True
        assert await get(qmp, 2, "qom-path") == "/machine/peripheral-anon/device[0]"
        assert await present_slots(qmp) == {0, 2}
        assert await next_event(listener) == ost(1, 0, 2)
        assert await set_present(qmp, 2, True) == {}  # already present: nothing happens
        assert await set_present(qmp, 2, False) == {}
        path = "/machine/peripheral-anon/device[0]"
        assert await events(listener, 4) == [
            ost(3, 0x84, 2),
            {"event": "DEVICE_DELETED", "data": {"path": f"{path}/lapic"}},
            {"event": "DEVICE_DELETED", "data": {"path": path}},
            ost(3, 0, 2),
        ]
        assert await get(qmp, 2, "present") is False
        assert await get(qmp, 2, "qom-path") == ""
        assert await present_slots(qmp) == {0}
        assert await set_present(qmp, 2, False) == {}  # already absent: nothing happens
        # A device_add into the slot is seen by the package, and the next anonymous name is used up.
        await qmp.execute(
            "device_add", {"driver": "qemu64-x86_64-cpu", "socket-id": 1, "core-id": 0, "thread-id": 0}
        )
        assert await get(qmp, 2, "qom-path") == "/machine/peripheral-anon/device[1]"


@pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", "unplug=refuse")
async def test_a_refused_unplug_leaves_the_package_present(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    await set_present(qmp, 1, True)
    with qmp.listener("DEVICE_UNPLUG_GUEST_ERROR") as listener:
        assert await set_present(qmp, 1, False) == {}
        assert await next_event(listener) == {
            "event": "DEVICE_UNPLUG_GUEST_ERROR",
            "data": {"path": "/machine/peripheral-anon/device[0]"},
        }
    assert [await get(qmp, 1, p) for p in ("present", "unplug-pending")] == [True, False]


@pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", "unplug=ignore")
async def test_a_pending_unplug_is_present_and_unplug_pending(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    await set_present(qmp, 1, True)
    await set_present(qmp, 1, False)
    assert [await get(qmp, 1, p) for p in ("present", "unplug-pending")] == [True, True]
    await qmp.execute("__com.vmd_set-guest-policy", {"unplug": "accept"})
    await set_present(qmp, 1, False)  # asks again, as a second device_del does
    await until(lambda: get(qmp, 1, "present"), False)
    assert await get(qmp, 1, "unplug-pending") is False


async def test_refusals_have_qemus_words(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    assert await error_of(qmp, "qom-set", {"path": package(0), "property": "present", "value": False}) == (
        "GenericError",
        "Boot CPU is unpluggable",
    )
    assert await error_of(qmp, "qom-set", {"path": package(1), "property": "present", "value": "yes"}) == (
        "GenericError",
        "Invalid parameter type for 'present', expected: boolean",
    )
    assert await error_of(qmp, "qom-set", {"path": package(1), "property": "vcpus", "value": 2}) == (
        "GenericError",
        "Property 'x86-thread-cpu-package.vcpus' is not writable",
    )
    assert await get(qmp, 1, "present") is False


async def test_s390x_packages_plug_and_refuse_unplug_with_the_boards_text(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "s390-ccw-virtio", "-smp", "1,maxcpus=3", target="s390x")
    async with qmp_client(peer.socket) as qmp:
        assert await get(qmp, 2, "type") == "s390x-cpu-package"
        assert [await get(qmp, 2, p) for p in ("core-id", "cpu-indexes")] == [2, [2]]
        assert await set_present(qmp, 2, True) == {}
        assert await get(qmp, 2, "qom-path") == "/machine/peripheral-anon/device[0]"
        for slot in (0, 2):
            assert await error_of(
                qmp, "qom-set", {"path": package(slot), "property": "present", "value": False}
            ) == (
                "GenericError",
                "CPU hot unplug not supported on this machine",
            )
        assert await present_slots(qmp) == {0, 2}


def guest_online(qmp: QMPClient) -> Callable[[], Any]:
    async def probe() -> Any:
        cpus = await qmp.execute("__com.vmd_query-guest-cpus")
        assert isinstance(cpus, dict)
        return cpus["online"]

    return probe


async def test_pseries_packages_are_whole_cores(peers: Callable[..., Peer]) -> None:
    """A pseries package is a core: its threads' cpu-indexes, core-id = slot x threads; present=true
    plugs the slot's core type, present=false goes through the guest (DEVICE_DELETED last)."""
    peer = peers("vmd", "-M", "pseries", "-smp", "4,maxcpus=12,threads=4", target="ppc64")
    async with qmp_client(peer.socket) as qmp:
        assert await get(qmp, 1, "type") == "spapr-core-cpu-package"
        assert [await get(qmp, 1, p) for p in ("core-id", "node-id", "vcpus", "cpu-indexes")] == [
            4,
            0,
            4,
            [4, 5, 6, 7],
        ]
        with qmp.listener() as listener:
            assert await set_present(qmp, 1, True) == {}
            assert await get(qmp, 1, "qom-path") == "/machine/peripheral-anon/device[0]"
            cpus = await qmp.execute("query-cpus-fast")
            assert isinstance(cpus, list)
            assert [c["qom-path"] for c in cpus if c["props"]["core-id"] == 4] == [
                f"/machine/peripheral-anon/device[0]/thread[{t}]" for t in range(4)
            ]
            await until(guest_online(qmp), "0-7")
            assert await set_present(qmp, 1, False) == {}
            async with asyncio.timeout(TIMEOUT):  # the threads' children and threads, then the core
                while (event := await next_event(listener))["data"] != {
                    "path": "/machine/peripheral-anon/device[0]"
                }:
                    assert event["event"] == "DEVICE_DELETED"
        assert await get(qmp, 1, "present") is False
        assert await present_slots(qmp) == {0}


async def test_arm_virt_packages_are_threads_with_socket_cluster_core_thread_ids(
    peers: Callable[..., Peer],
) -> None:
    args = ("-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "1,maxcpus=4")
    peer = peers("vmd", *args, target="aarch64")
    async with qmp_client(peer.socket) as qmp:
        assert await get(qmp, 3, "type") == "arm-thread-cpu-package"
        ids = ("socket-id", "cluster-id", "core-id", "thread-id", "node-id", "cpu-indexes", "hotpluggable")
        assert [await get(qmp, 3, p) for p in ids] == [0, 0, 3, 0, -1, [3], True]
        assert await get(qmp, 0, "hotpluggable") is False
        assert await set_present(qmp, 3, True) == {}
        assert await present_slots(qmp) == {0, 3}
        assert await get(qmp, 3, "qom-path") == "/machine/peripheral-anon/device[0]"
