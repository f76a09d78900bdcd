"""qmp-shell -H (qemu.qmp's HMP shell, tunnelled through human-monitor-command) drives vmd over its
stdin.  It asks for `help` and `info` to fill its completion before the first prompt, traps `cpu N`
(checking N with `info version` at that cpu-index) and sends `cpu-index` with every command."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable

from tests.peers import TIMEOUT, Peer

SESSION = """\
info status
info cpus
device_add qemu64-x86_64-cpu,id=c1,socket-id=0,core-id=1,thread-id=0
info cpus
cpu 1
info cpus
cpu 9
device_add nope
device_add qemu64-x86_64-cpu,id=c1,socket-id=0,core-id=2,thread-id=0
info hotpluggable-cpus
help info
info foo
cont
info status
stop
info status
quit
"""

TRANSCRIPT = """\
Welcome to the HMP shell!
Connected to QEMU 7.2.0

(QEMU) VM status: paused (prelaunch)
 (QEMU) * CPU #0: thread_id=N
 (QEMU) (QEMU) * CPU #0: thread_id=N
  CPU #1: thread_id=N
 (QEMU) (QEMU)   CPU #0: thread_id=N
* CPU #1: thread_id=N
 (QEMU) bad CPU index
(QEMU) Error: 'nope' is not a valid device model name
 (QEMU) Error: Duplicate device ID 'c1'
 (QEMU) Hotpluggable CPUs:
  type: "qemu64-x86_64-cpu"
  vcpus_count: "1"
  CPUInstance Properties:
    socket-id: "0"
    core-id: "3"
    thread-id: "0"
  type: "qemu64-x86_64-cpu"
  vcpus_count: "1"
  CPUInstance Properties:
    socket-id: "0"
    core-id: "2"
    thread-id: "0"
  type: "qemu64-x86_64-cpu"
  vcpus_count: "1"
  qom_path: "/machine/peripheral/c1"
  CPUInstance Properties:
    socket-id: "0"
    core-id: "1"
    thread-id: "0"
  type: "qemu64-x86_64-cpu"
  vcpus_count: "1"
  qom_path: "/machine/unattached/device[0]"
  CPUInstance Properties:
    socket-id: "0"
    core-id: "0"
    thread-id: "0"
 (QEMU) info cpus  -- show infos for each CPU
info hotpluggable-cpus  -- Show information about hotpluggable CPUs
info status  -- show the current VM status (running|paused)
 (QEMU) unknown command: 'info foo'
 (QEMU) (QEMU) VM status: running
 (QEMU) (QEMU) VM status: paused
 (QEMU) (QEMU) \n"""


def test_qmp_shell_hmp_session(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-S", "-smp", "1,maxcpus=4")
    done = subprocess.run(
        [sys.executable, "-m", "qemu.qmp.qmp_shell", "-H", peer.socket],
        input=SESSION,
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 3,
        check=False,
    )
    # After quit vmd closes the connection: qmp-shell 0.0.6 may fail as it leaves (EOFError), as
    # it does with QEMU.
    assert done.returncode == 0 or done.stderr.endswith("EOFError\n"), done.stderr
    assert re.sub(r"thread_id=\d+", "thread_id=N", done.stdout) == TRANSCRIPT
    assert peer.wait_exit()  # quit ended the daemon
