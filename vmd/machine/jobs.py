"""QEMU's job model (job.c, qapi/job.json) for the jobs vmd runs: a job's status machine, the verbs
each status accepts, JOB_STATUS_CHANGE on every transition, and the table query-jobs lists.

The transition and verb tables are QEMU 7.2's (JobSTT and JobVerbTable), and so are the error
texts.  A job here is always auto-finalized; `auto_dismiss` is QEMU's (default on: a concluded job
leaves the table at once; off: it stays, with its error, until job-dismiss).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from enum import Enum

from vmd.errors import GenericError
from vmd.qapi import compiled as ev
from vmd.qapi.compiled import JobInfo, JobStatus, JobType
from vmd.qapi.registry import EventSink

log = logging.getLogger(__name__)

S = JobStatus
# JobSTT: the statuses each status may move to.
_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    S.UNDEFINED: frozenset({S.CREATED}),
    S.CREATED: frozenset({S.RUNNING, S.ABORTING, S.NULL}),
    S.RUNNING: frozenset({S.PAUSED, S.READY, S.WAITING, S.ABORTING}),
    S.PAUSED: frozenset({S.RUNNING}),
    S.READY: frozenset({S.STANDBY, S.WAITING, S.ABORTING}),
    S.STANDBY: frozenset({S.READY}),
    S.WAITING: frozenset({S.PENDING, S.ABORTING}),
    S.PENDING: frozenset({S.ABORTING, S.CONCLUDED}),
    S.ABORTING: frozenset({S.ABORTING, S.CONCLUDED}),
    S.CONCLUDED: frozenset({S.NULL}),
    S.NULL: frozenset(),
}


class JobVerb(Enum):
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    SET_SPEED = "set-speed"
    COMPLETE = "complete"
    FINALIZE = "finalize"
    DISMISS = "dismiss"


_LIVE = frozenset({S.CREATED, S.RUNNING, S.PAUSED, S.READY, S.STANDBY})
# JobVerbTable (QEMU 7.2): the statuses in which each verb is accepted.
_VERBS: dict[JobVerb, frozenset[JobStatus]] = {
    JobVerb.CANCEL: _LIVE | {S.WAITING, S.PENDING},
    JobVerb.PAUSE: _LIVE,
    JobVerb.RESUME: _LIVE,
    JobVerb.SET_SPEED: _LIVE,
    JobVerb.COMPLETE: frozenset({S.READY, S.STANDBY}),
    JobVerb.FINALIZE: frozenset({S.PENDING}),
    JobVerb.DISMISS: frozenset({S.CONCLUDED}),
}

# QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'.
_ID = re.compile(r"[A-Za-z][A-Za-z0-9._-]*\Z")


class Job:
    """One job: its id, type, status and progress.  A subclass does the work and calls `finish`;
    `cancel_requested` is its hook for job-cancel."""

    type: JobType

    def __init__(self, job_id: str, table: JobTable, *, auto_dismiss: bool = True) -> None:
        self.id = job_id
        self.table = table
        self.status = S.UNDEFINED
        self.current_progress = 0
        self.total_progress = 0
        self.error: str | None = None
        self.auto_dismiss = auto_dismiss
        self.user_paused = False

    def info(self) -> JobInfo:
        return JobInfo(
            id=self.id,
            type=self.type,
            status=self.status,
            current_progress=self.current_progress,
            total_progress=self.total_progress,
            error=self.error,
        )

    @property
    def live(self) -> bool:
        """Not ended yet (it may still change the machine)."""
        return self.status in _LIVE

    def transition(self, status: JobStatus) -> None:
        if status not in _TRANSITIONS[self.status]:
            raise AssertionError(f"job {self.id}: {self.status.value} -> {status.value} is not a transition")
        self.status = status
        self.table.emit(ev.JOB_STATUS_CHANGE, ev.JobStatusChangeData(id=self.id, status=status))

    def apply_verb(self, verb: JobVerb) -> None:
        if self.status not in _VERBS[verb]:
            raise GenericError(
                f"Job '{self.id}' in state '{self.status.value}' cannot accept command verb '{verb.value}'"
            )

    def cancel_requested(self) -> None:
        """job-cancel: the subclass stops and calls `finish`."""
        raise NotImplementedError

    def pause(self) -> None:
        """job-pause (after the verb check): a running job stops at once (vmd's jobs have no work
        in flight to finish first)."""
        if self.user_paused:
            raise GenericError("Job is already paused")
        self.user_paused = True
        if self.status is S.RUNNING:
            self.transition(S.PAUSED)

    def resume(self) -> None:
        """job-resume (the verb is checked here, after QEMU's own test, as QEMU does)."""
        if not self.user_paused:
            raise GenericError("Can't resume a job that was not paused")
        self.apply_verb(JobVerb.RESUME)
        self.user_paused = False
        if self.status is S.PAUSED:
            self.transition(S.RUNNING)
            self.resumed()

    def resumed(self) -> None:
        """Back to running after a pause: the subclass catches up."""

    def finish(self, *, error: str | None, completed: Callable[[], None]) -> None:
        """End the job as QEMU ends one: a success waits, is pending (auto-finalized), then
        concludes; a failure or cancellation aborts and concludes.  `completed` sends the job's
        own completion event, between the two, where QEMU sends BLOCK_JOB_COMPLETED."""
        self.error = error
        if self.status is S.PAUSED:  # QEMU resumes a paused job to let it end
            self.transition(S.RUNNING)
        if error is None:
            self.transition(S.WAITING)
            self.transition(S.PENDING)
        else:
            self.transition(S.ABORTING)
        completed()
        self.transition(S.CONCLUDED)
        if self.auto_dismiss:
            self.table.dismiss(self)


class JobTable:
    """Every job not dismissed yet, in creation order (query-jobs)."""

    def __init__(self, emit: EventSink) -> None:
        self.emit = emit
        self.jobs: dict[str, Job] = {}

    def check_new_id(self, job_id: str) -> None:
        if not _ID.match(job_id):
            raise GenericError(f"Invalid job ID '{job_id}'")
        if job_id in self.jobs:
            raise GenericError(f"Job ID '{job_id}' already in use")

    def add(self, job: Job) -> None:
        self.check_new_id(job.id)
        self.jobs[job.id] = job
        job.transition(S.CREATED)

    def find(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise GenericError("Job not found")
        return job

    def cancel(self, job_id: str) -> None:
        job = self.find(job_id)
        job.apply_verb(JobVerb.CANCEL)
        job.cancel_requested()

    def pause(self, job_id: str) -> None:
        job = self.find(job_id)
        job.apply_verb(JobVerb.PAUSE)
        job.pause()

    def resume(self, job_id: str) -> None:
        self.find(job_id).resume()

    def dismiss(self, job: Job) -> None:
        job.apply_verb(JobVerb.DISMISS)
        job.transition(S.NULL)
        del self.jobs[job.id]

    def query(self) -> list[JobInfo]:
        return [job.info() for job in self.jobs.values()]
