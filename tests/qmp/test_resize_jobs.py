"""`__com.vmd_set-vcpus` jobs over QMP: every outcome's event sequence (QEMU's job statuses around
exactly one __com.vmd_SET_VCPUS_COMPLETED), query-jobs and its progress, job-cancel and
job-dismiss, superseding and idempotent requests, placement, granularity and the board's refusals;
the vCPU map and the guest's view per vCPU; the opt-in guest-online event; and the same jobs on
pseries (whole cores) and ARM virt (parked vCPUs enabled and disabled)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.peers import TIMEOUT, Peer, qmp_client
from vmd.testing import wait_online

pytestmark = pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=8")

JOB_EVENTS = ("JOB_STATUS_CHANGE", "__com.vmd_SET_VCPUS_COMPLETED")


@pytest.fixture
async def vmd_vm(vmd_vm: Any) -> Any:
    """The plugin's VM once its boot vCPU has confirmed it is online.  A completion event counts the
    vCPUs the guest has confirmed, and on a loaded host the boot vCPU's first report can come after
    a test's first job ended (it then said `online: 2` of 3)."""
    await wait_online(vmd_vm.qmp, 0, timeout=TIMEOUT)
    return vmd_vm


async def next_event(listener: EventListener) -> dict[str, Any]:
    event = await asyncio.wait_for(listener.get(), TIMEOUT)
    return {"event": event["event"], **({"data": event["data"]} if "data" in event else {})}


async def job_events(listener: EventListener, job: str) -> list[Any]:
    """The job's statuses and its completion event (its data), until the job is concluded and,
    if dismissed automatically, null."""
    seen: list[Any] = []
    while True:
        event = await next_event(listener)
        if event["data"]["id"] != job:
            continue
        if event["event"] == "JOB_STATUS_CHANGE":
            seen.append(event["data"]["status"])
            if event["data"]["status"] == "null":
                return seen
        else:
            seen.append(event["data"])


def completed(job: str, target: int, outcome: str, present: int, online: int, **more: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": job, "target": target, "outcome": outcome, "present": present, "online": online,
        "refused": more.pop("refused", []), "pending": more.pop("pending", []),
    }  # fmt: skip
    data.update(more)
    return data


SUCCESS = ["created", "running", "waiting", "pending"]
ABORTED = ["created", "running", "aborting"]


async def error_of(qmp: QMPClient, command: str, arguments: dict[str, Any] | None = None) -> tuple[str, str]:
    with pytest.raises(ExecuteError) as caught:
        await qmp.execute(command, arguments)
    return caught.value.error.error.class_, caught.value.error.error.desc


async def views(qmp: QMPClient) -> dict[str, Any]:
    """Present vCPUs as every view tells them, and the guest's online ones."""
    hot = await qmp.execute("query-hotpluggable-cpus")
    fast = await qmp.execute("query-cpus-fast")
    vmap = await qmp.execute("__com.vmd_query-vcpu-map")
    guest = await qmp.execute("__com.vmd_query-guest-vcpus")
    assert isinstance(hot, list)
    assert isinstance(fast, list)
    assert isinstance(vmap, list)
    assert isinstance(guest, list)
    count = len(hot)
    packages = set()
    for slot in range(count):
        path = f"/machine/cpu-packages/package[{slot}]"
        if await qmp.execute("qom-get", {"path": path, "property": "present"}):
            packages.add(slot)
    present = {count - 1 - i for i, e in enumerate(hot) if "qom-path" in e}
    assert (
        {c["cpu-index"] for c in fast}
        == present
        == packages
        == {e["cpu-index"] for e in vmap if e["present"]}
    )
    paths = {c["cpu-index"]: c["qom-path"] for c in fast}
    assert {e["cpu-index"]: e["qom-path"] for e in vmap if e["present"]} == paths
    online = {g["cpu-index"] for g in guest if g["online"]}
    assert online == {e["cpu-index"] for e in vmap if e["online"]}
    return {"present": present, "online": online}


