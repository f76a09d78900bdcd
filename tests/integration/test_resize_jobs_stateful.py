"""Resize jobs as a state machine: random sequences of overlapping `__com.vmd_set-vcpus` targets,
cancellations, package `present` toggles, guest refusals and silences, against one real vmd
(pc/q35) per example.  After every step every view must agree once the machine is quiet, and the
jobs' events must follow QEMU's job state machine with exactly one completion event each.

What is checked, not modelled: the outcome of a job depends on timing (a guest with a delay, a
deadline), so the test does not predict it; it checks that each outcome is true of the machine
when it is reported, and that no view ever disagrees with another:

* every view of presence agrees: query-hotpluggable-cpus, query-cpus-fast, each package's
  `present` and `qom-path`, the vCPU map; the guest's online vCPUs are present ones, and the
  guest's view per vCPU, the vCPU map and __com.vmd_query-guest-cpus say the same;
* at most one resize job is live; query-jobs' progress never exceeds its total;
* each job's statuses are created, running (paused and running again after a job-pause and a
  job-resume), then waiting and pending, or aborting, then its one
  completion event, concluded and null; `reached` reports the target present with nothing
  pending, `guest-refused` names refused vCPUs, `superseded` only follows a newer request,
  `cancelled` only a job-cancel of it.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.peers import TIMEOUT, Peer, start_peer
from tests.replies import as_event

MAX_CPUS = 6
WAIT = 3.0
STEP_TIMEOUT = 2 * TIMEOUT
T = TypeVar("T")


class JobTrace:
    """One job's events as they came, checked as they come."""

    def __init__(self, job_id: str, target: int) -> None:
        self.id = job_id
        self.target = target
        self.statuses: list[str] = []
        self.completion: dict[str, Any] | None = None
        self.cancel_asked = False
        self.superseded_by: str | None = None

    def status(self, status: str) -> None:
        seen = self.statuses
        if status == "created":
            assert seen == [], f"{self.id}: created twice: {seen}"
        elif status == "running":
            assert seen == ["created"] or seen[-1:] == ["paused"], f"{self.id}: {seen} then running"
        elif status == "paused":
            assert seen[-1:] == ["running"], f"{self.id}: {seen} then paused"
        elif status == "waiting":
            assert seen[-1:] == ["running"], f"{self.id}: {seen} then waiting"
        elif status == "pending":
            assert seen[-1:] == ["waiting"], f"{self.id}: {seen} then pending"
        elif status == "aborting":
            assert seen[-1:] == ["running"], f"{self.id}: {seen} then aborting"
        elif status == "concluded":
            assert seen[-1:] in (["pending"], ["aborting"]), f"{self.id}: {seen} then concluded"
            assert self.completion is not None, f"{self.id}: concluded without its completion event"
        elif status == "null":
            assert seen[-1:] == ["concluded"], f"{self.id}: {seen} then null"
        else:
            raise AssertionError(f"{self.id}: unexpected status {status}")
        seen.append(status)

    def completed(self, data: dict[str, Any]) -> None:
        assert self.completion is None, f"{self.id}: a second completion event {data}"
        assert self.statuses[-1:] in (["pending"], ["aborting"]), (
            f"{self.id}: completion after {self.statuses}"
        )
        self.completion = data
        outcome = data["outcome"]
        assert (outcome == "reached") == (self.statuses[-1] == "pending"), data
        if outcome == "reached":
            assert data["present"] == self.target, data
            assert data["pending"] == [], data
            assert "error" not in data, data
        elif outcome == "guest-refused":
            assert data["refused"], data
        elif outcome == "superseded":
            assert self.superseded_by is not None, data
        elif outcome == "cancelled":
            assert self.cancel_asked, data
        else:
            assert outcome in ("deadline", "failed"), data

    @property
    def live(self) -> bool:
        return self.completion is None


class ResizeJobMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.peer: Peer | None = None
        self.qmp: QMPClient | None = None
        self.listener = EventListener(("JOB_STATUS_CHANGE", "__com.vmd_SET_VCPUS_COMPLETED"))
        self.jobs: dict[str, JobTrace] = {}
        self.current: str | None = None
        self.backlog: list[dict[str, Any]] = []

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(asyncio.wait_for(work, STEP_TIMEOUT))

    @property
    def client(self) -> QMPClient:
        assert self.qmp is not None
        return self.qmp

    async def execute(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        try:
            return await self.client.execute(command, arguments)
        except ExecuteError as error:
            return ("error", error.error.error.desc)

    @initialize(unplug=st.sampled_from(("accept", "refuse", "ignore")), delay=st.sampled_from((0, 30)))
    def start(self, unplug: str, delay: int) -> None:
        args = [
            "-M",
            "q35",
            "-smp",
            f"1,maxcpus={MAX_CPUS}",
            "-vmd-guest",
            f"unplug={unplug},delay-ms={delay}",
        ]
        self.peer = start_peer("vmd", args)

        async def connect(socket: str) -> None:
            self.qmp = QMPClient("stateful-jobs")
            await asyncio.wait_for(self.qmp.connect(socket), TIMEOUT)
            self.qmp.register_listener(self.listener)

        self.run(connect(self.peer.socket))

    def teardown(self) -> None:
        try:
            if self.qmp is not None:
                self.run(self.finish())
        finally:
            self.runner.close()
            if self.peer is not None:
                self.peer.stop()
                text = self.peer.log.read_text() if self.peer.log.exists() else ""
                shutil.rmtree(self.peer.workdir, ignore_errors=True)
                assert "Traceback" not in text, f"vmd logged an exception:\n{text}"

    async def finish(self) -> None:
        """Cancel what is live: then every job has had its one completion event."""
        if self.current is not None and self.jobs[self.current].live:
            self.jobs[self.current].cancel_asked = True
            await self.execute("job-cancel", {"id": self.current})
        await self.drain()
        assert not self.backlog, f"events of jobs nobody started: {self.backlog}"
        for job in self.jobs.values():
            assert job.completion is not None, f"{job.id} never completed: {job.statuses}"
            assert job.statuses[-1] == "null", job.statuses
        self.client.remove_listener(self.listener)
        await self.client.disconnect()

    async def drain(self) -> None:
        """Check the job events that came: those of a job whose id the reply has not told yet (its
        first events precede the reply) wait for it, in order."""
        await self.client.execute("query-status")  # everything sent before it has arrived
        self.backlog.extend(as_event(event) for event in self.listener.clear())
        while self.backlog and self.backlog[0]["data"]["id"] in self.jobs:
            event = self.backlog.pop(0)
            data = event["data"]
            job = self.jobs[data["id"]]
            if event["event"] == "JOB_STATUS_CHANGE":
                job.status(data["status"])
            else:
                job.completed(data)

    # -- rules ----------------------------------------------------------------------------------

    @rule(
        vcpus=st.integers(1, MAX_CPUS),
        placement=st.sampled_from(("fill", "spread")),
        deadline=st.none() | st.sampled_from((20, 300)),
    )
    def set_vcpus(self, vcpus: int, placement: str, deadline: int | None) -> None:
        arguments: dict[str, Any] = {"target": vcpus, "placement": placement}
        if deadline is not None:
            arguments["deadline-ms"] = deadline

        async def go() -> None:
            await self.drain()
            previous = self.current if self.current is not None and self.jobs[self.current].live else None
            # Registered before the reply: the new job's events come before it.
            reply = await self.client.execute("__com.vmd_set-vcpus", arguments)
            assert isinstance(reply, dict)
            job_id = reply["job-id"]
            if job_id not in self.jobs:
                self.jobs[job_id] = JobTrace(job_id, vcpus)
                if previous is not None:
                    self.jobs[previous].superseded_by = job_id
            else:
                assert job_id == previous, f"{job_id} returned again but it was not live"
            self.current = job_id
            await self.drain()

        self.run(go())

    @rule()
    def cancel_current(self) -> None:
        async def go() -> None:
            await self.drain()
            if self.current is None:
                assert await self.execute("job-cancel", {"id": "set-vcpus-1"}) == ("error", "Job not found")
                return
            job = self.jobs[self.current]
            was_live = job.live
            if was_live:
                job.cancel_asked = True
            answer = await self.execute("job-cancel", {"id": self.current})
            if not was_live:
                assert answer == ("error", "Job not found"), answer
            else:
                # Live when drained; it may have ended since (its events are on their way).
                assert answer in ({}, ("error", "Job not found")), answer
            await self.drain()

        self.run(go())

    @rule(verb=st.sampled_from(("job-pause", "job-resume")))
    def pause_or_resume(self, verb: str) -> None:
        async def go() -> None:
            await self.drain()
            if self.current is None:
                return
            job = self.jobs[self.current]
            answer = await self.execute(verb, {"id": self.current})
            if not job.live:
                assert answer == ("error", "Job not found"), answer
            else:
                # Live when drained; it may have ended since.  A pause twice or a resume of a job
                # nobody paused are QEMU's refusals.
                assert answer in (
                    {},
                    ("error", "Job not found"),
                    ("error", "Job is already paused"),
                    ("error", "Can't resume a job that was not paused"),
                ), answer
            await self.drain()

        self.run(go())

    @rule(slot=st.integers(0, MAX_CPUS - 1), present=st.booleans())
    def toggle_package(self, slot: int, present: bool) -> None:
        path = f"/machine/cpu-packages/package[{slot}]"

        async def go() -> None:
            answer = await self.execute("qom-set", {"path": path, "property": "present", "value": present})
            if slot == 0 and not present:
                assert answer == ("error", "Boot CPU is unpluggable")
            else:
                assert answer == {}, answer
            await self.drain()

        self.run(go())

    @rule(unplug=st.sampled_from(("accept", "refuse", "ignore")))
    def set_unplug_policy(self, unplug: str) -> None:
        self.run(self.client.execute("__com.vmd_set-guest-policy", {"unplug": unplug}))

    # -- the views ------------------------------------------------------------------------------

    @invariant()
    def every_view_agrees(self) -> None:
        if self.qmp is None:
            return
        self.run(self.check())

    async def snapshot(self) -> tuple[bool, str]:
        qmp = self.client
        hot = await qmp.execute("query-hotpluggable-cpus")
        fast = await qmp.execute("query-cpus-fast")
        vmap = await qmp.execute("__com.vmd_query-vcpu-map")
        guest = await qmp.execute("__com.vmd_query-guest-vcpus")
        lists = await qmp.execute("__com.vmd_query-guest-cpus")
        assert isinstance(hot, list)
        assert isinstance(fast, list)
        assert isinstance(vmap, list)
        assert isinstance(guest, list)
        assert isinstance(lists, dict)
        packages = {}
        for slot in range(MAX_CPUS):
            path = f"/machine/cpu-packages/package[{slot}]"
            if await qmp.execute("qom-get", {"path": path, "property": "present"}):
                packages[slot] = await qmp.execute("qom-get", {"path": path, "property": "qom-path"})
        views = {
            "hotpluggable": {MAX_CPUS - 1 - i: e["qom-path"] for i, e in enumerate(hot) if "qom-path" in e},
            "cpus-fast": {c["cpu-index"]: c["qom-path"] for c in fast},
            "packages": packages,
            "map": {e["cpu-index"]: e["qom-path"] for e in vmap if e["present"]},
        }
        online_map = {e["cpu-index"] for e in vmap if e["online"]}
        online_guest = {g["cpu-index"] for g in guest if g["online"]}
        agree = (
            len({repr(sorted(v.items())) for v in views.values()}) == 1
            and online_map == online_guest
            and online_map <= set(views["map"])
            and all(g["qom-path"] == views["map"].get(g["cpu-index"]) for g in guest)
        )
        return agree, f"{views} online(map)={online_map} guest={guest} lists={lists}"

    async def check(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT
        agree, seen = await self.snapshot()
        while not agree and loop.time() < deadline:
            await asyncio.sleep(0.02)
            agree, seen = await self.snapshot()
        assert agree, f"the views disagree: {seen}"
        await self.drain()
        jobs = await self.client.execute("query-jobs")
        assert isinstance(jobs, list)
        live = [j for j in jobs if j["status"] not in ("concluded", "null")]
        assert len(live) <= 1, jobs
        for job in jobs:
            assert 0 <= job["current-progress"] <= job["total-progress"], job
        assert len([j for j in self.jobs.values() if j.live]) <= 1, [
            j.id for j in self.jobs.values() if j.live
        ]


SETTINGS = settings(
    max_examples=8,
    stateful_step_count=15,
    deadline=None,
    database=None,
    report_multiple_bugs=False,
    phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.slow
def test_resize_job_state_machine() -> None:
    run_state_machine_as_test(ResizeJobMachine, settings=SETTINGS)
