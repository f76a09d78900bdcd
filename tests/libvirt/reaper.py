"""Run a command as a child subreaper and reap every orphan below it at once; exit when none is left.

libvirt daemonizes what it starts (its probes, the emulators), so their exit status goes to the
nearest subreaper, normally init.  The init of these sandboxes reaps orphans only every second
or so, and until then libvirt sees an exited emulator as still alive (kill(pid, 0) succeeds on a
zombie) and waits for it: every probe and every `virsh destroy` takes over a second longer than
it should, for QEMU as for vmd.  Started under this, libvirtd's descendants are reaped as a real
init reaps them.  Usage: python reaper.py COMMAND [ARG...]
"""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(argv: list[str]) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print(f"reaper: prctl: {os.strerror(ctypes.get_errno())}", file=sys.stderr)
        return 1
    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    status = 0
    while True:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            return status
        if pid == child:
            status = os.waitstatus_to_exitcode(wait_status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
