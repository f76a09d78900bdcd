"""An unplug under way when something else happens: a reset, a disconnecting client, queries.

Whatever lands in the middle of a guest's eject, the model stays whole: every device_del of a
cooperating guest still ends in DEVICE_DELETED, the views agree, and the slot can be used again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from qemu.qmp import QMPClient
from qemu.qmp.events import EventListener

from tests.peers import TIMEOUT, Peer, RawQmp, qmp_client
from tests.qmp.test_cpu_hotplug import guest_cpus, slot, until_online, until_threads, vcpu_threads
from tests.replies import as_event


async def until_deleted(listener: EventListener, path: str) -> list[str]:
    """The events up to DEVICE_DELETED of the CPU at `path` itself (not its lapic)."""
    seen: list[str] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            event = as_event(await listener.get())
            seen.append(event["event"])
            if event["event"] == "DEVICE_DELETED" and event["data"].get("device") == path.rsplit("/", 1)[1]:
                return seen


async def views(qmp: QMPClient) -> tuple[set[int], set[int], str]:
    """(cpu-indexes of query-cpus-fast, slots with a CPU in query-hotpluggable-cpus, guest present)."""
    cpus = await qmp.execute("query-cpus-fast")
    slots = await qmp.execute("query-hotpluggable-cpus")
    assert isinstance(cpus, list)
    assert isinstance(slots, list)
    plugged = {len(slots) - 1 - i for i, s in enumerate(slots) if "qom-path" in s}
    return {c["cpu-index"] for c in cpus}, plugged, (await guest_cpus(qmp))["present"]


async def test_a_reset_in_the_middle_of_an_eject_leaves_the_model_whole(
    peers: Callable[..., Peer],
) -> None:
    """device_del of an online CPU, then system_reset a few 100 us later, at different points of
    the guest's work: the unplug still completes (the rebooted guest answers a request it had not
    finished), nothing answers with an internal error, and the slot plugs again."""
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4")
    async with qmp_client(peer.socket) as qmp:
        with qmp.listener() as listener:
            for cycle in range(40):
                await qmp.execute("device_add", {**slot(1), "id": "c1"})
                await until_online(qmp, "0-1")
                await qmp.execute("device_del", {"id": "c1"})
                await asyncio.sleep(cycle % 8 * 0.0003)
                await qmp.execute("system_reset")
                assert "DEVICE_DELETED" in await until_deleted(listener, "/machine/peripheral/c1")
                await until_threads(peer, ["vcpu0"])
                assert await views(qmp) == ({0}, {0}, "0")
        # The VM is still usable: stop, cont, reset and a plug all work.
        await qmp.execute("stop")
        await qmp.execute("cont")
        await qmp.execute("system_reset")
        await qmp.execute("device_add", {**slot(1), "id": "c1"})
        await until_online(qmp, "0-1")
        assert vcpu_threads(peer) == ["vcpu0", "vcpu1"]


async def test_a_client_that_leaves_mid_unplug_changes_nothing(peers: Callable[..., Peer]) -> None:
    """Another client asks for the unplug and a reset in one write and disconnects at once."""
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4")
    async with qmp_client(peer.socket) as qmp:
        with qmp.listener() as listener:
            for cycle in range(10):
                await qmp.execute("device_add", {**slot(2), "id": "c2"})
                await until_online(qmp, "0,2")
                raw = await RawQmp.connect(peer.socket, negotiate=True)
                await raw.send(
                    json.dumps({"execute": "device_del", "arguments": {"id": "c2"}})
                    + ('{"execute": "system_reset"}' if cycle % 2 else "")
                )
                await raw.close()
                await until_deleted(listener, "/machine/peripheral/c2")
                await until_threads(peer, ["vcpu0"])
                assert await views(qmp) == ({0}, {0}, "0")


async def test_queries_during_unplugs_describe_one_state(peers: Callable[..., Peer]) -> None:
    """Two pollers send query-cpus-fast and query-hotpluggable-cpus in one write while CPUs come
    and go: each pair answers without error and lists the same CPUs."""
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4")
    stop = asyncio.Event()
    answers = 0

    async def poll() -> None:
        nonlocal answers
        raw = await RawQmp.connect(peer.socket, negotiate=True)
        try:
            while not stop.is_set():
                await raw.send(
                    '{"execute": "query-cpus-fast", "id": 1}{"execute": "query-hotpluggable-cpus", "id": 2}'
                )
                first, _ = await raw.recv_reply()
                second, _ = await raw.recv_reply()
                assert "return" in first, first
                assert "return" in second, second
                listed = {c["cpu-index"] for c in first["return"]}
                slots: list[dict[str, Any]] = second["return"]
                plugged = {len(slots) - 1 - i for i, s in enumerate(slots) if "qom-path" in s}
                assert set(listed) == plugged, (first, second)
                answers += 1
        finally:
            await raw.close()

    pollers = [asyncio.create_task(poll()) for _ in range(2)]
    try:
        async with qmp_client(peer.socket) as qmp:
            with qmp.listener() as listener:
                for cycle in range(60):
                    await qmp.execute("device_add", {**slot(1 + cycle % 3), "id": "c"})
                    await until_online(qmp, f"0,{1 + cycle % 3}" if cycle % 3 else "0-1")
                    await qmp.execute("device_del", {"id": "c"})
                    await until_deleted(listener, "/machine/peripheral/c")
                    for task in pollers:
                        if task.done():
                            task.result()  # a failed poller fails the test now
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*pollers), TIMEOUT)
    assert answers > 0
