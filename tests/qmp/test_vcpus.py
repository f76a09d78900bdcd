"""The daemon's vCPUs are real threads running the firmware: run control, serial output,
faults, and their counters over query-stats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient

from tests.peers import TIMEOUT, Peer, qmp_client
from tests.replies import as_dict, as_list
from vmd.firmware import standard as fw
from vmd.firmware.asm import assemble

OWN = "__com.vmd_engine"


async def vcpu_stats(qmp: QMPClient) -> dict[str, dict[str, Any]]:
    """qom-path -> {stat name: value} for every vCPU."""
    results = await qmp.execute("query-stats", {"target": "vcpu"})
    assert isinstance(results, list)
    return {r["qom-path"]: {s["name"]: s["value"] for s in r["stats"]} for r in results}


async def instructions(qmp: QMPClient) -> dict[str, int]:
    return {path: stats["instructions"] for path, stats in (await vcpu_stats(qmp)).items()}


async def until(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> None:
    """Poll an async predicate (bounded): for guest progress, which has no event."""
    async with asyncio.timeout(timeout):
        while not await predicate():  # noqa: ASYNC110 - guest RAM changes raise no event to wait on
            await asyncio.sleep(0.01)


def vcpu_threads(peer: Peer) -> list[str]:
    return [name for name in peer.thread_names() if name.startswith("vcpu")]


async def test_boot_vcpus_are_named_threads_that_run_only_after_cont(peers: Callable[..., Peer]) -> None:
    vmd = peers("vmd", "-S", "-smp", "3", "-vmd-guest", "load=busy")
    assert vcpu_threads(vmd) == ["vcpu0", "vcpu1", "vcpu2"]
    paths = [
        "/machine/unattached/device[0]",
        "/machine/unattached/device[2]",
        "/machine/unattached/device[3]",
    ]
    async with qmp_client(vmd.socket) as qmp:
        assert await instructions(qmp) == dict.fromkeys(paths, 0)  # prelaunch: nothing ran
        await qmp.execute("cont")

        async def all_ran() -> bool:
            return all(count > 0 for count in (await instructions(qmp)).values())

        await until(all_ran, "every boot vCPU to run")
        await qmp.execute("stop")
        frozen = await instructions(qmp)
        await asyncio.sleep(0.05)
        assert await instructions(qmp) == frozen, "guest code ran after stop returned"
        await qmp.execute("cont")

        async def moved_on() -> bool:
            now = await instructions(qmp)
            return all(now[path] > frozen[path] for path in paths)

        await until(moved_on, "every vCPU to resume")


async def test_firmware_prints_its_banner_on_the_serial_file(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    out = workdir / "serial.log"
    vmd = peers("vmd", "-S", "-serial", f"file:{out}")
    assert out.read_bytes() == b""
    async with qmp_client(vmd.socket) as qmp:
        await qmp.execute("cont")

        async def printed() -> bool:
            return out.read_bytes() == fw.BANNER

        await until(printed, "the banner")


def faulting_image(workdir: Path) -> Path:
    program = assemble(
        """
        entry:
                li      r1, 0x7ffffff8
                ld64    r2, [r1]            ; far outside guest RAM
        """,
        base=fw.FIRMWARE_BASE,
    )
    path = workdir / "fault.bin"
    path.write_bytes(program.image)
    return path


async def test_a_guest_fault_stops_the_vm_in_internal_error_until_reset(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    vmd = peers("vmd", "-S", "-bios", str(faulting_image(workdir)))
    async with qmp_client(vmd.socket) as qmp:
        with qmp.listener() as listener:
            await qmp.execute("cont")
            assert (await asyncio.wait_for(listener.get(), TIMEOUT))["event"] == "RESUME"
            assert (await asyncio.wait_for(listener.get(), TIMEOUT))["event"] == "STOP"
        assert await qmp.execute("query-status") == {
            "running": False,
            "singlestep": False,
            "status": "internal-error",
        }
        with pytest.raises(ExecuteError) as caught:
            await qmp.execute("cont")
        assert caught.value.error.error.desc == "Resetting the Virtual Machine is required"
        stats = (await vcpu_stats(qmp))["/machine/unattached/device[0]"]
        assert stats["fault_exits"] == 1
        assert stats["instructions"] == 1  # the li retired; the faulting load did not

        await qmp.execute("system_reset")
        assert as_dict(await qmp.execute("query-status"))["status"] == "prelaunch"
        with qmp.listener() as listener:
            await qmp.execute("cont")  # the reset guest runs, and faults again
            assert (await asyncio.wait_for(listener.get(), TIMEOUT))["event"] == "RESUME"
            assert (await asyncio.wait_for(listener.get(), TIMEOUT))["event"] == "STOP"
        assert (await vcpu_stats(qmp))["/machine/unattached/device[0]"]["fault_exits"] == 2
    text = vmd.log.read_text()
    assert "mem out of range at pc 0x1008 (address 0x7ffffff8)" in text
    assert "internal-error" in text


async def test_stats_schemas_describe_every_reported_stat(vmd: Peer) -> None:
    async with qmp_client(vmd.socket) as qmp:
        schemas = await qmp.execute("query-stats-schemas")
        assert isinstance(schemas, list)
        assert [(s["provider"], s["target"]) for s in schemas] == [(OWN, "vcpu"), (OWN, "vm")]
        by_name = {v["name"]: v for s in schemas for v in s["stats"]}
        assert len(by_name) == sum(len(s["stats"]) for s in schemas), "names must be unique across targets"
        assert by_name["halt_wait_ns"] == {
            "name": "halt_wait_ns",
            "type": "cumulative",
            "unit": "seconds",
            "base": 10,
            "exponent": -9,
        }
        assert by_name["blocking"] == {
            "name": "blocking",
            "type": "instant",
            "unit": "boolean",
            "exponent": 0,
        }
        assert by_name["instructions"] == {"name": "instructions", "type": "cumulative", "exponent": 0}
        vcpu_names = [v["name"] for v in schemas[0]["stats"]]
        reported = await vcpu_stats(qmp)
        assert list(reported["/machine/unattached/device[0]"]) == vcpu_names
        assert await qmp.execute("query-stats-schemas", {"provider": "kvm"}) == []
        assert await qmp.execute("query-stats-schemas", {"provider": OWN}) == schemas


async def test_stats_filters_follow_qemu(peers: Callable[..., Peer]) -> None:
    vmd = peers("vmd", "-S", "-smp", "2", "-vmd-guest", "load=busy")
    cpu1 = "/machine/unattached/device[2]"
    async with qmp_client(vmd.socket) as qmp:
        vm = await qmp.execute("query-stats", {"target": "vm"})
        assert vm == [
            {
                "provider": OWN,
                "stats": [
                    {"name": "present_vcpus", "value": 2},
                    {"name": "parked_vcpus", "value": 0},
                    {"name": "hot_adds", "value": 0},
                    {"name": "unplugs", "value": 0},
                    {"name": "unplug_eject_ns", "value": 0},
                    {"name": "unplug_deleted_ns", "value": 0},
                    {"name": "guest_load_percent", "value": 100},
                ],
            }
        ]
        one = as_list(await qmp.execute("query-stats", {"target": "vcpu", "vcpus": [cpu1]}))
        assert [r["qom-path"] for r in one] == [cpu1]
        assert await qmp.execute("query-stats", {"target": "vcpu", "vcpus": [cpu1.upper()]}) == []
        assert await qmp.execute("query-stats", {"target": "vcpu", "vcpus": []}) == []
        named = await qmp.execute(
            "query-stats", {"target": "vcpu", "providers": [{"provider": OWN, "names": ["plugs", "nope"]}]}
        )
        assert named == [
            {"provider": OWN, "qom-path": path, "stats": [{"name": "plugs", "value": 1}]}
            for path in ("/machine/unattached/device[0]", cpu1)
        ]
        # Each request is answered on its own; an empty or unmatched name list selects nothing.
        providers = [{"provider": OWN, "names": ["parked_vcpus"]}, {"provider": OWN}]
        twice_request = {"target": "vm", "providers": providers}
        twice = as_list(await qmp.execute("query-stats", twice_request))
        assert [len(r["stats"]) for r in twice] == [1, 7]
        for names in ([], ["nope"]):
            request = {"target": "vcpu", "providers": [{"provider": OWN, "names": names}]}
            assert await qmp.execute("query-stats", request) == []
        assert await qmp.execute("query-stats", {"target": "vcpu", "providers": [{"provider": "kvm"}]}) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-bios", "/nonexistent/fw.bin"], "vmd: could not load PC BIOS '/nonexistent/fw.bin'"),
        (
            ["-serial", "file:/nonexistent/dir/x"],
            "vmd: Could not open '/nonexistent/dir/x': No such file or directory",
        ),
        (
            ["-serial", "msmouse"],
            "vmd: serial port 0 (chardev 'serial0'): vmd connects serial ports only to file, null, stdio, "
            "pty chardevs, not 'msmouse'",
        ),
    ],
)
def test_machine_set_up_errors_are_one_line(
    peers: Callable[..., Peer], args: list[str], message: str
) -> None:
    with pytest.raises(RuntimeError) as caught:
        peers("vmd", "-S", *args)
    assert str(caught.value).rstrip().splitlines()[-1] == message


async def test_counters_of_a_vcpu_that_never_exits_stay_current(peers: Callable[..., Peer]) -> None:
    """The firmware's work loop runs without a single exit; its counters still advance between
    queries (the engine asks running vCPUs to publish every 100 ms) and stop when paused."""
    vmd = peers("vmd", "-M", "q35", "-vmd-guest", "load=busy")

    async def counters() -> tuple[int, int]:
        async with qmp_client(vmd.socket) as qmp:
            result = await qmp.execute("query-stats", {"target": "vcpu", "providers": [
                {"provider": "__com.vmd_engine", "names": ["instructions", "exits"]}]})  # fmt: skip
        assert isinstance(result, list)
        values = {s["name"]: s["value"] for s in result[0]["stats"]}
        return values["instructions"], values["exits"]

    await asyncio.sleep(0.35)
    first, exits = await counters()
    # The boot path (banner, a few exits) is some hundred instructions; the loop runs millions
    # without exiting: the first query already sees them.
    assert first > 1_000_000
    await asyncio.sleep(0.35)
    second, later_exits = await counters()
    assert second > first
    assert later_exits == exits  # no exit was needed to publish them
    async with qmp_client(vmd.socket) as qmp:
        await qmp.execute("stop")
    paused, _ = await counters()
    await asyncio.sleep(0.25)
    assert (await counters())[0] == paused


def threads_named(peer: Peer, name: str) -> list[int]:
    tids = []
    for task in Path(f"/proc/{peer.pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() == name:
                tids.append(int(task.name))
        except FileNotFoundError:
            pass  # a thread that ended meanwhile
    return sorted(tids)


async def test_a_hot_plugged_vcpu_runs_on_a_thread_started_ahead(peers: Callable[..., Peer]) -> None:
    """While slots are free, two threads wait started (vmd.spare_threads): device_add hands one the
    vCPU instead of waiting for a new thread to run; a machine with no free slot keeps none."""
    full = peers("vmd", "-M", "q35", "-smp", "2,maxcpus=2")
    vmd = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4")
    async with asyncio.timeout(TIMEOUT):
        while len(threads_named(vmd, "spare-vcpu")) < 3:  # noqa: ASYNC110 - the starter and two spares
            await asyncio.sleep(0.01)
    spares = threads_named(vmd, "spare-vcpu")
    async with qmp_client(vmd.socket) as qmp:
        await qmp.execute(
            "device_add", {"driver": "qemu64-x86_64-cpu", "socket-id": 0, "core-id": 1, "thread-id": 0}
        )
        cpus = await qmp.execute("query-cpus-fast")
        assert isinstance(cpus, list)
        assert cpus[1]["thread-id"] in spares
        assert Path(f"/proc/{vmd.pid}/task/{cpus[1]['thread-id']}/comm").read_text().strip() == "vcpu1"
    assert threads_named(full, "spare-vcpu") == []
