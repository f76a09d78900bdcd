"""QEMU 7.2's generic job commands, side by side: with no job, query-jobs, job-cancel, job-pause,
job-resume and job-dismiss answer as QEMU's do; vmd's resize jobs use the same commands and texts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from qemu.qmp import ExecuteError

from tests.peers import Peer, qmp_client

pytestmark = pytest.mark.qemu


async def test_job_commands_without_a_job_like_qemu(peers: Callable[..., Peer]) -> None:
    answers: dict[str, list[Any]] = {}
    for kind in ("qemu", "vmd"):
        async with qmp_client(peers(kind, "-M", "q35", "-S").socket) as qmp:
            seen: list[Any] = [await qmp.execute("query-jobs")]
            for command in ("job-cancel", "job-pause", "job-resume", "job-dismiss"):
                try:
                    seen.append(await qmp.execute(command, {"id": "nope"}))
                except ExecuteError as error:
                    seen.append((error.error.error.class_, error.error.error.desc))
            answers[kind] = seen
    assert answers["vmd"] == answers["qemu"] == [[], *[("GenericError", "Job not found")] * 4]
