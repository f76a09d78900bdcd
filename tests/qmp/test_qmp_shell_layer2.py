"""qmp-shell (qemu.qmp's, written for QEMU) drives layer 2 as a person at a terminal would:
a package's `present`, a resize job, query-jobs and the vCPU map."""

from __future__ import annotations

from collections.abc import Callable

from tests.peers import Peer
from tests.qmp.test_qmp_shell import replies, shell


def test_qmp_shell_sets_present_and_resizes(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", "unplug=ignore")
    lines = shell(
        peer,
        "qom-set path=/machine/cpu-packages/package[3] property=present value=true\n"
        "qom-get path=/machine/cpu-packages/package[3] property=qom-path\n"
        "__com.vmd_set-vcpus target=1 job-id=down auto-dismiss=false deadline-ms=5000\n"
        "query-jobs\n"
        "job-cancel id=down\n"
        "query-jobs\n"
        "__com.vmd_query-vcpu-map\n",
    )
    present, path, job, jobs, cancel, after, vmap = replies(lines)
    assert present == cancel == {"return": {}}
    assert path == {"return": "/machine/peripheral-anon/device[0]"}
    assert job == {"return": {"job-id": "down", "target": 1}}
    assert jobs == {
        "return": [
            {"id": "down", "type": "__com.vmd_set-vcpus", "status": "running", "current-progress": 0,
             "total-progress": 1}
        ]
    }  # fmt: skip
    assert after == {
        "return": [
            {"id": "down", "type": "__com.vmd_set-vcpus", "status": "concluded", "current-progress": 0,
             "total-progress": 1, "error": "Operation canceled"}
        ]
    }  # fmt: skip
    entries = vmap["return"]
    assert [(e["cpu-index"], e["present"], e["unplug-pending"]) for e in entries] == [
        (0, True, False), (1, False, False), (2, False, False), (3, True, True)
    ]  # fmt: skip
