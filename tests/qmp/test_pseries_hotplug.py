"""pseries core hotplug end to end over QMP: cores of 4 threads (QEMU >= 8.1's TCG rules), the
guest's PAPR driver taking each hot-added core through its DR connector and bringing every thread
online, and the unplug state machine under each guest policy: accept (every thread offline, the
connector isolated and released, DEVICE_DELETED for each child then the core), refuse
(DEVICE_UNPLUG_GUEST_ERROR, nothing changes), ignore (pending: a second device_del re-sends it,
a reset completes it), a core no guest took (released at once), the boot core (refused)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.peers import REPO, TIMEOUT, Peer, qmp_client, vmd_command

CORE = "power9_v2.0-spapr-cpu-core"
SMP = "4,maxcpus=16,threads=4"  # 4 slots of 4 threads: core-ids 0, 4, 8, 12


def pseries(peers: Callable[..., Peer], *args: str) -> Peer:
    return peers("vmd", "-M", "pseries", *args, target="ppc64")


async def guest(qmp: QMPClient) -> dict[str, str]:
    view = await qmp.execute("__com.vmd_query-guest-cpus")
    assert isinstance(view, dict)
    return {key: view[key] for key in ("present", "configured", "online")}


async def until(probe: Callable[[], Any], expected: Any) -> None:
    """Poll (bounded): the guest acts on its own time, with no event."""
    async with asyncio.timeout(TIMEOUT):
        while await probe() != expected:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def refused(qmp: QMPClient, command: str, arguments: dict[str, Any]) -> str:
    with pytest.raises(ExecuteError) as caught:
        await qmp.execute(command, arguments)
    return str(caught.value.error.error.desc)


async def next_event(listener: EventListener) -> tuple[str, Any]:
    event = await asyncio.wait_for(listener.get(), TIMEOUT)
    return event["event"], event.get("data")


def deleted(path: str, device: str | None, threads: int = 4) -> list[tuple[str, Any]]:
    """DEVICE_DELETED of a POWER9 core in ic-mode dual: per thread icp, xive-tctx, the thread;
    then the core."""
    events: list[tuple[str, Any]] = []
    for thread in range(threads):
        base = f"{path}/thread[{thread}]"
        events += [
            ("DEVICE_DELETED", {"path": f"{base}/icp"}),
            ("DEVICE_DELETED", {"path": f"{base}/xive-tctx"}),
        ]
        events.append(("DEVICE_DELETED", {"path": base}))
    core: dict[str, Any] = {"path": path} if device is None else {"device": device, "path": path}
    return [*events, ("DEVICE_DELETED", core)]


async def test_a_hot_added_core_is_configured_and_every_thread_brought_online(
    peers: Callable[..., Peer],
) -> None:
    peer = pseries(peers, "-smp", SMP)
    async with qmp_client(peer.socket) as qmp:
        await until(lambda: guest(qmp), {"present": "0-3", "configured": "0-3", "online": "0-3"})
        assert await qmp.execute("device_add", {"driver": CORE, "id": "core8", "core-id": 8}) == {}
        await until(
            lambda: guest(qmp), {"present": "0-3,8-11", "configured": "0-3,8-11", "online": "0-3,8-11"}
        )
        slots = await qmp.execute("query-hotpluggable-cpus")
        assert isinstance(slots, list)
        assert slots[1] == {
            "type": CORE, "vcpus-count": 4, "props": {"node-id": 0, "core-id": 8},
            "qom-path": "/machine/peripheral/core8",
        }  # fmt: skip
        cpus = await qmp.execute("query-cpus-fast")
        assert isinstance(cpus, list)
        assert [(c["cpu-index"], c["qom-path"], c["props"]) for c in cpus[4:]] == [
            (8 + t, f"/machine/peripheral/core8/thread[{t}]", {"node-id": 0, "core-id": 8}) for t in range(4)
        ]
        drc = "/machine/dr-connector[268435464]"  # 0x10000000 + slot 2 x vsmt 4
        assert (
            await qmp.execute("qom-get", {"path": drc, "property": "device"}) == "/machine/peripheral/core8"
        )
        assert await qmp.execute("qom-get", {"path": drc, "property": "fdt"}) is not None


async def test_without_auto_online_the_threads_stay_offline(peers: Callable[..., Peer]) -> None:
    peer = pseries(peers, "-smp", SMP, "-vmd-guest", "auto-online=off")
    async with qmp_client(peer.socket) as qmp:
        await until(lambda: guest(qmp), {"present": "0-3", "configured": "0-3", "online": "0-3"})
        await qmp.execute("device_add", {"driver": CORE, "core-id": 4})
        await until(lambda: guest(qmp), {"present": "0-7", "configured": "0-7", "online": "0-3"})
        await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 5, "online": True})
        await until(lambda: guest(qmp), {"present": "0-7", "configured": "0-7", "online": "0-3,5"})


async def test_accepted_unplug_offlines_every_thread_then_releases_the_core(
    peers: Callable[..., Peer],
) -> None:
    peer = pseries(peers, "-smp", SMP)
    async with qmp_client(peer.socket) as qmp:
        await until(lambda: guest(qmp), {"present": "0-3", "configured": "0-3", "online": "0-3"})
        for _ in range(3):  # re-plug works indefinitely (QEMU 7.2's TCG runs out of vCPU threads)
            await qmp.execute("device_add", {"driver": CORE, "id": "c", "core-id": 12})
            await until(
                lambda: guest(qmp), {"present": "0-3,12-15", "configured": "0-3,12-15", "online": "0-3,12-15"}
            )
            listener = EventListener("DEVICE_DELETED")
            with qmp.listen(listener):
                assert await qmp.execute("device_del", {"id": "c"}) == {}
                events = [await next_event(listener) for _ in range(13)]
            assert events == deleted("/machine/peripheral/c", "c")
            assert await guest(qmp) == {"present": "0-3", "configured": "0-3", "online": "0-3"}
            assert await refused(qmp, "device_del", {"id": "c"}) == "Device 'c' not found"
        slots = await qmp.execute("query-hotpluggable-cpus")
        assert isinstance(slots, list)
        assert "qom-path" not in slots[0]
        await qmp.execute("system_reset")  # a reset after a removal just resets (QEMU 7.2 crashes)
        await until(lambda: guest(qmp), {"present": "0-3", "configured": "0-3", "online": "0-3"})


async def test_a_refusing_guest_cancels_the_unplug(peers: Callable[..., Peer]) -> None:
    peer = pseries(peers, "-smp", SMP, "-vmd-guest", "unplug=refuse")
    async with qmp_client(peer.socket) as qmp:
        await qmp.execute("device_add", {"driver": CORE, "id": "c", "core-id": 4})
        await until(lambda: guest(qmp), {"present": "0-7", "configured": "0-7", "online": "0-7"})
        listener = EventListener()
        with qmp.listen(listener):
            assert await qmp.execute("device_del", {"id": "c"}) == {}
            assert await next_event(listener) == (
                "DEVICE_UNPLUG_GUEST_ERROR", {"device": "c", "path": "/machine/peripheral/c"}
            )  # fmt: skip
        assert await guest(qmp) == {"present": "0-7", "configured": "0-7", "online": "0-7"}
        slots = await qmp.execute("query-hotpluggable-cpus")
        assert isinstance(slots, list)
        assert slots[2]["qom-path"] == "/machine/peripheral/c"


async def test_an_ignoring_guest_leaves_the_unplug_pending_until_a_reset(peers: Callable[..., Peer]) -> None:
    peer = pseries(peers, "-smp", SMP, "-vmd-guest", "unplug=ignore")
    async with qmp_client(peer.socket) as qmp:
        await qmp.execute("device_add", {"driver": CORE, "id": "c", "core-id": 4})
        await until(lambda: guest(qmp), {"present": "0-7", "configured": "0-7", "online": "0-7"})
        listener = EventListener()
        with qmp.listen(listener):
            assert await qmp.execute("device_del", {"id": "c"}) == {}
            assert await qmp.execute("device_del", {"id": "/machine/peripheral/c"}) == {}  # re-sent
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(listener.get(), 0.3)
            message = await refused(qmp, "device_add", {"driver": CORE, "core-id": 4})
            assert message == "core 4 already populated"
            assert await guest(qmp) == {"present": "0-7", "configured": "0-7", "online": "0-7"}
            assert await qmp.execute("system_reset") == {}
            events = [await next_event(listener) for _ in range(14)]
        assert events[:13] == deleted("/machine/peripheral/c", "c")
        assert events[13] == ("RESET", {"guest": False, "reason": "host-qmp-system-reset"})
        await until(lambda: guest(qmp), {"present": "0-3", "configured": "0-3", "online": "0-3"})
        assert await qmp.execute("device_add", {"driver": CORE, "core-id": 4}) == {}


async def test_a_core_no_guest_took_is_released_at_once(peers: Callable[..., Peer]) -> None:
    """Before the guest boots, a hot-added core's connector is not configured: device_del
    releases it with its events before the reply.  A core added before boot is taken at boot."""
    peer = pseries(peers, "-S", "-smp", SMP)
    async with qmp_client(peer.socket) as qmp:
        listener = EventListener()
        with qmp.listen(listener):
            await qmp.execute("device_add", {"driver": CORE, "core-id": 4})
            assert await qmp.execute("device_del", {"id": "/machine/peripheral-anon/device[0]"}) == {}
            events = listener.clear()  # all there when the reply came
        assert [(e["event"], e.get("data")) for e in events] == deleted(
            "/machine/peripheral-anon/device[0]", None
        )
        assert await refused(qmp, "device_del", {"id": "/machine/unattached/device[1]"}) == (
            "Boot CPU core may not be unplugged"
        )
        await qmp.execute("device_add", {"driver": CORE, "id": "early", "core-id": 8})
        await qmp.execute("cont")
        await until(
            lambda: guest(qmp), {"present": "0-3,8-11", "configured": "0-3,8-11", "online": "0-3,8-11"}
        )
        drc = "/machine/dr-connector[268435464]"
        assert await qmp.execute("qom-get", {"path": drc, "property": "fdt"}) is not None


async def test_smp_rules_of_qemu_8_1(peers: Callable[..., Peer]) -> None:
    """Threads per core as QEMU >= 8.1's TCG has them; vsmt follows the threads on 7.2."""
    peer = pseries(peers, "-S", "-smp", "8,maxcpus=32,threads=8")
    async with qmp_client(peer.socket) as qmp:
        assert await qmp.execute("qom-get", {"path": "/machine", "property": "vsmt"}) == 8
        message = await refused(qmp, "device_add", {"driver": CORE, "core-id": 4})
        assert message == "invalid core id 4"
        message = await refused(qmp, "device_add", {"driver": CORE, "core-id": 8, "nr-threads": 4})
        assert message == "invalid nr-threads 4, must be 8"
        message = await refused(qmp, "device_add", {"driver": CORE, "core-id": 32})
        assert message == "core id 32 out of range"
        assert await qmp.execute("device_add", {"driver": CORE, "core-id": 24}) == {}
        cpus = await qmp.execute("query-cpus-fast")
        assert isinstance(cpus, list)
        assert [c["cpu-index"] for c in cpus] == [*range(8), *range(24, 32)]


