"""Unmodified libvirt 9.0 manages domains whose emulator is vmd: start, vCPU hotplug and unplug,
vCPU threads, statistics, a refusing guest, a libvirtd restart, shutdown and destroy.

Every step goes through virsh, as a user types it; what vmd did is then checked on vmd's side
(through libvirt's monitor connection) and on the host (/proc), so a step that virsh reports as
done but vmd did not do fails.  libvirt's own limits are the test's: an unplug must complete
within libvirt's 5 s wait, or virsh fails.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.libvirt.conftest import Domain
from tests.libvirt.harness import LIBVIRT_UNPLUG_WAIT, Libvirt, wait_until
from tests.peers import read_terminal

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0


def _threads(libvirt: Libvirt, name: str) -> dict[int, int]:
    """cpu-index -> thread-id, as vmd reports them."""
    return {cpu["cpu-index"]: cpu["thread-id"] for cpu in libvirt.cpus(name)}


def test_start_runs_vmd_with_real_vcpu_threads(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start(current=2)
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.monitor(name, "query-status")["status"] == "running"
    pid = libvirt.emulator_pid(name)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"vmd" in cmdline  # the pid libvirt tracks is vmd itself, not the wrapper
    assert b"pc-q35-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram" in cmdline
    threads = _threads(libvirt, name)
    assert sorted(threads) == [0, 1]
    for index, tid in threads.items():
        assert Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip() == f"vcpu{index}"
    wait_until(lambda: libvirt.guest_online(name) == "0-1", TIMEOUT, "the guest to online both")


def test_domain_capabilities_are_vmds(libvirt: Libvirt, domains: Domain, emulator: Path) -> None:
    """What libvirt learnt from probing is what vmd says of itself: q35's vCPU limit and the
    CPU models (libvirt's domcapabilities against vmd's query-machines/-cpu-definitions)."""
    name = domains.start()
    machines = libvirt.monitor(name, "query-machines")
    q35 = next(m for m in machines if m.get("alias") == "q35")
    models = {m["name"] for m in libvirt.monitor(name, "query-cpu-definitions")}
    caps = libvirt.virsh(
        "domcapabilities", "--emulatorbin", str(emulator), "--virttype", "qemu", "--arch", "x86_64",
        "--machine", "q35",
    ).stdout  # fmt: skip
    assert f"<machine>{q35['name']}</machine>" in caps
    assert f"<vcpu max='{q35['cpu-max']}'/>" in caps
    listed = set(re.findall(r"<model usable='[a-z]+'[^>]*>([^<]+)</model>", caps))
    assert listed
    assert listed <= models


def test_setvcpus_up_to_the_maximum_and_back_down(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start()
    pid = libvirt.emulator_pid(name)
    for count in (2, 3, 4, 3, 2, 1):
        result = libvirt.virsh("setvcpus", name, str(count), "--live", check=False)
        # An unplug that missed libvirt's 5 s wait for DEVICE_DELETED fails here.
        assert result.ok, result.stderr
        assert libvirt.vcpucount_live(name) == count
        threads = _threads(libvirt, name)
        assert sorted(threads) == list(range(count))
        live_tasks = {int(tid) for tid in os.listdir(f"/proc/{pid}/task")}
        assert set(threads.values()) <= live_tasks
        want = "0" if count == 1 else f"0-{count - 1}"
        wait_until(lambda want=want: libvirt.guest_online(name) == want, TIMEOUT, f"online {want}")
    # Every unplugged vCPU thread is gone from the host.
    names = {Path(f"/proc/{pid}/task/{t}/comm").read_text().strip() for t in os.listdir(f"/proc/{pid}/task")}
    assert {n for n in names if n.startswith("vcpu")} == {"vcpu0"}


def test_setvcpu_enables_and_disables_one_vcpu(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start()
    libvirt.virsh("setvcpu", name, "2", "--enable", "--live")
    info = libvirt.virsh("vcpuinfo", name).stdout
    assert "VCPU:           2" in info
    assert libvirt.vcpucount_live(name) == 2
    slots = libvirt.monitor(name, "query-hotpluggable-cpus")
    plugged = {slot["props"]["socket-id"]: slot.get("qom-path") for slot in slots}
    assert plugged[2] == "/machine/peripheral/vcpu2"
    libvirt.virsh("setvcpu", name, "2", "--disable", "--live")
    assert "VCPU:           2" not in libvirt.virsh("vcpuinfo", name).stdout
    assert libvirt.vcpucount_live(name) == 1
    assert sorted(_threads(libvirt, name)) == [0]


def test_vcpuinfo_and_vcpupin_act_on_vmds_threads(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start(current=2)
    threads = _threads(libvirt, name)
    libvirt.virsh("vcpupin", name, "1", "0", "--live")
    assert os.sched_getaffinity(threads[1]) == {0}
    assert os.sched_getaffinity(threads[0]) == set(range(os.cpu_count() or 1))
    info = libvirt.virsh("vcpuinfo", name).stdout
    blocks = [block for block in info.split("\n\n") if block.strip()]
    assert len(blocks) == 2
    assert "CPU Affinity:   y" + "-" * ((os.cpu_count() or 1) - 1) in blocks[1]
    # libvirt moved each vCPU thread into its own cgroup.
    for index, tid in threads.items():
        assert f"vcpu{index}" in Path(f"/proc/{tid}/cgroup").read_text()


def test_domstats_shows_vmds_vcpu_statistics(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start(current=2)
    wait_until(lambda: libvirt.guest_online(name) == "0-1", TIMEOUT, "the guest to online both")
    stats = libvirt.domstats_vcpu(name)
    assert stats["vcpu.current"] == "2"
    assert stats["vcpu.maximum"] == "4"
    for index in (0, 1):
        assert stats[f"vcpu.{index}.state"] == "1"  # running
        # vmd's own counters, from query-stats (provider __com.vmd_engine).
        assert int(stats[f"vcpu.{index}.instructions.sum"]) > 0
        assert int(stats[f"vcpu.{index}.plugs.sum"]) >= 1
    assert int(stats["vcpu.1.hotplug_online_ns.cur"]) >= 0


def test_a_guest_that_refuses_unplug(libvirt: Libvirt, domains: Domain) -> None:
    """The guest policy comes from vmd's command line (libvirt's qemu:commandline)."""
    name = domains.start(current=3, extra_args=("-vmd-guest", "unplug=refuse"))
    result = libvirt.virsh("setvcpus", name, "1", "--live", check=False)
    assert not result.ok
    assert "unplug of device was rejected by the guest" in result.stderr
    # Nothing changed, and every view agrees.
    assert libvirt.vcpucount_live(name) == 3
    assert sorted(_threads(libvirt, name)) == [0, 1, 2]
    assert libvirt.guest_online(name) == "0-2"
    # Once the guest accepts, the same request works.
    libvirt.monitor(name, "__com.vmd_set-guest-policy", {"unplug": "accept"})
    libvirt.virsh("setvcpus", name, "1", "--live")
    assert libvirt.vcpucount_live(name) == 1


def test_a_guest_that_ignores_unplug(libvirt: Libvirt, domains: Domain) -> None:
    """No answer at all: libvirt gives up after its 5 s wait; nothing changed in vmd either, and
    once the guest answers, libvirt's retry works."""
    name = domains.start(current=3, extra_args=("-vmd-guest", "unplug=ignore"))
    result = libvirt.virsh("setvcpus", name, "2", "--live", check=False)
    assert not result.ok
    assert "vcpu unplug request timed out" in result.stderr
    assert result.seconds >= LIBVIRT_UNPLUG_WAIT
    assert libvirt.vcpucount_live(name) == 3
    assert sorted(_threads(libvirt, name)) == [0, 1, 2]
    libvirt.monitor(name, "__com.vmd_set-guest-policy", {"unplug": "accept"})
    libvirt.virsh("setvcpus", name, "2", "--live")
    assert libvirt.vcpucount_live(name) == 2
    assert sorted(_threads(libvirt, name)) == [0, 1]


