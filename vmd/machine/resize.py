"""Resize to N vCPUs as a job (`__com.vmd_set-vcpus`): layer 2 over the typed CPU API.

The job reconciles instead of following a script: at every change of the slots (a plug, a vCPU
online or offline in the guest, a refusal, an eject, a release) it looks at the machine as it is
and asks for what is missing, so overlapping requests, other clients' device_add/device_del and
a guest that takes its time all end in a state every view agrees on.  It counts a slot whose
unplug is pending as leaving (the guest may still eject it) and never asks the guest to give up
a slot it refused again; a refusal ends the job with `guest-refused` once nothing else is pending.

One job is live at a time: a new request with the same target and placement is the same job (the
command is idempotent); any other request supersedes it (it concludes with `superseded`, and the
new one starts from what the old one left, taking over the vCPUs it added, which must come online
too: requests already sent to the guest cannot be taken back).  A job ends with exactly one
__com.vmd_SET_VCPUS_COMPLETED: `reached` (the target is present, every vCPU the job added is
online in the guest and every vCPU it removed is gone, DEVICE_DELETED sent), `guest-refused`,
`deadline` (the requests stay pending), `cancelled`, `superseded` or `failed` (the machine refused
a step: its error).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from vmd.errors import GenericError
from vmd.machine.cpu_manager import CpuManager, SlotChange
from vmd.machine.jobs import Job, JobTable
from vmd.qapi import compiled as ev
from vmd.qapi.compiled import __COM_VMD_SET_VCPUS_COMPLETED as SET_VCPUS_COMPLETED
from vmd.qapi.compiled import JobType, SetVcpusOutcome, VcpuPlacement
from vmd.records import dataclass

log = logging.getLogger(__name__)

Outcome = SetVcpusOutcome


@dataclass(frozen=True, slots=True)
class ResizeRequest:
    target: int
    placement: VcpuPlacement = VcpuPlacement.FILL
    slots: tuple[int, ...] = ()
    deadline_ms: int | None = None

    def same_goal(self, other: ResizeRequest) -> bool:
        """Whether two requests ask for the same end state (a deadline changes nothing of it)."""
        return (self.target, self.placement, self.slots) == (other.target, other.placement, other.slots)


class ResizeJob(Job):
    type = JobType.VMD_SET_VCPUS

    def __init__(
        self, job_id: str, table: JobTable, manager: CpuManager, request: ResizeRequest, *, auto_dismiss: bool
    ) -> None:
        super().__init__(job_id, table, auto_dismiss=auto_dismiss)
        self.manager = manager
        self.request = request
        self.per_slot = manager.layout.vcpus_per_slot
        self.added: set[int] = set()  # vCPUs this job plugged
        self.requested: set[int] = set()  # slots this job asked the guest to give up
        self.refused: set[int] = set()  # of those, the ones the guest refused
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unwatch = manager.watch(self._changed)
        self._deadline = (
            None if request.deadline_ms is None else time.monotonic() + request.deadline_ms / 1000
        )
        self.held = False  # an outgoing migration runs: the job asks for nothing until it ends

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Created and running; the first requests go out now (before the command's reply)."""
        self.table.add(self)
        self.transition(ev.JobStatus.RUNNING)
        self.total_progress = abs(self.request.target - self._effective())
        if self._advance():
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"job-{self.id}")

    async def _run(self) -> None:
        try:
            async with asyncio.timeout_at(self._loop_deadline()):
                while self.live:
                    await self._wake.wait()
                    self._wake.clear()
                    # A paused job asks nothing; nor does a held one (its CPUs are in the header).
                    if self.live and self.status is ev.JobStatus.RUNNING and not self.held:
                        self._advance()
        except TimeoutError:
            if self.live:
                self._end(Outcome.DEADLINE)

    def _loop_deadline(self) -> float | None:
        if self._deadline is None:
            return None
        loop = asyncio.get_running_loop()
        return loop.time() + max(0.0, self._deadline - time.monotonic())

    def cancel_requested(self) -> None:
        self._end(Outcome.CANCELLED)

    def resumed(self) -> None:
        self._wake.set()  # look at the machine again: it changed while the job was paused

    def supersede(self) -> None:
        self._end(Outcome.SUPERSEDED)

    async def close(self) -> None:
        """The daemon stops: the job's waiting ends with it (nothing more is sent)."""
        self._unwatch()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- migration ---------------------------------------------------------------------------------

    def migration_state(self) -> dict[str, Any]:
        left = None if self._deadline is None else max(0, int((self._deadline - time.monotonic()) * 1000))
        return {
            "id": self.id,
            "status": self.status.value,
            "current-progress": self.current_progress,
            "total-progress": self.total_progress,
            "error": self.error,
            "auto-dismiss": self.auto_dismiss,
            "user-paused": self.user_paused,
            "target": self.request.target,
            "placement": self.request.placement.value,
            "slots": list(self.request.slots),
            "deadline-left-ms": left,
            "added": sorted(self.added),
            "requested": sorted(self.requested),
            "refused": sorted(self.refused),
        }

    @classmethod
    def migrated(cls, table: JobTable, manager: CpuManager, state: dict[str, Any]) -> ResizeJob:
        """The source's job, as it was at the switchover: in the table with its id, status and
        progress (no JOB_STATUS_CHANGE: it changed nothing), its deadline still running."""
        request = ResizeRequest(
            target=int(state["target"]),
            placement=VcpuPlacement(state["placement"]),
            slots=tuple(int(s) for s in state["slots"]),
            deadline_ms=None if state["deadline-left-ms"] is None else int(state["deadline-left-ms"]),
        )
        job = cls(str(state["id"]), table, manager, request, auto_dismiss=bool(state["auto-dismiss"]))
        job.status = ev.JobStatus(state["status"])
        job.current_progress = int(state["current-progress"])
        job.total_progress = int(state["total-progress"])
        job.error = None if state["error"] is None else str(state["error"])
        job.user_paused = bool(state["user-paused"])
        job.added = {int(i) for i in state["added"]}
        job.requested = {int(s) for s in state["requested"]}
        job.refused = {int(s) for s in state["refused"]}
        table.check_new_id(job.id)
        table.jobs[job.id] = job
        if not job.live:
            job._unwatch()
        return job

    def carry_on(self) -> None:
        """Run here (the target, once loaded): look at the machine at once, then as it changes."""
        if not self.live:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"job-{self.id}")
        self._wake.set()

    def hand_over(self) -> None:
        """The target has the job now: it leaves this VM's table without an event (its end is
        the target's to tell)."""
        self._unwatch()
        if self._task is not None:
            self._task.cancel()
        self.table.jobs.pop(self.id, None)

    # -- the work --------------------------------------------------------------------------------

    def _changed(self, change: SlotChange, slot: int) -> None:
        if change is SlotChange.REFUSED and slot in self.requested:
            self.refused.add(slot)
        self._wake.set()

    def _effective(self) -> int:
        """The vCPUs present and not on their way out."""
        m = self.manager
        return sum(self.per_slot for slot in m.slots.devices if not m.unplug_pending(slot))

    def _advance(self) -> bool:
        """One look at the machine, and the requests it calls for; True once the job ended."""
        try:
            outcome = self._step()
        except GenericError as error:
            self._end(Outcome.FAILED, str(error))
            return True
        self._progress()
        if outcome is not None:
            self._end(outcome)
            return True
        return False

    def _step(self) -> Outcome | None:
        m = self.manager
        target = self.request.target
        present = m.slots.devices
        pending = [slot for slot in present if m.unplug_pending(slot)]
        effective = self._effective()
        if effective < target:
            free = [s for s in range(len(m.slots)) if s not in present and not m.releasing(s)]
            for slot in choose_plug(m, self.request, free, (target - effective) // self.per_slot):
                m.plug_slot(slot)
                self.added.update(m.layout.vcpus(slot))
            return None
        if effective > target:
            candidates = [s for s in present if not m.unplug_pending(s) and s not in self.refused]
            candidates = [s for s in candidates if _unpluggable(m, s)]
            if self.refused:
                return None if pending else Outcome.GUEST_REFUSED
            picks = choose_unplug(m, self.request, candidates, (effective - target) // self.per_slot)
            if not picks:
                if pending:
                    return None
                raise GenericError(f"no more vCPUs can be unplugged ({effective} present, target {target})")
            for slot in picks:
                m.request_unplug(slot)
                self.requested.add(slot)
            return None
        if pending or any(m.releasing(slot) for slot in self.requested):
            return None  # the guest still has to answer, or DEVICE_DELETED is still to come
        if all(index in m.guest_online for index in self._added_present()):
            return Outcome.REACHED
        return None

    def _added_present(self) -> list[int]:
        m = self.manager
        return [i for i in sorted(self.added) if m.layout.slot_of(i) in m.slots.devices]

    def _progress(self) -> None:
        m = self.manager
        online = sum(1 for i in self._added_present() if i in m.guest_online)
        gone = sum(self.per_slot for s in self.requested if s not in m.slots.devices and not m.releasing(s))
        self.current_progress = min(self.total_progress, online + gone)

    def _pending(self) -> list[int]:
        m = self.manager
        waiting = {i for i in self._added_present() if i not in m.guest_online}
        for slot in m.slots.devices:
            if m.unplug_pending(slot) or m.releasing(slot):
                waiting.update(m.layout.vcpus(slot))
        return sorted(waiting)

    def _end(self, outcome: Outcome, error: str | None = None) -> None:
        if not self.live:
            return
        self._unwatch()
        m = self.manager
        refused = sorted(i for s in self.refused if s in m.slots.devices for i in m.layout.vcpus(s))
        if error is None and outcome is not Outcome.REACHED:
            error = _ERRORS[outcome]
        data = ev.SetVcpusCompletedData(
            id=self.id,
            target=self.request.target,
            outcome=outcome,
            present=sum(len(d.vcpus) for d in m.slots.devices.values()),
            online=len(m.guest_online),
            refused=refused,
            pending=self._pending() if outcome is not Outcome.REACHED else [],
            error=error,
        )
        log.info("job %s: set-vcpus %d ended: %s", self.id, self.request.target, outcome.value)
        self.finish(error=error, completed=lambda: self.table.emit(SET_VCPUS_COMPLETED, data))
        self._wake.set()


_ERRORS = {
    Outcome.GUEST_REFUSED: "the guest refused to give up some vCPUs",
    Outcome.DEADLINE: "the deadline passed with requests still pending",
    Outcome.CANCELLED: "Operation canceled",  # QEMU's text for a cancelled job (strerror(ECANCELED))
    Outcome.SUPERSEDED: "superseded by a later __com.vmd_set-vcpus",
}


def _unpluggable(m: CpuManager, slot: int) -> bool:
    try:
        m.check_unplug(slot)
    except GenericError:
        return False
    return True


def _group(m: CpuManager, slot: int) -> int:
    """What `spread` spreads over: the slot's NUMA node, or its socket without NUMA."""
    node = m.slots.node(slot)
    return m.layout.ids(slot).socket if node is None else node


def _present_per_group(m: CpuManager) -> dict[int, int]:
    counts: dict[int, int] = {}
    for slot in m.slots.devices:
        if not m.unplug_pending(slot):
            counts[_group(m, slot)] = counts.get(_group(m, slot), 0) + 1
    return counts


def choose_plug(m: CpuManager, request: ResizeRequest, free: Sequence[int], count: int) -> list[int]:
    """Which free slots to fill, by the request's placement."""
    if count <= 0:
        return []
    if request.placement is VcpuPlacement.EXPLICIT:
        return [s for s in request.slots if s in free][:count]
    if request.placement is VcpuPlacement.FILL:
        return sorted(free)[:count]
    counts = _present_per_group(m)
    left = sorted(free)
    picks: list[int] = []
    while left and len(picks) < count:
        slot = min(left, key=lambda s: (counts.get(_group(m, s), 0), _group(m, s), s))
        counts[_group(m, slot)] = counts.get(_group(m, slot), 0) + 1
        picks.append(slot)
        left.remove(slot)
    return picks


def choose_unplug(m: CpuManager, request: ResizeRequest, candidates: Sequence[int], count: int) -> list[int]:
    """Which present slots to give up, by the request's placement (fill: the highest first)."""
    if count <= 0:
        return []
    if request.placement is VcpuPlacement.EXPLICIT:
        return [s for s in request.slots if s in candidates][:count]
    if request.placement is VcpuPlacement.FILL:
        return sorted(candidates, reverse=True)[:count]
    counts = _present_per_group(m)
    left = sorted(candidates)
    picks: list[int] = []
    while left and len(picks) < count:
        slot = max(left, key=lambda s: (counts.get(_group(m, s), 0), -_group(m, s), s))
        counts[_group(m, slot)] -= 1
        picks.append(slot)
        left.remove(slot)
    return picks


class VcpuResizer:
    """The VM's resize jobs: at most one live at a time."""

    def __init__(self, manager: CpuManager, jobs: JobTable) -> None:
        self.manager = manager
        self.jobs = jobs
        self.current: ResizeJob | None = None
        self._count = 0
        self._all: list[ResizeJob] = []

    def set_vcpus(self, request: ResizeRequest, *, job_id: str | None, auto_dismiss: bool) -> ResizeJob:
        self.check(request)
        current = self.current
        if (
            current is not None
            and current.live
            and current.request.same_goal(request)
            and job_id in (None, current.id)
        ):
            return current
        if job_id is None:
            self._count += 1
            while f"set-vcpus-{self._count}" in self.jobs.jobs:
                self._count += 1
            job_id = f"set-vcpus-{self._count}"
        self.jobs.check_new_id(job_id)
        job = ResizeJob(job_id, self.jobs, self.manager, request, auto_dismiss=auto_dismiss)
        if current is not None and current.live:
            current.supersede()
            # What the superseded job added is new to this one too: it must come online as well.
            job.added.update(current.added)
        self.current = job
        self._all = [j for j in self._all if j.live or (j._task is not None and not j._task.done())]
        self._all.append(job)
        job.start()
        return job

    def check(self, request: ResizeRequest) -> None:
        """The request's own errors, before any job exists."""
        m = self.manager
        possible = m.slots.possible_vcpus
        per_slot = m.layout.vcpus_per_slot
        if request.target < 1 or request.target > possible:
            raise GenericError(f"Parameter 'target' expects a number of vCPUs from 1 to {possible}")
        if request.target % per_slot:
            raise GenericError(
                f"Parameter 'target' must be a multiple of {per_slot}: the machine's CPUs are "
                f"plugged {per_slot} vCPUs at a time"
            )
        if request.placement is VcpuPlacement.EXPLICIT:
            if not request.slots:
                raise GenericError("Parameter 'slots' is required with placement 'explicit'")
            for slot in request.slots:
                if slot >= len(m.slots):
                    raise GenericError(f"Parameter 'slots' names slot {slot}; the machine has {len(m.slots)}")
        elif request.slots:
            raise GenericError("Parameter 'slots' needs placement 'explicit'")
        present = [s for s in m.slots.devices if not m.unplug_pending(s)]
        need = (len(present) * per_slot - request.target) // per_slot
        if need > 0:
            refusals = []
            for slot in present:
                try:
                    m.check_unplug(slot)
                except GenericError as error:
                    refusals.append(str(error))
            if len(present) - len(refusals) < need:
                # The board's own words when it can unplug nothing (s390x), else how far it can go.
                if len(refusals) == len(present):
                    raise GenericError(refusals[-1])
                staying = (len(refusals) + sum(1 for s in m.slots.devices if m.unplug_pending(s))) * per_slot
                raise GenericError(
                    f"Parameter 'target' is below what can be unplugged: at least {staying} vCPUs stay"
                )

    async def close(self) -> None:
        for job in self._all:
            await job.close()

    # -- the "resize-jobs" migration section (vmd.machine.migration.sections) ----------------------
    # The resize jobs in query-jobs go to the target as they are at the switchover: a running or
    # paused job goes on there (its events come from the target), a concluded one waits there
    # for its job-dismiss.  While the source migrates, a live job is held: it asks for nothing
    # (the CPUs are in the stream's header), and takes up its work again if the migration fails.

    version = 1

    def facts(self) -> dict[str, Any]:
        return {}

    def _jobs(self) -> list[ResizeJob]:
        return [job for job in self.jobs.jobs.values() if isinstance(job, ResizeJob)]

    def outgoing_began(self) -> None:
        for job in self._jobs():
            job.held = True

    def capture(self) -> list[dict[str, Any]]:
        return [job.migration_state() for job in self._jobs()]

    def restore(self, state: list[dict[str, Any]]) -> None:
        loop = asyncio.get_running_loop()
        for entry in state:
            job = ResizeJob.migrated(self.jobs, self.manager, entry)
            self._all.append(job)
            if job.live:
                self.current = job
                # After the load's end (the guest's state, the run state): the job then looks.
                loop.call_soon(job.carry_on)

    def outgoing_ended(self, completed: bool) -> None:
        for job in self._jobs():
            job.held = False
            if completed:
                job.hand_over()
            elif job.live:
                job._wake.set()  # the machine may have changed meanwhile: look again
        if completed:
            self.current = None