async def test_none_of_qemu_7_2s_unplug_crashes(peers: Callable[..., Peer]) -> None:
    """device_del of a thread, a presenter or a DRC is refused (7.2 aborts); a del right after
    the add always ends in the core's DEVICE_DELETED (7.2 corrupts its heap now and then)."""
    peer = pseries(peers, "-smp", SMP)
    async with qmp_client(peer.socket) as qmp:
        await until(lambda: guest(qmp), {"present": "0-3", "configured": "0-3", "online": "0-3"})
        await qmp.execute("device_add", {"driver": CORE, "id": "c", "core-id": 4})
        for name, kind in (
            ("c/thread[0]", "power9_v2.0-powerpc64-cpu"),
            ("/machine/peripheral/c/thread[1]", "power9_v2.0-powerpc64-cpu"),
            ("/machine/peripheral/c/thread[0]/icp", "icp"),
            ("/machine/dr-connector[268435460]", "spapr-drc-cpu"),
            ("/dr-connector/10000004", "spapr-drc-cpu"),
        ):
            assert (
                await refused(qmp, "device_del", {"id": name})
                == f"Device '{kind}' does not support hotplugging"
            )
        for round_ in range(5):
            listener = EventListener("DEVICE_DELETED")
            with qmp.listen(listener):
                await qmp.execute("device_add", {"driver": CORE, "id": f"quick{round_}", "core-id": 12})
                await qmp.execute("device_del", {"id": f"quick{round_}"})
                while (await next_event(listener))[1].get("device") != f"quick{round_}":
                    pass
        await until(lambda: guest(qmp), {"present": "0-7", "configured": "0-7", "online": "0-7"})
        assert await qmp.execute("device_del", {"id": "c"}) == {}


