"""Real libvirt 9.0, run by hand: virtlogd and libvirtd with a test configuration, and virsh.

What ../shared/spec/libvirt-contract.md measured is what this does: no systemd, no D-Bus; both
daemons are started with -d and a pid file of our own and stopped by that pid.  libvirtd.conf
is ours (-f); the QEMU driver reads only /etc/libvirt/qemu.conf, so that file is replaced for
the run (the emulator must run as root with no security driver here) and put back afterwards.

Both daemons run under tests/libvirt/reaper.py, which reaps the processes libvirt daemonizes as
a real init would (this sandbox's init takes a second or more).

The emulator is a two-line wrapper that execs `python -m vmd` from this checkout, as libvirt
requires (it tracks the pid it started).  Used by tests/libvirt and scripts/bench_libvirt.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
URI = "qemu:///system"
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
REAPER = Path(__file__).with_name("reaper.py")
RUN_DIR = Path("/run/libvirt/qemu")
VIRSH_TIMEOUT = 60.0
# There is one system libvirtd per host: runs of this suite (two checkouts, a benchmark beside a
# test run) queue on this lock instead of failing on each other's daemons.
HOST_LOCK = Path("/run/lock/vmd-libvirt-suite.lock")
HOST_LOCK_WAIT = 1800.0
# libvirt waits this long for DEVICE_DELETED before virsh reports an unplug as failed.
LIBVIRT_UNPLUG_WAIT = 5.0

_QEMU_CONF_TEXT = """\
# Written by vmd's libvirt tests for the length of a run (the original is put back).
user = "root"
group = "root"
security_driver = "none"
"""


class LibvirtError(Exception):
    pass


def installed() -> bool:
    return all(shutil.which(tool) for tool in ("libvirtd", "virtlogd", "virsh"))


def _running(name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Virsh:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def emulator_wrapper(workdir: Path, target: str = "x86_64") -> Path:
    """An executable libvirt can name as <emulator>: it execs vmd from this checkout, as
    qemu-system-`target` (what vmd-system-<target> runs)."""
    path = workdir / ("vmd-emulator" if target == "x86_64" else f"vmd-emulator-{target}")
    option = "" if target == "x86_64" else f" -vmd-target {target}"
    path.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={REPO}${{PYTHONPATH:+:$PYTHONPATH}}; export PYTHONPATH\n"
        f'exec {sys.executable} -m vmd{option} "$@"\n'
    )
    path.chmod(0o755)
    return path


def domain_xml(
    name: str,
    emulator: str,
    *,
    maxvcpus: int = 4,
    current: int = 1,
    extra_args: Sequence[str] = (),
    devices: str = "",
    memory_mib: int = 128,
) -> str:
    """The contract's domain: q35, one socket per vCPU, vCPU 0 fixed and the others hot-pluggable.
    `extra_args` go on the emulator's command line (libvirt's qemu:commandline); `devices` is
    more XML for <devices>."""
    vcpus = ["<vcpu id='0' enabled='yes' hotpluggable='no' order='1'/>"]
    for index in range(1, maxvcpus):
        enabled = "yes" if index < current else "no"
        order = f" order='{index + 1}'" if index < current else ""
        vcpus.append(f"<vcpu id='{index}' enabled='{enabled}' hotpluggable='yes'{order}/>")
    args = "".join(f"<qemu:arg value='{arg}'/>" for arg in extra_args)
    commandline = f"<qemu:commandline>{args}</qemu:commandline>" if extra_args else ""
    return f"""\
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu placement='static' current='{current}'>{maxvcpus}</vcpu>
  <vcpus>{"".join(vcpus)}</vcpus>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <features><acpi/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model>
    <topology sockets='{maxvcpus}' dies='1' cores='1' threads='1'/></cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>{devices}
  </devices>
  {commandline}
