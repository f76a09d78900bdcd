"""vmd.testing's launcher and waits: start, talk, stop (cleanly, after vmd left by itself, or by
force), a start that fails, short socket paths, waiting for events and for a vCPU to come online."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path

import pytest

from tests.peers import TIMEOUT, qmp_client
from tests.replies import as_event, as_list
from vmd.testing import (
    VmdLaunchError,
    cpu_set,
    event_matches,
    launch_vm,
    short_tmpdir,
    spawn,
    wait_event,
    wait_online,
)

HOTPLUG = ("-M", "q35", "-smp", "1,maxcpus=4")
CPU1 = {"driver": "qemu64-x86_64-cpu", "id": "cpu1", "socket-id": 0, "core-id": 1, "thread-id": 0}


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


async def test_a_vm_starts_with_qemus_arguments_answers_and_quits() -> None:
    async with launch_vm(["-S", *HOTPLUG, "-name", "guest1"]) as vm:
        assert await vm.qmp.execute("query-status") == {
            "running": False,
            "singlestep": False,
            "status": "prelaunch",
        }
        assert await vm.qmp.execute("query-name") == {"name": "guest1"}
        assert "-name" in cmdline(vm.pid)
        # the software under test gets a socket of its own, served alongside the launcher's monitor
        assert len(vm.socket.encode()) < 108
        async with qmp_client(vm.socket) as other:
            assert await other.execute("query-name") == {"name": "guest1"}
        chardevs = as_list(await vm.qmp.execute("query-chardev"))
        assert {"label": "vmdtesting", "filename": "unix:", "frontend-open": True} in chardevs
        workdir = Path(vm.socket).parent
    assert vm.returncode == 0
    assert not Path(f"/proc/{vm.pid}").exists()
    assert not workdir.exists()  # removed, and the log kept
    assert f"vmd: QMP monitor listening on {vm.socket}" in vm.log


async def test_a_start_that_fails_says_why() -> None:
    with pytest.raises(VmdLaunchError) as failed:
        async with launch_vm(["-smp", "2,maxcpus=1"]):
            pytest.fail("started")
    assert failed.value.returncode == 1
    assert failed.value.log.startswith(
        "vmd: Invalid CPU topology: maxcpus must be equal to or greater than smp"
    )
    assert "exited before QMP was ready" in str(failed.value)


def test_vmd_runs_in_the_foreground() -> None:
    with pytest.raises(ValueError, match="drop -daemonize"):
        spawn(["-M", "q35", "-daemonize"])


async def test_stop_after_vmd_left_by_itself_and_after_it_had_to_be_killed() -> None:
    async with launch_vm(["-vmd-guest", "powerdown=shutdown"]) as vm:
        await vm.qmp.execute("system_powerdown")  # the guest powers off: vmd exits
        assert as_event(await wait_event(vm.qmp, "SHUTDOWN"))["data"]["reason"] == "guest-shutdown"
        assert await vm.stop() == 0
    assert await vm.stop() == 0  # once is enough; again it says the same

    async with launch_vm() as vm:
        os.kill(vm.pid, signal.SIGSTOP)  # it cannot answer quit any more
        assert await vm.stop(timeout=0.5) == -signal.SIGKILL


def test_short_socket_directories_even_when_tmpdir_is_long(monkeypatch: pytest.MonkeyPatch) -> None:
    long = Path(tempfile.mkdtemp(prefix="x" * 90))
    try:
        monkeypatch.setattr(tempfile, "tempdir", str(long))
        path = short_tmpdir()
        try:
            assert path.parent == Path("/tmp")
        finally:
            path.rmdir()
    finally:
        long.rmdir()


async def test_wait_event_matches_data_and_keeps_what_it_skipped() -> None:
    async with launch_vm(HOTPLUG) as vm:
        await vm.qmp.execute("stop")
        await vm.qmp.execute("device_add", CPU1)
        await vm.qmp.execute("cont")
        resumed = await wait_event(vm.qmp, "RESUME")  # STOP was skipped on the way
        assert resumed["event"] == "RESUME"
        assert (await wait_event(vm.qmp, "STOP"))["event"] == "STOP"
        ost = as_event(
            await wait_event(vm.qmp, "ACPI_DEVICE_OST", match={"info": {"device": "cpu1", "status": 0}})
        )
        assert ost["data"]["info"]["source"] == 1
        with pytest.raises(TimeoutError, match=r"no DEVICE_DELETED event within 0\.2 s"):
            await wait_event(vm.qmp, "DEVICE_DELETED", timeout=0.2)


def test_event_matching() -> None:
    from qemu.qmp.message import Message

    event = Message(
        {"event": "DEVICE_DELETED", "data": {"device": "cpu1", "path": "/machine/peripheral/cpu1"}}
    )
    assert event_matches(event, "DEVICE_DELETED")
    assert event_matches(event, "DEVICE_DELETED", match={"device": "cpu1"})
    assert not event_matches(event, "DEVICE_DELETED", match={"device": "cpu2"})
    assert not event_matches(event, "DEVICE_DELETED", match={"nothing": None})
    assert not event_matches(event, "STOP")
    assert event_matches(
        event, "DEVICE_DELETED", match=lambda e: as_event(e)["data"]["path"].endswith("cpu1")
    )


def test_cpu_lists() -> None:
    assert cpu_set("") == set()
    assert cpu_set("0") == {0}
    assert cpu_set("0-3,5,7-8") == {0, 1, 2, 3, 5, 7, 8}


async def test_wait_online_until_the_guest_onlined_the_vcpu_or_a_timeout() -> None:
    async with launch_vm([*HOTPLUG, "-vmd-guest", "auto-online=off"]) as vm:
        await vm.qmp.execute("device_add", CPU1)
        with pytest.raises(
            TimeoutError, match=r"did not online vCPU 1 within 0.3 s \(present: 0-1, online: 0\)"
        ):
            await wait_online(vm.qmp, 1, timeout=0.3)
        waiting = asyncio.create_task(wait_online(vm.qmp, 1, timeout=TIMEOUT))
        await vm.qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": True})
        await asyncio.wait_for(waiting, TIMEOUT)


def test_the_synchronous_half_for_a_vm_shared_by_a_module() -> None:
    process = spawn(["-M", "q35"])
    greeting = process.wait_greeting()
    assert greeting["QMP"]["version"]["qemu"] == {"major": 7, "minor": 2, "micro": 0}
    assert process.alive()
    assert process.stop_sync() == 0  # qmp_capabilities and quit on the launcher's monitor
    assert "vmd: QMP monitor listening on" in process.log
    assert not process.workdir.exists()

    failing = spawn(["-M", "no-such-board"])
    with pytest.raises(VmdLaunchError) as failed:
        failing.wait_greeting()
    assert failed.value.returncode == 1
    assert "unsupported machine type" in failed.value.log