async def test_16384_threads_with_x_vmd_max_cpus_list_plug_online_and_unplug(
    peers: Callable[..., Peer],
) -> None:
    """Past QEMU 7.2's 4096: 2048 cores of 8 threads; the top core is plugged, its threads come
    online in the guest, and it is deleted again."""
    peer = peers(
        "vmd", "-M", "pseries,x-vmd-max-cpus=16384", "-smp", "8,maxcpus=16384,threads=8", target="ppc64"
    )
    async with qmp_client(peer.socket) as qmp:
        await until(lambda: guest(qmp), {"present": "0-7", "configured": "0-7", "online": "0-7"})
        slots = await qmp.execute("query-hotpluggable-cpus")
        assert isinstance(slots, list)
        assert len(slots) == 2048
        assert slots[0] == {"type": CORE, "vcpus-count": 8, "props": {"node-id": 0, "core-id": 16376}}
        listener = EventListener()
        with qmp.listen(listener):
            assert await qmp.execute("device_add", {"driver": CORE, "id": "top", "core-id": 16376}) == {}
            await until(
                lambda: guest(qmp),
                {"present": "0-7,16376-16383", "configured": "0-7,16376-16383", "online": "0-7,16376-16383"},
            )
            cpus = await qmp.execute("query-cpus-fast")
            assert isinstance(cpus, list)
            assert [cpu["cpu-index"] for cpu in cpus][-8:] == list(range(16376, 16384))
            assert await qmp.execute("device_del", {"id": "top"}) == {}
            async with asyncio.timeout(TIMEOUT):
                while (await next_event(listener)) != (
                    "DEVICE_DELETED",
                    {"device": "top", "path": "/machine/peripheral/top"},
                ):
                    pass
        await until(lambda: guest(qmp), {"present": "0-7", "configured": "0-7", "online": "0-7"})


def test_more_than_16384_vcpus_is_refused() -> None:
    """One more thread than the firmware has: vmd's own property refuses it at start-up."""
    command = [
        *vmd_command("ppc64"),
        "-M",
        "pseries,x-vmd-max-cpus=16385",
        "-smp",
        "1",
        "-S",
        "-display",
        "none",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "x-vmd-max-cpus=16385: expected a number of vCPUs from 1 to 16384" in done.stderr
