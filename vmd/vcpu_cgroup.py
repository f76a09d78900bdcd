"""A CPU cgroup of the daemon's own for its vCPU threads, so that a busy guest never delays the loop.

Why a cgroup, when vCPU threads run under SCHED_IDLE already: the scheduler shares the CPU between
groups first and between the threads of a group second, and with the kernel's autogroups
(``/proc/sys/kernel/sched_autogroup_enabled``, on by default) every thread of a process is in one
group, its session's.  SCHED_IDLE orders threads inside that group only.  While any vCPU spins,
the group is runnable, so it stays queued against every other session's group with its share used
up, and a loop thread that wakes inside it waits for the group's next turn: on a host busy with
other work, 100 ms and more with 64 busy vCPUs.  With the vCPU threads in a cgroup of their own the
loop's group sleeps whenever the loop does, and a group that wakes from sleep is placed ahead of
the ones that used their share, so the loop gets a CPU within a fraction of a millisecond.

The vCPUs' cgroup keeps the default weight, that of one ordinary process, so the guest gets what
any other program gets, as QEMU's vCPU threads do; not ``cpu.idle``: an idle group may wait seconds
for a CPU on a loaded host, and a vCPU that must park for ``stop`` or take the GIL for an I/O exit
then holds everything up.

Only where it is vmd's to do: when the daemon sits at the root of the cpu controller's hierarchy
(where autogroups apply and nobody manages its cgroups), on cgroup v1 (a ``cpu`` hierarchy: any
thread may move alone) or v2 (a threaded child of the root, if the root delegates ``cpu``).  A
daemon in any other cgroup (libvirt's machine.slice, which moves vCPU threads into per-vCPU
cgroups of its own; a systemd unit; a container) is left where it is.  The cgroup is named
``vmd-vcpus-PID`` and removed when the engine closes; one left behind by a killed daemon is removed
by the next daemon that makes one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading

log = logging.getLogger(__name__)

PREFIX = "vmd-vcpus-"
PARK_BOOST = 16


class VcpuCgroup:
    """The cgroup vCPU threads move into (:meth:`adopt_current`, on the thread itself)."""

    def __init__(self, path: str, threads_file: str, weight_file: str, weight: int) -> None:
        self.path = path
        self._fd: int | None = os.open(os.path.join(path, threads_file), os.O_WRONLY | os.O_CLOEXEC)
        self._weight_fd: int | None = os.open(os.path.join(path, weight_file), os.O_WRONLY | os.O_CLOEXEC)
        self._weight = weight
        self._favoured = False
        self._moved = threading.local()  # a flag per thread, gone with the thread
        self._lock = threading.Lock()

    def adopt_current(self) -> None:
        """Move the calling thread into the cgroup (once; a failure is logged and disables it)."""
        if getattr(self._moved, "done", False):
            return
        self._moved.done = True
        tid = threading.get_native_id()
        with self._lock:  # held across the write: remove() must not close the fd under it
            if self._fd is None:
                return
            try:
                os.write(self._fd, str(tid).encode())
                return
            except OSError as exc:
                error = exc
        log.warning(
            "cannot move vCPU thread %d into %s (%s): vCPU threads stay in the loop's group",
            tid,
            self.path,
            error,
        )
        self._disable()

    def favour(self, on: bool) -> None:
        """While a pause waits for the vCPUs to park: the group's weight times PARK_BOOST, so the
        parking threads get a CPU before the host's other work (each needs microseconds), instead of
        waiting for the group's next fair turn; back to the normal weight once they parked."""
        if on == self._favoured:
            return
        with self._lock:
            fd = self._weight_fd
            if fd is None:
                return
            self._favoured = on
            value = self._weight * PARK_BOOST if on else self._weight
            with contextlib.suppress(OSError):
                os.write(fd, str(value).encode())

    def remove(self) -> bool:
        """Stop adopting threads and remove the cgroup; False while exiting threads still hold it."""
        self._disable()
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    def _disable(self) -> None:
        with self._lock:
            fds = (self._fd, self._weight_fd)
            self._fd = self._weight_fd = None
        for fd in fds:
            if fd is not None:
                os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _cpu_mount() -> tuple[str, str] | None:
    """(mount point, "v1" or "v2") of the cpu controller's hierarchy if this process is at its root."""
    own = {}
    for line in _read("/proc/self/cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        own[controllers] = path
    v1 = next((path for names, path in own.items() if "cpu" in names.split(",")), None)
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3 or fields[3] != "/":
            continue
        fstype, options = extra[0], extra[2].split(",")
        if v1 is not None and fstype == "cgroup" and "cpu" in options:
            return (fields[4], "v1") if v1 == "/" else None
        if v1 is None and fstype == "cgroup2" and own.get("") == "/":
            mount = fields[4]
            if "cpu" in _read(os.path.join(mount, "cgroup.subtree_control")).split():
                return mount, "v2"
            return None
    return None


def _sweep(mount: str) -> None:
    """Remove the cgroups of daemons that are gone (killed before they could)."""
    for name in os.listdir(mount):
        if not name.startswith(PREFIX) or not name[len(PREFIX) :].isdigit():
            continue
        try:
            os.kill(int(name[len(PREFIX) :]), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(mount, name))
        except OSError:
            continue


def create() -> VcpuCgroup | None:
    """This daemon's vCPU cgroup, or None where vmd should not or cannot make one."""
    try:
        found = _cpu_mount()
        if found is None:
            return None
        mount, version = found
        _sweep(mount)
        path = os.path.join(mount, f"{PREFIX}{os.getpid()}")
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
        try:
            if version == "v1":
                return VcpuCgroup(path, "tasks", "cpu.shares", 1024)
            with open(os.path.join(path, "cgroup.type"), "w") as f:
                f.write("threaded")
            return VcpuCgroup(path, "cgroup.threads", "cpu.weight", 100)
        except OSError:
            with contextlib.suppress(OSError):
                os.rmdir(path)
            raise
    except (OSError, ValueError) as exc:
        log.debug("no cgroup of its own for the vCPU threads: %s", exc)
        return None
