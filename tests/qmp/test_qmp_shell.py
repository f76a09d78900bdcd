"""qmp-shell, shipped with qemu.qmp and written for QEMU, drives vmd over its stdin."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.peers import TIMEOUT, Peer


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


def replies(lines: list[str]) -> list[object]:
    return [json.loads(line.split("(QEMU) ", 1)[1]) for line in lines if line.startswith("(QEMU) {")]


def test_qmp_shell_runs_commands_and_shows_errors(vmd: Peer) -> None:
    lines = shell(vmd, "query-status\nqom-list path=/machine\nbogus-cmd\ncont\nquery-status\nquery-name\n")
    assert lines[:2] == ["Welcome to the QMP low-level shell!", "Connected to QEMU 7.2.0"]
    status, qom, bogus, cont, status_after, name = replies(lines)
    assert status == {"return": {"running": False, "singlestep": False, "status": "prelaunch"}}
    assert {"name": "peripheral", "type": "child<container>"} in qom["return"]  # type: ignore[index]
    assert bogus == {
        "error": {"class": "CommandNotFound", "desc": "The command bogus-cmd has not been found"}
    }
    assert cont == {"return": {}}
    assert status_after == {"return": {"running": True, "singlestep": False, "status": "running"}}
    assert name == {"return": {}}


def test_qmp_shell_pretty_mode(vmd: Peer) -> None:
    text = "\n".join(shell(vmd, "query-target\n", "-p"))
    assert '"arch": "x86_64"' in text
