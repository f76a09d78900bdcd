"""QEMU's job model in vmd.machine.jobs: the status machine, the verbs each status accepts, the
events and the texts of QEMU 7.2 (job.c, job-qmp.c)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from vmd.errors import GenericError
from vmd.machine.jobs import Job, JobTable
from vmd.qapi.compiled import JobStatus, JobType
from vmd.qapi.registry import EventSpec

# Not a QMP event: what the tests' completion callbacks send, to show where in the sequence they ran.
DONE = EventSpec("DONE", "the completion callback ran")


class Countdown(Job):
    """A job that ends when told (what a subclass must do: call finish)."""

    type = JobType.VMD_SET_VCPUS

    def cancel_requested(self) -> None:
        self.finish(error="Operation canceled", completed=lambda: self.table.emit(DONE, None))


def table() -> tuple[JobTable, list[tuple[str, Any]]]:
    sent: list[tuple[str, Any]] = []

    def emit(spec: EventSpec, data: Any) -> None:
        sent.append((spec.name, None if data is None else data.to_wire()))

    return JobTable(emit), sent


def refused(text: str) -> pytest.RaisesExc[GenericError]:
    return pytest.raises(GenericError, match=f"^{re.escape(text)}$")


def statuses(sent: list[tuple[str, Any]]) -> list[str]:
    return [data["status"] if name == "JOB_STATUS_CHANGE" else name for name, data in sent]


def test_success_waits_is_pending_then_concludes_and_is_dismissed() -> None:
    jobs, sent = table()
    job = Countdown("j", jobs)
    jobs.add(job)
    job.transition(JobStatus.RUNNING)
    job.finish(error=None, completed=lambda: jobs.emit(DONE, None))
    assert statuses(sent) == ["created", "running", "waiting", "pending", "DONE", "concluded", "null"]
    assert jobs.query() == []


def test_cancel_aborts_and_a_kept_job_shows_its_error_until_dismissed() -> None:
    jobs, sent = table()
    job = Countdown("j", jobs, auto_dismiss=False)
    jobs.add(job)
    job.transition(JobStatus.RUNNING)
    jobs.pause("j")
    with refused("Job is already paused"):
        jobs.pause("j")
    jobs.cancel("j")
    assert statuses(sent) == ["created", "running", "paused", "running", "aborting", "DONE", "concluded"]
    assert [info.to_wire() for info in jobs.query()] == [
        {"id": "j", "type": "__com.vmd_set-vcpus", "status": "concluded", "current-progress": 0,
         "total-progress": 0, "error": "Operation canceled"}
    ]  # fmt: skip
    with refused("Job 'j' in state 'concluded' cannot accept command verb 'cancel'"):
        jobs.cancel("j")
    # Still paused by its client when it was cancelled: QEMU then checks the verb, as here.
    with refused("Job 'j' in state 'concluded' cannot accept command verb 'resume'"):
        jobs.resume("j")
    jobs.dismiss(jobs.find("j"))
    with refused("Job not found"):
        jobs.find("j")


@pytest.mark.parametrize(
    ("job_id", "error"), [("9x", "Invalid job ID '9x'"), ("a b", "Invalid job ID 'a b'")]
)
def test_ids_are_qemus_well_formed_ones(job_id: str, error: str) -> None:
    jobs, _ = table()
    with refused(error):
        jobs.check_new_id(job_id)


def test_an_id_in_use_is_refused() -> None:
    jobs, _ = table()
    jobs.add(Countdown("a.b-c_1", jobs))
    with refused("Job ID 'a.b-c_1' already in use"):
        jobs.add(Countdown("a.b-c_1", jobs))


def test_a_transition_outside_qemus_table_is_a_bug() -> None:
    jobs, _ = table()
    job = Countdown("j", jobs)
    jobs.add(job)
    with pytest.raises(AssertionError):
        job.transition(JobStatus.CONCLUDED)  # created -> concluded is not in JobSTT