</domain>
"""


def s390x_domain_xml(name: str, emulator: str, *, maxvcpus: int = 4, current: int = 1) -> str:
    """An s390-ccw-virtio domain: vCPU 0 fixed and the others hot-pluggable, the `qemu` model."""
    vcpus = ["<vcpu id='0' enabled='yes' hotpluggable='no' order='1'/>"]
    for index in range(1, maxvcpus):
        enabled = "yes" if index < current else "no"
        order = f" order='{index + 1}'" if index < current else ""
        vcpus.append(f"<vcpu id='{index}' enabled='{enabled}' hotpluggable='yes'{order}/>")
    return f"""\
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu placement='static' current='{current}'>{maxvcpus}</vcpu>
  <vcpus>{"".join(vcpus)}</vcpus>
  <os><type arch='s390x' machine='s390-ccw-virtio'>hvm</type></os>
  <cpu mode='custom' match='exact'><model fallback='forbid'>qemu</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>{emulator}</emulator>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def pseries_domain_xml(
    name: str, emulator: str, *, cores: int = 4, threads: int = 4, current_cores: int = 1
) -> str:
    """A pseries domain of `cores` cores of `threads` threads: the first core fixed, the others
    hot-pluggable as whole cores (libvirt's ppc64 rule), POWER9, 512 MiB (pseries' 256 MiB
    blocks)."""
    vcpus = []
    for index in range(cores * threads):
        core = index // threads
        enabled = "yes" if core < current_cores else "no"
        hotpluggable = "no" if core == 0 else "yes"
        order = f" order='{core + 1}'" if core < current_cores else ""
        vcpus.append(f"<vcpu id='{index}' enabled='{enabled}' hotpluggable='{hotpluggable}'{order}/>")
    return f"""\
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>512</memory>
  <vcpu placement='static' current='{current_cores * threads}'>{cores * threads}</vcpu>
  <vcpus>{"".join(vcpus)}</vcpus>
  <os><type arch='ppc64' machine='pseries'>hvm</type></os>
  <cpu mode='custom' match='exact'><model fallback='forbid'>POWER9</model>
    <topology sockets='1' dies='1' cores='{cores}' threads='{threads}'/></cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>{emulator}</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def aarch64_domain_xml(
    name: str,
    emulator: str,
    *,
    maxvcpus: int = 4,
    current: int = 1,
    model: str = "cortex-a57",
    acpi_on: bool = True,
) -> str:
    """An ARM virt domain with a GICv3 and a 64-bit model (what vmd's vCPU hotplug needs): vCPU 0
    fixed and the others hot-pluggable, one core per vCPU.

    libvirt refuses `<acpi/>` on aarch64 without UEFI (`ACPI requires UEFI on this architecture`)
    and then passes -no-acpi; UEFI means a pflash drive, which vmd does not have.  vCPU hotplug
    needs ACPI (the GED), so the domain turns it back on after libvirt's options (QEMU, like vmd,
    lets a later -machine acpi=on override -no-acpi); `acpi_on=False` leaves libvirt's -no-acpi."""
    override = "<qemu:arg value='-machine'/><qemu:arg value='acpi=on'/>" if acpi_on else ""
    vcpus = ["<vcpu id='0' enabled='yes' hotpluggable='no' order='1'/>"]
    for index in range(1, maxvcpus):
        enabled = "yes" if index < current else "no"
        order = f" order='{index + 1}'" if index < current else ""
        vcpus.append(f"<vcpu id='{index}' enabled='{enabled}' hotpluggable='yes'{order}/>")
    return f"""\
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu placement='static' current='{current}'>{maxvcpus}</vcpu>
  <vcpus>{"".join(vcpus)}</vcpus>
  <os><type arch='aarch64' machine='virt'>hvm</type></os>
  <features><gic version='3'/></features>
  <cpu mode='custom' match='exact'><model fallback='forbid'>{model}</model>
    <topology sockets='1' dies='1' cores='{maxvcpus}' threads='1'/></cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>{emulator}</emulator>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>{override}</qemu:commandline>
</domain>
"""


