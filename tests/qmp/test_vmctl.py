"""vmctl, the shell's way to the vCPU map and resize jobs, against a running vmd."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

from tests.peers import TIMEOUT, Peer


def vmctl(peer: Peer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vmd.vmctl", peer.socket, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
        check=False,
    )


def test_vmctl_resizes_and_prints_the_map(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=3")
    done = vmctl(peer, "set-vcpus", "2")
    assert (done.returncode, done.stdout) == (
        0,
        "job set-vcpus-1: target 2\njob set-vcpus-1: reached: 2 present, 2 online\n",
    )
    shown = vmctl(peer, "map")
    deadline = time.monotonic() + TIMEOUT
    while shown.stdout.splitlines()[1].split()[3] != "yes" and time.monotonic() < deadline:
        shown = vmctl(peer, "map")  # the boot CPU's own confirmation of online may still be coming
    assert shown.returncode == 0
    assert shown.stdout.splitlines() == [
        "cpu-index  slot  present  online  onlinable  offlinable  unplug-pending  qom-path",
        "0          0     yes      yes     -          -           -               /machine/unattached/device[0]",  # noqa: E501
        "1          1     yes      yes     -          yes         -               /machine/peripheral-anon/device[0]",  # noqa: E501
        "2          2     -        -       -          -           -",
    ]
    refused = vmctl(peer, "set-vcpus", "9")
    assert (refused.returncode, refused.stderr) == (
        2,
        "vmctl: Parameter 'target' expects a number of vCPUs from 1 to 3\n",
    )
    assert vmctl(peer, "jobs").stdout == ""


def test_vmctl_reports_a_refusing_guest(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "2,maxcpus=3", "-vmd-guest", "unplug=refuse")
    done = vmctl(peer, "set-vcpus", "1")
    assert (done.returncode, done.stdout.splitlines()[-1]) == (
        1,
        "job set-vcpus-1: guest-refused: 2 present, 2 online; refused: 1",
    )