def test_libvirtd_restart_reconnects_to_the_running_domain(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start(current=2)
    pid = libvirt.emulator_pid(name)
    libvirt.stop_libvirtd()
    libvirt.start_libvirtd()
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.emulator_pid(name) == pid
    assert libvirt.vcpucount_live(name) == 2
    libvirt.virsh("setvcpus", name, "4", "--live")
    libvirt.virsh("setvcpus", name, "1", "--live")
    assert libvirt.vcpucount_live(name) == 1


def test_serial_console_is_a_terminal(libvirt: Libvirt, domains: Domain) -> None:
    """libvirt's <serial type='pty'> with its <console>: what `virsh console` attaches to."""
    name = domains.start(
        devices="<serial type='pty'><target port='0'/></serial>"
        "<console type='pty'><target port='0'/></console>"
    )
    terminal = libvirt.virsh("ttyconsole", name).stdout.strip()
    assert terminal.startswith("/dev/pts/")
    chardevs = {c["label"]: c["filename"] for c in libvirt.monitor(name, "query-chardev")}
    assert chardevs["charserial0"] == f"pty:{terminal}"
    # The firmware prints its banner on COM1 at boot; the terminal kept it for whoever attaches.
    assert b"vmd firmware" in read_terminal(terminal, b"cpu0 up")
    peripherals = {p["name"] for p in libvirt.monitor(name, "qom-list", {"path": "/machine/peripheral"})}
    assert "serial0" in peripherals


def test_serial_log_file_handed_over_as_an_fd(libvirt: Libvirt, domains: Domain, tmp_path: Path) -> None:
    """<serial type='file'>: libvirt opens the file and passes it with -add-fd (/dev/fdset/N)."""
    log = tmp_path / "serial0.log"
    name = domains.start(devices=f"<serial type='file'><source path='{log}'/><target port='0'/></serial>")
    wait_until(lambda: log.exists() and b"cpu0 up" in log.read_bytes(), TIMEOUT, "the banner in the log")
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"


def test_shutdown_powers_the_guest_off(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start()
    pid = libvirt.emulator_pid(name)
    libvirt.virsh("shutdown", name)
    wait_until(lambda: not libvirt.exists(name), TIMEOUT, "the domain to go away")
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), TIMEOUT, "vmd to exit")


def test_destroy_ends_vmd(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start(current=2)
    pid = libvirt.emulator_pid(name)
    libvirt.virsh("destroy", name)
    assert not libvirt.exists(name)
    assert not Path(f"/proc/{pid}").exists()
