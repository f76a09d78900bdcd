"""qmp-shell, shipped with qemu.qmp and written for QEMU, drives vmd over its stdin."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from tests.peers import TIMEOUT, Peer
from tests.replies import as_dict


def shell(peer: Peer, script: str, *options: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "qemu.qmp.qmp_shell", *options, peer.socket],
        input=script,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
        check=True,
    )
    return done.stdout.splitlines()


def replies(lines: list[str]) -> list[dict[str, Any]]:
    return [as_dict(json.loads(line.split("(QEMU) ", 1)[1])) for line in lines if line.startswith("(QEMU) {")]


def test_qmp_shell_runs_commands_and_shows_errors(vmd: Peer) -> None:
    lines = shell(vmd, "query-status\nqom-list path=/machine\nbogus-cmd\ncont\nquery-status\nquery-name\n")
    assert lines[:2] == ["Welcome to the QMP low-level shell!", "Connected to QEMU 7.2.0"]
    status, qom, bogus, cont, status_after, name = replies(lines)
    assert status == {"return": {"running": False, "singlestep": False, "status": "prelaunch"}}
    assert {"name": "peripheral", "type": "child<container>"} in qom["return"]
    assert bogus == {
        "error": {"class": "CommandNotFound", "desc": "The command bogus-cmd has not been found"}
    }
    assert cont == {"return": {}}
    assert status_after == {"return": {"running": True, "singlestep": False, "status": "running"}}
    assert name == {"return": {}}


def test_qmp_shell_pretty_mode(vmd: Peer) -> None:
    text = "\n".join(shell(vmd, "query-target\n", "-p"))
    assert '"arch": "x86_64"' in text


def test_qmp_shell_plugs_and_unplugs_a_pseries_core(peers: Callable[..., Peer]) -> None:
    """vmd-system-ppc64 under qmp-shell: a core of 2 threads in and out before the guest boots
    (released at once, its events before the reply)."""
    peer = peers("vmd", "-S", "-M", "pseries", "-smp", "2,maxcpus=8,threads=2", target="ppc64")
    script = (
        "query-target\n"
        "device_add driver=power9_v2.0-spapr-cpu-core id=core2 core-id=2\n"
        "query-hotpluggable-cpus\n"
        "device_del id=core2\n"
        "device_del id=/machine/unattached/device[1]\n"
    )
    target, added, slots, deleted, boot = replies(shell(peer, script))
    assert target == {"return": {"arch": "ppc64"}}
    assert added == deleted == {"return": {}}
    assert slots["return"][2] == {
        "props": {"core-id": 2, "node-id": 0}, "qom-path": "/machine/peripheral/core2",
        "type": "power9_v2.0-spapr-cpu-core", "vcpus-count": 2,
    }  # fmt: skip
    assert boot == {"error": {"class": "GenericError", "desc": "Boot CPU core may not be unplugged"}}