class Libvirt:
    """virtlogd + libvirtd for one run.  Start with :meth:`start`, end with :meth:`stop`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log = workdir / "libvirtd.log"
        self._conf = workdir / "libvirtd.conf"
        self._libvirtd_pidfile = workdir / "libvirtd.pid"
        self._virtlogd_pidfile = workdir / "virtlogd.pid"
        self._qemu_conf_backup: bytes | None = None
        self.libvirtd_pid: int | None = None
        self.virtlogd_pid: int | None = None
        self._reapers: list[subprocess.Popen[bytes]] = []
        self._lock_fd: int | None = None

    # -- daemons ---------------------------------------------------------------------------------

    def _take_host_lock(self) -> None:
        HOST_LOCK.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(HOST_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + HOST_LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise LibvirtError(
                        f"another libvirt run held {HOST_LOCK} for {HOST_LOCK_WAIT:.0f} s: "
                        "only one may use this host's libvirtd at a time"
                    ) from None
                time.sleep(0.5)
        self._lock_fd = fd

    def _release_host_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor drops the lock
            self._lock_fd = None

    def start(self) -> None:
        self._take_host_lock()
        for name in ("libvirtd", "virtlogd"):
            pids = _running(name)
            if pids:
                raise LibvirtError(
                    f"a {name} is already running (pid {pids[0]}): these tests start their own; stop it"
                )
        self._conf.write_text(
            'auth_unix_ro = "none"\n'
            'auth_unix_rw = "none"\n'
            'log_filters = "1:qemu.qemu_monitor 1:qemu.qemu_monitor_json 3:*"\n'
            f'log_outputs = "1:file:{self.log}"\n'
        )
        self._qemu_conf_backup = QEMU_CONF.read_bytes() if QEMU_CONF.exists() else None
        QEMU_CONF.parent.mkdir(parents=True, exist_ok=True)
        QEMU_CONF.write_text(_QEMU_CONF_TEXT)
        self.virtlogd_pid = self._daemon(["virtlogd", "-d", "-p", str(self._virtlogd_pidfile)],
                                         self._virtlogd_pidfile)  # fmt: skip
        self.start_libvirtd()

    def start_libvirtd(self) -> None:
        self.libvirtd_pid = self._daemon(
            ["libvirtd", "-d", "-f", str(self._conf), "-p", str(self._libvirtd_pidfile)],
            self._libvirtd_pidfile,
        )
        # Ready once it answers; the first call also probes every emulator on PATH.
        wait_until(lambda: self.virsh("version", check=False).ok, 60.0, "libvirtd to answer", 0.1)

    def stop_libvirtd(self) -> None:
        if self.libvirtd_pid is not None:
            self._kill(self.libvirtd_pid)
            self.libvirtd_pid = None

    def stop(self) -> None:
        self._stop_daemons()
        if self._qemu_conf_backup is not None:
            QEMU_CONF.write_bytes(self._qemu_conf_backup)
        self._release_host_lock()

    def _stop_daemons(self) -> None:
        """libvirtd and virtlogd, then their reapers (each ends once its daemon and the daemon's
        orphans have)."""
        self.stop_libvirtd()
        if self.virtlogd_pid is not None:
            self._kill(self.virtlogd_pid)
            self.virtlogd_pid = None
        for reaper in self._reapers:
            try:
                reaper.wait(timeout=15)
            except subprocess.TimeoutExpired:
                reaper.kill()
                reaper.wait()
        self._reapers.clear()

    def _daemon(self, argv: list[str], pidfile: Path) -> int:
        """Start a daemon (it forks itself away) under a reaper of its own; its pid."""
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
        reaper = subprocess.Popen([sys.executable, str(REAPER), *argv], stdin=subprocess.DEVNULL)
        self._reapers.append(reaper)
        wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", 30.0, f"{pidfile}")
        return int(pidfile.read_text())

    @staticmethod
    def _kill(pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not _pid_alive(pid), 15.0, f"pid {pid} to exit")
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # -- virsh -----------------------------------------------------------------------------------

    uri = URI

    def virsh(self, *args: str, check: bool = True, timeout: float = VIRSH_TIMEOUT) -> Virsh:
        start = time.monotonic()
        done = subprocess.run(
            ["virsh", "-c", self.uri, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = Virsh(done.returncode, done.stdout, done.stderr, time.monotonic() - start)
        if check and not result.ok:
            raise LibvirtError(f"virsh {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def monitor(self, domain: str, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """One QMP command through libvirt's own monitor connection; its `return` value."""
        message: dict[str, Any] = {"execute": command}
        if arguments is not None:
            message["arguments"] = arguments
        reply = json.loads(self.virsh("qemu-monitor-command", domain, json.dumps(message)).stdout)
        return reply["return"]

    def cpus(self, domain: str) -> list[dict[str, Any]]:
        """query-cpus-fast through libvirt's monitor: the vCPUs vmd has threads for."""
        cpus: list[dict[str, Any]] = self.monitor(domain, "query-cpus-fast")
        return cpus

    def guest_cpus(self, domain: str) -> dict[str, str]:
        """The guest's own CPU lists (vmd's __com.vmd_query-guest-cpus): present, online, ..."""
        view: dict[str, str] = self.monitor(domain, "__com.vmd_query-guest-cpus")
        return view

    def guest_online(self, domain: str) -> str:
        """The CPUs online in the guest, as a cpu list ("0-2,5")."""
        return str(self.guest_cpus(domain)["online"])

    def check_vcpu_threads(self, domain: str, cpus: list[dict[str, Any]]) -> None:
        """Every vCPU of `cpus` (query-cpus-fast) is a thread of the domain's emulator named as
        vmd names it (vcpu<cpu-index>)."""
        pid = self.emulator_pid(domain)
        for cpu in cpus:
            comm = Path(f"/proc/{pid}/task/{cpu['thread-id']}/comm").read_text().strip()
            assert comm == f"vcpu{cpu['cpu-index']}", cpu

    def check_emulator_cmdline(self, domain: str, machine: str) -> None:
        """libvirt started the domain's emulator as another target's vmd (-vmd-target) with a
        machine type of `machine` (a versioned name: "pseries-7.2", ...)."""
        cmdline = Path(f"/proc/{self.emulator_pid(domain)}/cmdline").read_bytes().split(b"\0")
        assert b"-vmd-target" in cmdline
        assert any(arg.startswith(machine.encode()) for arg in cmdline), cmdline

    def shutdown_and_wait(self, domain: str, timeout: float) -> None:
        """`virsh shutdown`: the guest powers off, the domain goes, its emulator exits."""
        pid = self.emulator_pid(domain)
        self.virsh("shutdown", domain)
        wait_until(lambda: not self.exists(domain), timeout, "the domain to go away")
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout, "vmd to exit")

    def create(self, name: str, xml: str) -> Virsh:
        path = self.workdir / f"{name}.xml"
        path.write_text(xml)
        return self.virsh("create", str(path), check=False)

    def emulator_pid(self, name: str) -> int:
        return int((self.run_dir / f"{name}.pid").read_text())

    @property
    def run_dir(self) -> Path:
        """Where this libvirtd keeps its emulators' pid files, as this process sees it."""
        return RUN_DIR

    def exists(self, name: str) -> bool:
        return self.virsh("domstate", name, check=False).ok

    def destroy_quietly(self, name: str) -> None:
        if self.exists(name):
            self.virsh("destroy", name, check=False)

    def vcpucount_live(self, name: str) -> int:
        return int(self.virsh("vcpucount", name, "--live", "--active").stdout.strip())

    def domstats_vcpu(self, name: str) -> dict[str, str]:
        out = self.virsh("domstats", "--vcpu", name).stdout
        pairs = (line.strip().split("=", 1) for line in out.splitlines() if "=" in line)
        return {key: value for key, value in pairs}


