"""QEMU 7.2's generic job commands and event (qapi/job.json), for the jobs vmd runs: its vCPU
resizes.  Their shapes are QEMU's; `query-jobs` and JobInfo are in vmd.qapi.host."""

from __future__ import annotations

from vmd.qapi.host import JobStatus
from vmd.qapi.registry import CommandSpec, EventSpec
from vmd.qapi.types import QapiStruct


class JobIdArgs(QapiStruct):
    id: str


class JobStatusChangeData(QapiStruct):
    id: str
    status: JobStatus


COMMANDS = (
    CommandSpec(
        "job-cancel",
        "Cancel a job: it stops asking for more, keeps what was done, and concludes.",
        args=JobIdArgs,
    ),
    CommandSpec("job-pause", "Pause a job: it asks for nothing more until job-resume.", args=JobIdArgs),
    CommandSpec("job-resume", "Resume a paused job.", args=JobIdArgs),
    CommandSpec("job-dismiss", "Remove a concluded job from query-jobs.", args=JobIdArgs),
)

JOB_STATUS_CHANGE = EventSpec("JOB_STATUS_CHANGE", "A job changed status.", data=JobStatusChangeData)

EVENTS = (JOB_STATUS_CHANGE,)
