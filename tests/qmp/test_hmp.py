"""human-monitor-command where QEMU 7.2 cannot show the behaviour (it has no guest OS here):
HMP's device_add and device_del raise exactly the events of the QMP commands, with a guest that
takes and ejects CPUs, and `info status` and `cont` in the states only a guest reaches.
(tests/integration/test_hmp_vs_qemu.py compares everything QEMU can show.)"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient

from tests.peers import TIMEOUT, Peer, qmp_client
from tests.qmp.test_cpu_hotplug import deleted, events, no_event, ost, slot, until_online, until_threads
from tests.qmp.test_vcpus import faulting_image

CPU = "qemu64-x86_64-cpu"


async def hmp(qmp: QMPClient, line: str, cpu_index: int | None = None) -> str:
    arguments: dict[str, Any] = {"command-line": line}
    if cpu_index is not None:
        arguments["cpu-index"] = cpu_index
    output = await qmp.execute("human-monitor-command", arguments)
    assert isinstance(output, str)
    return re.sub(r"thread_id=\d+", "thread_id=N", output)


async def test_hmp_hotplug_raises_the_events_of_qmp(peers: Callable[..., Peer]) -> None:
    """Slot 1 over QMP, slot 2 over HMP: the same events, the guest onlines and ejects both."""
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4")
    async with qmp_client(peer.socket) as qmp:
        with qmp.listener() as listener:
            assert await qmp.execute("device_add", {**slot(1), "id": "q1"}) == {}
            assert await events(listener, 1) == [ost(1, 0, 1, "q1")]
            await until_online(qmp, "0-1")
            line = f"device_add {CPU},id=h2,socket-id=0,core-id=2,thread-id=0"
            assert await hmp(qmp, line) == ""
            assert await events(listener, 1) == [ost(1, 0, 2, "h2")]
            await until_online(qmp, "0-2")
            assert await hmp(qmp, line) == "Error: Duplicate device ID 'h2'\r\n"
            assert await hmp(qmp, "info cpus") == (
                "* CPU #0: thread_id=N\r\n  CPU #1: thread_id=N\r\n  CPU #2: thread_id=N\r\n"
            )
            assert await hmp(qmp, "info cpus", cpu_index=2) == (
                "  CPU #0: thread_id=N\r\n  CPU #1: thread_id=N\r\n* CPU #2: thread_id=N\r\n"
            )

            assert await qmp.execute("device_del", {"id": "q1"}) == {}
            assert await events(listener, 4) == [
                ost(3, 0x84, 1, "q1"),
                *deleted("/machine/peripheral/q1", "q1"),
                ost(3, 0, 1),
            ]
            assert await hmp(qmp, "device_del h2") == ""
            assert await events(listener, 4) == [
                ost(3, 0x84, 2, "h2"),
                *deleted("/machine/peripheral/h2", "h2"),
                ost(3, 0, 2),
            ]
            assert await hmp(qmp, "device_del h2") == "Error: Device 'h2' not found\r\n"
            await no_event(listener)
        await until_threads(peer, ["vcpu0"])
        assert await hmp(qmp, "info cpus") == "* CPU #0: thread_id=N\r\n"
        listing = await hmp(qmp, "info hotpluggable-cpus")
        assert listing.count("qom_path") == 1


async def test_hmp_unplug_refused_by_the_guest_raises_the_events_of_qmp(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", "unplug=refuse")
    async with qmp_client(peer.socket) as qmp:
        with qmp.listener() as listener:
            assert await hmp(qmp, f"device_add {CPU},id=c1,socket-id=0,core-id=1,thread-id=0") == ""
            assert await events(listener, 1) == [ost(1, 0, 1, "c1")]
            assert await hmp(qmp, "device_del c1") == ""
            assert await events(listener, 2) == [
                ost(3, 0x82, 1, "c1"),
                {
                    "event": "DEVICE_UNPLUG_GUEST_ERROR",
                    "data": {"device": "c1", "path": "/machine/peripheral/c1"},
                },
            ]
        assert "/machine/peripheral/c1" in await hmp(qmp, "info hotpluggable-cpus")


async def test_info_status_and_cont_after_a_guest_shutdown(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-no-shutdown")
    async with qmp_client(peer.socket) as qmp:
        assert await hmp(qmp, "info status") == "VM status: running\r\n"
        with qmp.listener() as listener:
            await qmp.execute("system_powerdown")
            async with asyncio.timeout(TIMEOUT):
                while (await listener.get())["event"] != "STOP":
                    pass
        assert await hmp(qmp, "info status") == "VM status: paused (shutdown)\r\n"
        assert await hmp(qmp, "c") == "Error: Resetting the Virtual Machine is required\r\n"
        await qmp.execute("system_reset")
        assert await hmp(qmp, "info status") == "VM status: paused (prelaunch)\r\n"


async def test_info_status_after_a_guest_fault(peers: Callable[..., Peer], workdir: Path) -> None:
    peer = peers("vmd", "-S", "-bios", str(faulting_image(workdir)))
    async with qmp_client(peer.socket) as qmp:
        with qmp.listener() as listener:
            assert await hmp(qmp, "cont") == ""
            assert [(await asyncio.wait_for(listener.get(), TIMEOUT))["event"] for _ in range(2)] == [
                "RESUME",
                "STOP",
            ]
        assert await hmp(qmp, "info status") == "VM status: paused (internal-error)\r\n"
        assert await hmp(qmp, "cont") == "Error: Resetting the Virtual Machine is required\r\n"