# What a second system libvirtd needs of its own: everything it writes.  /etc/libvirt (qemu.conf
# and the empty set of persistent domains) is shared with the first.
_PEER_DIRS = {
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
}


class PeerLibvirt(Libvirt):
    """A second virtlogd + libvirtd on this host, the other end of a live migration.

    A root libvirtd always uses the system paths (/run/libvirt, /var/lib/libvirt, ...), so this
    one runs in a mount namespace of its own (unshare) where directories under `workdir` are
    bound over those paths, and its libvirtd.conf gives it another host UUID: libvirt refuses a
    migration between two daemons with the same one (`Attempt to migrate guest to the same
    host`).  Its virsh goes through its own socket (qemu+unix:///system?socket=...).  The
    network is shared, so the emulators it starts listen on this host's loopback.  Start it
    after the host's :class:`Libvirt` (whose host lock and qemu.conf it relies on) and stop it
    before."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.dirs = {key: workdir / f"peer-{key}" for key in _PEER_DIRS}
        self.uri = f"qemu+unix:///system?socket={self.dirs['run'] / 'libvirt-sock'}"

    @property
    def run_dir(self) -> Path:
        return self.dirs["run"] / "qemu"

    def start(self) -> None:
        for tool in ("unshare", "mount"):  # util-linux and mount: on every Debian (essential)
            if shutil.which(tool) is None:
                raise LibvirtError(f"the second libvirtd needs {tool}, which is not installed")
        for path in self.dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        self._conf.write_text(
            'auth_unix_ro = "none"\n'
            'auth_unix_rw = "none"\n'
            f'host_uuid = "{uuid.uuid4()}"\n'
            'log_filters = "1:qemu.qemu_monitor 1:qemu.qemu_monitor_json 3:*"\n'
            f'log_outputs = "1:file:{self.log}"\n'
        )
        for pidfile in (self._libvirtd_pidfile, self._virtlogd_pidfile):
            with contextlib.suppress(FileNotFoundError):
                pidfile.unlink()
        # The mount points exist on the host too (the first libvirtd made /run/libvirt).
        binds = " && ".join(
            f"mkdir -p {target} && mount --bind {self.dirs[key]} {target}"
            for key, target in _PEER_DIRS.items()
        )
        script = (
            f"{binds} && virtlogd -d -p {self._virtlogd_pidfile}"
            f" && exec libvirtd -d -f {self._conf} -p {self._libvirtd_pidfile}"
        )
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        reaper = subprocess.Popen([sys.executable, str(REAPER), *argv], stdin=subprocess.DEVNULL)
        self._reapers.append(reaper)

        def written(pidfile: Path) -> bool:
            if reaper.poll() is not None:
                raise LibvirtError(f"the peer libvirtd did not start: see {self.log}")
            return pidfile.exists() and pidfile.read_text().strip() != ""

        wait_until(lambda: written(self._virtlogd_pidfile), 30.0, "the peer virtlogd")
        wait_until(lambda: written(self._libvirtd_pidfile), 30.0, "the peer libvirtd")
        self.virtlogd_pid = int(self._virtlogd_pidfile.read_text())
        self.libvirtd_pid = int(self._libvirtd_pidfile.read_text())
        wait_until(lambda: self.virsh("version", check=False).ok, 60.0, "the peer libvirtd to answer", 0.1)

    def stop(self) -> None:
        # Whatever a failed test left here (a migrated domain, a half-started incoming one) goes
        # first: libvirtd leaves its emulators running when it stops.
        if self.libvirtd_pid is not None:
            listed = self.virsh("list", "--name", check=False)
            for name in listed.stdout.split() if listed.ok else ():
                self.virsh("destroy", name, check=False)
        self._stop_daemons()


@contextlib.contextmanager
def running_libvirt(workdir: Path) -> Iterator[Libvirt]:
    libvirt = Libvirt(workdir)
    try:
        libvirt.start()
        yield libvirt
    finally:
        libvirt.stop()