async def test_grow_then_shrink_reach_the_target(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener(JOB_EVENTS) as listener:
        assert await qmp.execute("__com.vmd_set-vcpus", {"target": 4}) == {
            "job-id": "set-vcpus-1",
            "target": 4,
        }
        assert await job_events(listener, "set-vcpus-1") == [
            *SUCCESS,
            completed("set-vcpus-1", 4, "reached", 4, 4),
            "concluded",
            "null",
        ]
        assert await views(qmp) == {"present": {0, 1, 2, 3}, "online": {0, 1, 2, 3}}
        assert await qmp.execute("__com.vmd_set-vcpus", {"target": 2, "job-id": "down"}) == {
            "job-id": "down",
            "target": 2,
        }
        assert await job_events(listener, "down") == [
            *SUCCESS,
            completed("down", 2, "reached", 2, 2),
            "concluded",
            "null",
        ]
    assert await views(qmp) == {"present": {0, 1}, "online": {0, 1}}  # fill: the highest went first
    assert await qmp.execute("query-jobs") == []


async def test_a_target_already_met_concludes_at_once(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    await wait_online(qmp, 0)
    with qmp.listener(JOB_EVENTS) as listener:
        await qmp.execute("__com.vmd_set-vcpus", {"target": 1})
        assert await job_events(listener, "set-vcpus-1") == [
            *SUCCESS,
            completed("set-vcpus-1", 1, "reached", 1, 1),
            "concluded",
            "null",
        ]


@pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=8", "-vmd-guest", "unplug=refuse")
async def test_a_refusing_guest_ends_the_job_guest_refused_with_its_vcpus(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener(JOB_EVENTS) as listener:
        await qmp.execute("__com.vmd_set-vcpus", {"target": 3})
        await job_events(listener, "set-vcpus-1")
        await qmp.execute("__com.vmd_set-vcpus", {"target": 1, "auto-dismiss": False})
        refused = completed(
            "set-vcpus-2", 1, "guest-refused", 3, 3, refused=[1, 2],
            error="the guest refused to give up some vCPUs",
        )  # fmt: skip
        seen = [await next_event(listener) for _ in range(5)]
        assert [e["data"].get("status", e["data"]) for e in seen] == [*ABORTED, refused, "concluded"]
    jobs = await qmp.execute("query-jobs")
    assert jobs == [
        {"id": "set-vcpus-2", "type": "__com.vmd_set-vcpus", "status": "concluded", "current-progress": 0,
         "total-progress": 2, "error": "the guest refused to give up some vCPUs"}
    ]  # fmt: skip
    assert await qmp.execute("job-dismiss", {"id": "set-vcpus-2"}) == {}
    assert await qmp.execute("query-jobs") == []
    assert await error_of(qmp, "job-dismiss", {"id": "set-vcpus-2"}) == ("GenericError", "Job not found")
    assert await views(qmp) == {"present": {0, 1, 2}, "online": {0, 1, 2}}


@pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=8", "-vmd-guest", "unplug=ignore")
async def test_a_deadline_passes_with_the_requests_still_pending(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener(JOB_EVENTS) as listener:
        await qmp.execute("__com.vmd_set-vcpus", {"target": 3})
        await job_events(listener, "set-vcpus-1")
        await qmp.execute("__com.vmd_set-vcpus", {"target": 2, "deadline-ms": 100})
        jobs = await qmp.execute("query-jobs")
        assert isinstance(jobs, list)
        assert [(j["status"], j["current-progress"], j["total-progress"]) for j in jobs] == [
            ("running", 0, 1)
        ]
        assert await job_events(listener, "set-vcpus-2") == [
            *ABORTED,
            completed(
                "set-vcpus-2", 2, "deadline", 3, 3, pending=[2],
                error="the deadline passed with requests still pending",
            ),
            "concluded",
            "null",
        ]  # fmt: skip
    package = {"path": "/machine/cpu-packages/package[2]", "property": "unplug-pending"}
    assert await qmp.execute("qom-get", package) is True  # the request stays alive
    vmap = await qmp.execute("__com.vmd_query-vcpu-map")
    assert isinstance(vmap, list)
    assert [e["cpu-index"] for e in vmap if e["unplug-pending"]] == [2]


@pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=8", "-vmd-guest", "delay-ms=300")
async def test_a_new_target_supersedes_and_the_same_one_is_the_same_job(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener(JOB_EVENTS) as listener:
        first = await qmp.execute("__com.vmd_set-vcpus", {"target": 4})
        assert await qmp.execute("__com.vmd_set-vcpus", {"target": 4}) == first  # idempotent
        second = await qmp.execute("__com.vmd_set-vcpus", {"target": 6})
        assert second == {"job-id": "set-vcpus-2", "target": 6}
        seen = await job_events(listener, "set-vcpus-1")
        assert seen[:3] == ABORTED
        assert seen[3]["outcome"] == "superseded"
        assert seen[4:] == ["concluded", "null"]
        assert await job_events(listener, "set-vcpus-2") == [
            *SUCCESS,
            completed("set-vcpus-2", 6, "reached", 6, 6),
            "concluded",
            "null",
        ]
    assert await views(qmp) == {"present": set(range(6)), "online": set(range(6))}


@pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=8", "-vmd-guest", "delay-ms=300")
async def test_job_cancel_keeps_what_was_done(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener(JOB_EVENTS) as listener:
        await qmp.execute("__com.vmd_set-vcpus", {"target": 3})
        assert await qmp.execute("job-cancel", {"id": "set-vcpus-1"}) == {}
        seen = await job_events(listener, "set-vcpus-1")
        assert seen[:3] == ABORTED
        assert seen[4:] == ["concluded", "null"]
        assert {k: seen[3][k] for k in ("outcome", "present", "error")} == {
            "outcome": "cancelled",
            "present": 3,
            "error": "Operation canceled",
        }
    assert await error_of(qmp, "job-cancel", {"id": "set-vcpus-1"}) == ("GenericError", "Job not found")
    # The plugs it made stay; the guest onlines them in its own time.
    async with asyncio.timeout(TIMEOUT):
        while (await views(qmp))["online"] != {0, 1, 2}:  # noqa: ASYNC110 - polled, no event
            await asyncio.sleep(0.02)


async def test_job_verbs_follow_qemus_table(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    await qmp.execute("__com.vmd_set-vcpus", {"target": 1, "auto-dismiss": False})
    assert await error_of(qmp, "job-cancel", {"id": "set-vcpus-1"}) == (
        "GenericError",
        "Job 'set-vcpus-1' in state 'concluded' cannot accept command verb 'cancel'",
    )
    assert await error_of(qmp, "__com.vmd_set-vcpus", {"target": 2, "job-id": "set-vcpus-1"}) == (
        "GenericError",
        "Job ID 'set-vcpus-1' already in use",
    )
    assert await error_of(qmp, "__com.vmd_set-vcpus", {"target": 2, "job-id": "9lives"}) == (
        "GenericError",
        "Invalid job ID '9lives'",
    )


async def test_requests_the_machine_cannot_meet_are_refused(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    for arguments, desc in (
        ({"target": 0}, "Parameter 'target' expects a number of vCPUs from 1 to 8"),
        ({"target": 9}, "Parameter 'target' expects a number of vCPUs from 1 to 8"),
        ({"target": 2, "placement": "explicit"}, "Parameter 'slots' is required with placement 'explicit'"),
        ({"target": 2, "slots": [3]}, "Parameter 'slots' needs placement 'explicit'"),
        (
            {"target": 2, "placement": "explicit", "slots": [8]},
            "Parameter 'slots' names slot 8; the machine has 8",
        ),
    ):
        assert await error_of(qmp, "__com.vmd_set-vcpus", arguments) == ("GenericError", desc)
    assert await qmp.execute("query-jobs") == []


async def test_explicit_and_spread_placement(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener(JOB_EVENTS) as listener:
        await qmp.execute("__com.vmd_set-vcpus", {"target": 3, "placement": "explicit", "slots": [5, 7]})
        await job_events(listener, "set-vcpus-1")
        assert (await views(qmp))["present"] == {0, 5, 7}
        await qmp.execute("__com.vmd_set-vcpus", {"target": 2, "placement": "explicit", "slots": [5]})
        await job_events(listener, "set-vcpus-2")
        assert (await views(qmp))["present"] == {0, 7}


@pytest.mark.vmd_args("-M", "q35", "-smp", "1,sockets=4,cores=2,threads=1,maxcpus=8")
async def test_spread_fills_sockets_evenly(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener(JOB_EVENTS) as listener:
        await qmp.execute("__com.vmd_set-vcpus", {"target": 4, "placement": "spread"})
        await job_events(listener, "set-vcpus-1")
    assert (await views(qmp))["present"] == {0, 2, 4, 6}  # one CPU in each of the 4 sockets


async def test_s390x_grows_and_refuses_to_shrink_with_its_text(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "s390-ccw-virtio", "-smp", "1,maxcpus=4", target="s390x")
    async with qmp_client(peer.socket) as qmp:
        # The completion counts the vCPUs the guest confirmed: the boot vCPU's first report must
        # not come after the job's end (seen once in CI: online 2 of 3).
        await wait_online(qmp, 0, timeout=TIMEOUT)
        with qmp.listener(JOB_EVENTS) as listener:
            await qmp.execute("__com.vmd_set-vcpus", {"target": 3})
            assert await job_events(listener, "set-vcpus-1") == [
                *SUCCESS,
                completed("set-vcpus-1", 3, "reached", 3, 3),
                "concluded",
                "null",
            ]
        assert await error_of(qmp, "__com.vmd_set-vcpus", {"target": 2}) == (
            "GenericError",
            "CPU hot unplug not supported on this machine",
        )
        assert await qmp.execute("query-jobs") == []


async def test_the_guest_online_event_goes_to_sessions_that_ask(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    assert await error_of(qmp, "__com.vmd_enable-events", {"events": ["STOP"]}) == (
        "GenericError",
        "'STOP' is not an event vmd sends on request",
    )
    async with qmp_client(vmd_vm.socket, "other") as other:
        assert await qmp.execute("__com.vmd_enable-events", {"events": ["__com.vmd_GUEST_CPU_STATE"]}) == {}
        with qmp.listener("__com.vmd_GUEST_CPU_STATE") as mine, other.listener() as theirs:
            await qmp.execute("__com.vmd_set-vcpus", {"target": 2})
            assert await next_event(mine) == {
                "event": "__com.vmd_GUEST_CPU_STATE",
                "data": {"cpu-index": 1, "qom-path": "/machine/peripheral-anon/device[0]", "online": True},
            }
            await qmp.execute("__com.vmd_guest-set-cpu-online", {"cpu-index": 1, "online": False})
            assert (await next_event(mine))["data"] == {
                "cpu-index": 1,
                "qom-path": "/machine/peripheral-anon/device[0]",
                "online": False,
            }
            seen = []
            while not theirs.empty():
                seen.append((await next_event(theirs))["event"])
            assert "__com.vmd_GUEST_CPU_STATE" not in seen
            assert "JOB_STATUS_CHANGE" in seen
    vmap = await qmp.execute("__com.vmd_query-vcpu-map")
    assert isinstance(vmap, list)
    assert vmap[1] == {
        "cpu-index": 1, "slot": 1, "package": "/machine/cpu-packages/package[1]", "present": True,
        "online": False, "onlinable": True, "offlinable": False, "unplug-pending": False,
        "qom-path": "/machine/peripheral-anon/device[0]",
    }  # fmt: skip
    assert vmap[0]["offlinable"] is False  # cpu0 stays (cpu0-hotplug=off)
    guest = await qmp.execute("__com.vmd_query-guest-vcpus")
    assert guest == [
        {"cpu-index": 0, "qom-path": "/machine/unattached/device[0]", "online": True, "configured": True,
         "can-offline": False},
        {"cpu-index": 1, "qom-path": "/machine/peripheral-anon/device[0]", "online": False,
         "configured": True, "can-offline": True},
    ]  # fmt: skip


@pytest.mark.vmd_args("-M", "q35", "-smp", "1,maxcpus=8", "-vmd-guest", "delay-ms=200")
async def test_a_paused_job_asks_nothing_and_concludes_only_once_resumed(vmd_vm: Any) -> None:
    qmp = vmd_vm.qmp
    with qmp.listener(JOB_EVENTS) as listener:
        await qmp.execute("__com.vmd_set-vcpus", {"target": 3})
        assert await error_of(qmp, "job-resume", {"id": "set-vcpus-1"}) == (
            "GenericError",
            "Can't resume a job that was not paused",
        )
        assert await qmp.execute("job-pause", {"id": "set-vcpus-1"}) == {}
        assert await error_of(qmp, "job-pause", {"id": "set-vcpus-1"}) == (
            "GenericError",
            "Job is already paused",
        )
        await wait_online(qmp, 2)  # the guest went on: the job's plugs were made before the pause
        jobs = await qmp.execute("query-jobs")
        assert isinstance(jobs, list)
        assert [j["status"] for j in jobs] == ["paused"]
        assert await qmp.execute("job-resume", {"id": "set-vcpus-1"}) == {}
        assert await job_events(listener, "set-vcpus-1") == [
            "created", "running", "paused", "running", "waiting", "pending",
            completed("set-vcpus-1", 3, "reached", 3, 3), "concluded", "null",
        ]  # fmt: skip


async def test_pseries_resizes_in_whole_cores(peers: Callable[..., Peer]) -> None:
    """pseries: the job plugs and unplugs whole cores through the DR connectors and the guest, and
    a target that is not a whole number of cores is refused before any job exists."""
    peer = peers("vmd", "-M", "pseries", "-smp", "2,maxcpus=8,threads=2", target="ppc64")
    async with qmp_client(peer.socket) as qmp:
        await wait_online(qmp, 1, timeout=TIMEOUT)
        assert await error_of(qmp, "__com.vmd_set-vcpus", {"target": 5}) == (
            "GenericError",
            "Parameter 'target' must be a multiple of 2: the machine's CPUs are plugged 2 vCPUs at a time",
        )
        with qmp.listener(JOB_EVENTS) as listener:
            await qmp.execute("__com.vmd_set-vcpus", {"target": 6, "job-id": "up"})
            assert await job_events(listener, "up") == [
                *SUCCESS,
                completed("up", 6, "reached", 6, 6),
                "concluded",
                "null",
            ]
            cores = await qmp.execute("query-hotpluggable-cpus")
            assert isinstance(cores, list)
            assert sorted(c["props"]["core-id"] for c in cores if "qom-path" in c) == [0, 2, 4]
            await qmp.execute("__com.vmd_set-vcpus", {"target": 2, "job-id": "down"})
            assert await job_events(listener, "down") == [
                *SUCCESS,
                completed("down", 2, "reached", 2, 2),
                "concluded",
                "null",
            ]
        assert await qmp.execute("query-jobs") == []
        view = await qmp.execute("__com.vmd_query-guest-cpus")
        assert isinstance(view, dict)
        assert (view["present"], view["online"]) == ("0-1", "0-1")


async def test_arm_virt_resizes_by_enabling_and_disabling_parked_vcpus(peers: Callable[..., Peer]) -> None:
    args = ("-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "1,maxcpus=4")
    peer = peers("vmd", *args, target="aarch64")
    async with qmp_client(peer.socket) as qmp:
        await wait_online(qmp, 0, timeout=TIMEOUT)
        with qmp.listener(JOB_EVENTS) as listener:
            await qmp.execute("__com.vmd_set-vcpus", {"target": 3, "job-id": "up"})
            assert await job_events(listener, "up") == [
                *SUCCESS,
                completed("up", 3, "reached", 3, 3),
                "concluded",
                "null",
            ]
            view = await qmp.execute("__com.vmd_query-guest-cpus")
            assert isinstance(view, dict)
            assert (view["present"], view["enabled"], view["online"]) == ("0-3", "0-2", "0-2")
            await qmp.execute("__com.vmd_set-vcpus", {"target": 1, "job-id": "down"})
            assert await job_events(listener, "down") == [
                *SUCCESS,
                completed("down", 1, "reached", 1, 1),
                "concluded",
                "null",
            ]
        view = await qmp.execute("__com.vmd_query-guest-cpus")
        assert isinstance(view, dict)
        assert (view["enabled"], view["online"]) == ("0", "0")
