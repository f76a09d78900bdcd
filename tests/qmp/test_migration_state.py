"""State that is more than the machine's, over a real migration between two vmd daemons: a resize
job (`__com.vmd_set-vcpus`) goes on on the target, and the guest agent's channel keeps what the
agent had read and not answered; each a versioned stream section that the target checks first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.agent_channel import Agent, agent_client
from tests.peers import TIMEOUT, Peer, qmp_client, short_tmpdir
from tests.replies import as_dict, as_event, as_list

CPU = "qemu64-x86_64-cpu"
BASE = ("-M", "q35", "-smp", "1,maxcpus=4", "-m", "128")
SET_VCPUS = "__com.vmd_set-vcpus"
COMPLETED = "__com.vmd_SET_VCPUS_COMPLETED"


async def wait_done(qmp: QMPClient) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT * 3):
        while True:
            info = as_dict(await qmp.execute("query-migrate"))
            if info.get("status") in ("completed", "failed", "cancelled"):
                return info
            await asyncio.sleep(0.02)


async def job_events(listener: EventListener, job_id: str) -> list[tuple[str, Any]]:
    """JOB_STATUS_CHANGE and COMPLETED of one job until it is gone (`null`)."""
    seen: list[tuple[str, Any]] = []
    async with asyncio.timeout(TIMEOUT):
        while True:
            event = as_event(await listener.get())
            name, data = event["event"], event.get("data", {})
            if data.get("id") != job_id:
                continue
            if name == "JOB_STATUS_CHANGE":
                seen.append((name, data["status"]))
                if data["status"] == "null":
                    return seen
            elif name == COMPLETED:
                seen.append((name, data["outcome"]))


def slot_cpu(core: int = 1) -> dict[str, Any]:
    return {"driver": CPU, "socket-id": 0, "core-id": core, "thread-id": 0}


async def migrate(src: QMPClient, dst: QMPClient, uri: str) -> None:
    await dst.execute("migrate-incoming", {"uri": uri})
    await src.execute("migrate", {"uri": uri})
    assert (await wait_done(src))["status"] == "completed"
    assert (await wait_done(dst))["status"] == "completed"


# -- resize jobs ----------------------------------------------------------------------------------


async def test_a_running_resize_job_completes_on_the_target_with_its_events(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    # The guest leaves a hot-added CPU offline: the job waits for it, across the migration.
    source = peers("vmd", *BASE, "-vmd-guest", "auto-online=off")
    target = peers("vmd", *BASE, "-incoming", "defer", "-vmd-guest", "auto-online=off")
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        assert await src.execute(SET_VCPUS, {"target": 2, "job-id": "grow"}) == {
            "job-id": "grow",
            "target": 2,
        }
        before = as_list(await src.execute("query-jobs"))
        assert before == [
            {"id": "grow", "type": SET_VCPUS, "status": "running", "current-progress": 0, "total-progress": 1}
        ]
        await dst.execute("device_add", slot_cpu())  # the CPU the job plugged, as libvirt would add it
        await dst.execute("migrate-incoming", {"uri": f"unix:{workdir}/mig.sock"})
        await src.execute("migrate-set-parameters", {"max-bandwidth": 64 << 10})  # slow: still active below
        await src.execute("migrate", {"uri": f"unix:{workdir}/mig.sock"})
        # A new job while the source migrates would change the CPUs the stream's header fixed.
        with pytest.raises(ExecuteError) as caught:
            await src.execute(SET_VCPUS, {"target": 3})
        assert str(caught.value) == f"{SET_VCPUS} not allowed while migrating"
        await src.execute("migrate-set-parameters", {"max-bandwidth": 128 << 20})
        assert (await wait_done(src))["status"] == "completed"
        assert (await wait_done(dst))["status"] == "completed"
        # The job left the source without an event of its own: its end is the target's to tell.
        assert await src.execute("query-jobs") == []
        assert await dst.execute("query-jobs") == before
        listener = EventListener()
        with dst.listen(listener):
            await dst.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": True})
            seen = await job_events(listener, "grow")
        assert seen == [
            ("JOB_STATUS_CHANGE", "waiting"),
            ("JOB_STATUS_CHANGE", "pending"),
            (COMPLETED, "reached"),
            ("JOB_STATUS_CHANGE", "concluded"),
            ("JOB_STATUS_CHANGE", "null"),
        ]
        assert await dst.execute("query-jobs") == []
        assert as_dict(await dst.execute("__com.vmd_query-guest-cpus"))["online"] == "0-1"


async def test_a_paused_job_stays_paused_and_a_concluded_one_waits_for_its_dismiss(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    source = peers("vmd", *BASE, "-vmd-guest", "auto-online=off")
    target = peers("vmd", *BASE, "-incoming", "defer", "-vmd-guest", "auto-online=off")
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        # One job cancelled mid-way (it keeps the CPU it plugged), kept until job-dismiss ...
        await src.execute(SET_VCPUS, {"target": 2, "job-id": "first", "auto-dismiss": False})
        await src.execute("job-cancel", {"id": "first"})
        # ... and one paused, with nothing left to plug but a CPU still to come online.
        await src.execute(SET_VCPUS, {"target": 3, "job-id": "second"})
        await src.execute("job-pause", {"id": "second"})
        before = as_list(await src.execute("query-jobs"))
        assert [(j["id"], j["status"], j.get("error")) for j in before] == [
            ("first", "concluded", "Operation canceled"),
            ("second", "paused", None),
        ]
        await dst.execute("device_add", slot_cpu(1))
        await dst.execute("device_add", slot_cpu(2))
        await migrate(src, dst, f"unix:{workdir}/mig.sock")
        assert await dst.execute("query-jobs") == before
        listener = EventListener()
        with dst.listen(listener):
            # Paused on the target too: the guest's online alone does not end it.
            for index in (1, 2):
                await dst.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": index, "online": True})
            assert [j["status"] for j in as_list(await dst.execute("query-jobs"))] == ["concluded", "paused"]
            await dst.execute("job-resume", {"id": "second"})
            seen = await job_events(listener, "second")
            assert seen == [
                ("JOB_STATUS_CHANGE", "running"),
                ("JOB_STATUS_CHANGE", "waiting"),
                ("JOB_STATUS_CHANGE", "pending"),
                (COMPLETED, "reached"),
                ("JOB_STATUS_CHANGE", "concluded"),
                ("JOB_STATUS_CHANGE", "null"),
            ]
            await dst.execute("job-dismiss", {"id": "first"})
            assert await job_events(listener, "first") == [("JOB_STATUS_CHANGE", "null")]
        assert await dst.execute("query-jobs") == []


async def test_a_job_cancelled_while_the_source_migrates_ends_there_and_never_reaches_the_target(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    source = peers("vmd", *BASE, "-vmd-guest", "auto-online=off")
    target = peers("vmd", *BASE, "-incoming", "defer", "-vmd-guest", "auto-online=off")
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await src.execute(SET_VCPUS, {"target": 2, "job-id": "grow"})
        await dst.execute("device_add", slot_cpu())
        await dst.execute("migrate-incoming", {"uri": f"unix:{workdir}/mig.sock"})
        await src.execute("migrate-set-parameters", {"max-bandwidth": 64 << 10})
        listener = EventListener()
        with src.listen(listener):
            await src.execute("migrate", {"uri": f"unix:{workdir}/mig.sock"})
            await src.execute("job-cancel", {"id": "grow"})  # held, yet it takes the verbs
            # Still migrating (64 KiB/s): "setup" until the target accepted the header, then "active".
            assert as_dict(await src.execute("query-migrate"))["status"] in ("setup", "active")
            assert await job_events(listener, "grow") == [
                ("JOB_STATUS_CHANGE", "aborting"),
                (COMPLETED, "cancelled"),
                ("JOB_STATUS_CHANGE", "concluded"),
                ("JOB_STATUS_CHANGE", "null"),
            ]
        await src.execute("migrate-set-parameters", {"max-bandwidth": 128 << 20})
        assert (await wait_done(src))["status"] == "completed"
        assert (await wait_done(dst))["status"] == "completed"
        assert await dst.execute("query-jobs") == []
        # The CPU it plugged stays (cancelling keeps what was done), offline as the guest left it.
        assert as_dict(await dst.execute("__com.vmd_query-guest-cpus"))["present"] == "0-1"


async def test_a_job_held_by_a_failed_migration_goes_on_on_the_source(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    source = peers("vmd", *BASE, "-vmd-guest", "auto-online=off")
    target = peers("vmd", *BASE, "-incoming", "defer")  # no CPU in slot 1: it refuses the stream
    async with qmp_client(target.socket) as dst:  # it exits once it refused
        await dst.execute("migrate-incoming", {"uri": f"unix:{workdir}/mig.sock"})
    async with qmp_client(source.socket) as src:
        await src.execute(SET_VCPUS, {"target": 2, "job-id": "grow"})
        await src.execute("migrate", {"uri": f"unix:{workdir}/mig.sock"})
        info = await wait_done(src)
        assert info["status"] == "failed"
        assert "that this VM lacks" in info["error-desc"]
        listener = EventListener()
        with src.listen(listener):
            await src.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": True})
            assert (await job_events(listener, "grow"))[2] == (COMPLETED, "reached")


# -- the guest agent's channel --------------------------------------------------------------------

PORT_ARGS = (
    "-device",
    "virtio-serial-pci,id=virtio-serial0",
    "-device",
    "virtserialport,chardev=charchannel0,id=channel0,name=org.qemu.guest_agent.0",
)


def agent_args(workdir: Path) -> tuple[str, ...]:
    chardev = f"socket,id=charchannel0,path={workdir / 'ga.sock'},server=on,wait=off"
    return ("-chardev", chardev, *PORT_ARGS)


def sync(n: int) -> bytes:
    return json.dumps({"execute": "guest-sync", "arguments": {"id": n}}).encode()


async def agent_up(qmp: QMPClient, agent: Agent) -> None:
    """The agent answers (the guest booted and opened the port)."""
    await agent.send(sync(0) + b"\n")
    assert await agent.reply() == {"return": 0}


async def test_agent_requests_in_flight_at_the_switchover_are_answered_on_the_target(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    src_dir, dst_dir = short_tmpdir(), short_tmpdir()
    source = peers("vmd", *BASE, *agent_args(src_dir), workdir=src_dir)
    target = peers("vmd", *BASE, *agent_args(dst_dir), "-incoming", "defer", workdir=dst_dir)
    async with (
        qmp_client(source.socket) as src,
        qmp_client(target.socket) as dst,
        agent_client(src_dir) as on_source,
        agent_client(dst_dir) as on_target,
    ):
        await agent_up(src, on_source)
        # A paused guest's agent reads and does not answer: one request in its command, one
        # queued behind it, and half of a third.
        await src.execute("stop")
        await on_source.send(sync(1) + sync(2) + b'{"execute": "guest-sync", "argu')
        await src.execute("query-status")  # a turn of the source's loop: it has read them
        listener = EventListener()
        with dst.listen(listener):
            await migrate(src, dst, f"unix:{workdir}/mig.sock")
            # The target's guest has the port open (QEMU replays a guest's open port at the load).
            event = await asyncio.wait_for(listener.get(), TIMEOUT)
            while event["event"] != "VSERPORT_CHANGE":
                event = await asyncio.wait_for(listener.get(), TIMEOUT)
            assert event["data"] == {"open": True, "id": "channel0"}
        chardev = next(c for c in as_list(await dst.execute("query-chardev")) if c["label"] == "charchannel0")
        assert chardev["frontend-open"] is True
        assert as_dict(await dst.execute("query-status"))["status"] == "paused"  # as the source was
        await dst.execute("cont")
        assert [await on_target.reply(), await on_target.reply()] == [{"return": 1}, {"return": 2}]
        await on_target.send(b'ments": {"id": 3}}\n')  # the rest of the third
        assert await on_target.reply() == {"return": 3}
        # The source's agent forgot them when the target confirmed: its client got nothing.
        assert on_source.nothing_arrived()


async def test_agent_requests_stay_with_the_source_when_the_target_refuses(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    src_dir = short_tmpdir()
    source = peers("vmd", *BASE, *agent_args(src_dir), workdir=src_dir)
    target = peers("vmd", *BASE, "-incoming", "defer")  # no agent channel
    async with qmp_client(target.socket) as dst:  # it exits once it refused
        await dst.execute("migrate-incoming", {"uri": f"unix:{workdir}/mig.sock"})
    async with qmp_client(source.socket) as src, agent_client(src_dir) as agent:
        await agent_up(src, agent)
        await src.execute("stop")
        await agent.send(sync(1) + b"\n")
        await src.execute("query-status")
        await src.execute("migrate", {"uri": f"unix:{workdir}/mig.sock"})
        info = await wait_done(src)
        assert info["status"] == "failed"
        assert "the source's agent-channel chardev is 'charchannel0', this VM's is none" in info["error-desc"]
        await src.execute("cont")
        assert await agent.reply() == {"return": 1}
