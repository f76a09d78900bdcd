"""s390x CPU hotplug end to end over QMP: add only, announced by the SCLP; the guest finds the CPU
in standby and its policy decides whether to configure it and bring it online; cpu-state follows
what the guest did; device_del of a CPU is always refused and changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.peers import TIMEOUT, Peer, qmp_client

CPU = "qemu-s390x-cpu"
UNPLUG_REFUSED = "CPU hot unplug not supported on this machine"


def s390x(peers: Callable[..., Peer], *args: str) -> Peer:
    return peers("vmd", "-M", "s390-ccw-virtio", *args, target="s390x")


async def guest(qmp: QMPClient) -> dict[str, str]:
    view = await qmp.execute("__com.vmd_query-guest-cpus")
    assert isinstance(view, dict)
    return {key: view[key] for key in ("present", "configured", "online")}


async def states(qmp: QMPClient) -> dict[int, str]:
    cpus = await qmp.execute("query-cpus-fast")
    assert isinstance(cpus, list)
    return {cpu["cpu-index"]: cpu["cpu-state"] for cpu in cpus}


async def until(probe: Callable[[], Any], expected: Any) -> None:
    """Poll (bounded): the guest acts on its own time, with no event."""
    async with asyncio.timeout(TIMEOUT):
        while await probe() != expected:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def refused(qmp: QMPClient, command: str, arguments: dict[str, Any]) -> str:
    with pytest.raises(ExecuteError) as caught:
        await qmp.execute(command, arguments)
    return str(caught.value.error.error.desc)


async def test_a_hot_added_cpu_is_configured_and_brought_online_by_the_guest(
    peers: Callable[..., Peer],
) -> None:
    peer = s390x(peers, "-smp", "1,maxcpus=4")
    async with qmp_client(peer.socket) as qmp:
        await until(lambda: guest(qmp), {"present": "0", "configured": "0", "online": "0"})
        assert await qmp.execute("device_add", {"driver": CPU, "id": "cpu2", "core-id": 2}) == {}
        await until(lambda: guest(qmp), {"present": "0,2", "configured": "0,2", "online": "0,2"})
        await until(lambda: states(qmp), {0: "operating", 2: "operating"})
        slots = await qmp.execute("query-hotpluggable-cpus")
        assert isinstance(slots, list)
        assert slots[1] == {
            "type": CPU, "vcpus-count": 1, "props": {"core-id": 2}, "qom-path": "/machine/peripheral/cpu2",
        }  # fmt: skip
        stats = await qmp.execute("query-stats", {"target": "vm"})
        assert isinstance(stats, list)


async def test_without_auto_online_the_cpu_stays_in_standby_until_the_guest_configures_it(
    peers: Callable[..., Peer],
) -> None:
    peer = s390x(peers, "-smp", "1,maxcpus=4", "-vmd-guest", "auto-online=off")
    async with qmp_client(peer.socket) as qmp:
        await qmp.execute("device_add", {"driver": CPU, "core-id": 1})
        await until(lambda: guest(qmp), {"present": "0-1", "configured": "0", "online": "0"})
        assert await states(qmp) == {0: "operating", 1: "stopped"}
        online = {"cpu-index": 1, "online": True}
        message = await refused(qmp, "__com.vmd_guest-set-cpu-online", online)
        assert message == "CPU 1 is in standby (deconfigured): configure it first"
        await qmp.execute("__com.vmd_guest-set-cpu-configured", {"cpu-index": 1, "configured": True})
        assert await guest(qmp) == {"present": "0-1", "configured": "0-1", "online": "0"}
        assert await states(qmp) == {0: "operating", 1: "stopped"}
        await qmp.execute("__com.vmd_guest-set-cpu-online", online)
        await until(lambda: states(qmp), {0: "operating", 1: "operating"})
        deconfigure = {"cpu-index": 1, "configured": False}
        message = await refused(qmp, "__com.vmd_guest-set-cpu-configured", deconfigure)
        assert message == "CPU 1 is online: take it offline first"
        await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": False})
        await until(lambda: states(qmp), {0: "operating", 1: "stopped"})
        await qmp.execute("__com.vmd_guest-set-cpu-configured", deconfigure)
        assert await guest(qmp) == {"present": "0-1", "configured": "0", "online": "0"}


async def test_device_del_of_any_cpu_is_refused_and_changes_nothing(peers: Callable[..., Peer]) -> None:
    peer = s390x(peers, "-smp", "2,maxcpus=4")
    async with qmp_client(peer.socket) as qmp:
        listener = EventListener()
        with qmp.listen(listener):
            await qmp.execute("device_add", {"driver": CPU, "id": "hot", "core-id": 3})
            await qmp.execute("device_add", {"driver": CPU, "core-id": 2})
            await until(lambda: guest(qmp), {"present": "0-3", "configured": "0-3", "online": "0-3"})
            before = await qmp.execute("query-cpus-fast")
            for name in (
                "hot", "/machine/peripheral/hot", "/machine/peripheral-anon/device[0]",
                "/machine/unattached/device[0]", "/machine/unattached/device[1]", "hot",
            ):  # fmt: skip
                assert await refused(qmp, "device_del", {"id": name}) == UNPLUG_REFUSED
            assert await qmp.execute("query-cpus-fast") == before
            assert await guest(qmp) == {"present": "0-3", "configured": "0-3", "online": "0-3"}
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(listener.get(), 0.3)  # no event at all: no DEVICE_DELETED


async def test_cpu_state_before_boot_and_after_a_reset(peers: Callable[..., Peer]) -> None:
    """The IPL CPU operates from the start; the others only once the guest started them; a reset
    stops every CPU but the IPL CPU until the rebooted guest starts them again."""
    peer = s390x(peers, "-S", "-smp", "2,maxcpus=4", "-device", f"{CPU},core-id=3")
    async with qmp_client(peer.socket) as qmp:
        await qmp.execute("device_add", {"driver": CPU, "core-id": 2})
        assert await states(qmp) == {0: "operating", 1: "stopped", 3: "stopped", 2: "stopped"}
        await qmp.execute("cont")
        # Boot CPUs and -device CPUs come up configured; the one added before boot in standby,
        # then configured and onlined by the policy.
        await until(lambda: guest(qmp), {"present": "0-3", "configured": "0-3", "online": "0-3"})
        await until(lambda: states(qmp), dict.fromkeys((0, 1, 3, 2), "operating"))
        await qmp.execute("stop")
        await qmp.execute("system_reset")
        assert await states(qmp) == {0: "operating", 1: "stopped", 3: "stopped", 2: "stopped"}
        await qmp.execute("cont")
        await until(lambda: states(qmp), dict.fromkeys((0, 1, 3, 2), "operating"))


async def test_a_paused_guest_answers_the_sclp_event_after_cont(peers: Callable[..., Peer]) -> None:
    peer = s390x(peers, "-smp", "1,maxcpus=2")
    async with qmp_client(peer.socket) as qmp:
        await until(lambda: guest(qmp), {"present": "0", "configured": "0", "online": "0"})
        await qmp.execute("stop")
        await qmp.execute("device_add", {"driver": CPU, "core-id": 1})
        await asyncio.sleep(0.2)
        assert await guest(qmp) == {"present": "0", "configured": "0", "online": "0"}
        assert await states(qmp) == {0: "operating", 1: "stopped"}
        await qmp.execute("cont")
        await until(lambda: guest(qmp), {"present": "0-1", "configured": "0-1", "online": "0-1"})


async def test_the_guest_view_has_configured_only_on_s390x(peers: Callable[..., Peer]) -> None:
    """x86 CPUs are configured while present: the member is s390x's alone (its schema has it)."""
    async with qmp_client(peers("vmd", "-S").socket) as qmp:
        view = await qmp.execute("__com.vmd_query-guest-cpus")
        assert isinstance(view, dict)
        assert "configured" not in view
        commands = await qmp.execute("query-commands")
        assert isinstance(commands, list)
        assert "__com.vmd_guest-set-cpu-configured" not in {c["name"] for c in commands}
