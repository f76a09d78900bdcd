"""Unmodified libvirt 9.0 talks to vmd's modelled guest agent: guestvcpus, setvcpus --guest,
vcpucount --guest, guestinfo, shutdown through the agent, and an agent that is absent or hung.

The domain has libvirt's agent channel (`<channel type='unix'>` with the target
org.qemu.guest_agent.0): libvirt passes vmd a listening socket for it, and connects once vmd says
the guest opened the port (VSERPORT_CHANGE).  What virsh prints and the errors it gives are those
../shared/spec/guest-agent.md measured with a real qemu-ga 7.2; what the guest did is checked on
vmd's side, through libvirt's monitor connection.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.libvirt.conftest import Domain
from tests.libvirt.harness import Libvirt, wait_until

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0
AGENT_CHANNEL = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"


def _agent_connected(libvirt: Libvirt, name: str) -> bool:
    xml = libvirt.virsh("dumpxml", name).stdout
    return "name='org.qemu.guest_agent.0' state='connected'" in xml


def _start(libvirt: Libvirt, domains: Domain, *, current: int = 4, extra_args: tuple[str, ...] = ()) -> str:
    name = domains.start(current=current, devices=AGENT_CHANNEL, extra_args=extra_args)
    online = "0" if current == 1 else f"0-{current - 1}"
    wait_until(lambda: libvirt.guest_online(name) == online, TIMEOUT, "the guest to online its CPUs")
    return name


def _guestvcpus(libvirt: Libvirt, name: str) -> dict[str, str]:
    out = libvirt.virsh("guestvcpus", name).stdout
    return {
        key.strip(): value.strip()
        for key, value in (line.split(":", 1) for line in out.splitlines() if ":" in line)
    }


def _emulator_log(name: str) -> str:
    return Path(f"/var/log/libvirt/qemu/{name}.log").read_text()


def test_the_channel_devices_and_the_agent_connecting(libvirt: Libvirt, domains: Domain) -> None:
    name = _start(libvirt, domains)
    wait_until(lambda: _agent_connected(libvirt, name), TIMEOUT, "libvirt to connect to the agent")
    peripheral = {
        p["name"]: p["type"] for p in libvirt.monitor(name, "qom-list", {"path": "/machine/peripheral"})
    }
    assert peripheral["virtio-serial0"] == "child<virtio-serial-pci>"
    assert peripheral["channel0"] == "child<virtserialport>"
    chardevs = {c["label"]: c for c in libvirt.monitor(name, "query-chardev")}
    channel = chardevs["charchannel0"]
    assert channel["frontend-open"] is True
    assert re.fullmatch(
        r"unix:/var/lib/libvirt/qemu/channel/target/domain-\d+-[^/]+/org\.qemu\.guest_agent\.0,server=on",
        channel["filename"],
    ), channel
    cmdline = Path(f"/proc/{libvirt.emulator_pid(name)}/cmdline").read_bytes().split(b"\0")
    assert any(re.fullmatch(rb"socket,id=charchannel0,fd=\d+,server=on,wait=off", arg) for arg in cmdline)


def test_guestvcpus_lists_and_sets_the_guests_cpus(libvirt: Libvirt, domains: Domain) -> None:
    name = _start(libvirt, domains)
    wait_until(lambda: _agent_connected(libvirt, name), TIMEOUT, "libvirt to connect to the agent")
    assert _guestvcpus(libvirt, name) == {"vcpus": "0-3", "online": "0-3", "offlinable": "1-3"}
    libvirt.virsh("guestvcpus", name, "--cpulist", "2", "--disable")
    assert libvirt.guest_online(name) == "0-1,3"
    assert _guestvcpus(libvirt, name) == {"vcpus": "0-3", "online": "0-1,3", "offlinable": "1-3"}
    refused = libvirt.virsh("guestvcpus", name, "--cpulist", "0", "--disable", check=False)
    assert not refused.ok
    assert "Operation not supported: vCPU '0' is not offlinable" in refused.stderr
    missing = libvirt.virsh("guestvcpus", name, "--cpulist", "7", "--enable", check=False)
    assert "invalid argument: guest is missing vCPUs '7'" in missing.stderr
    libvirt.virsh("guestvcpus", name, "--cpulist", "1-3", "--enable")
    assert libvirt.guest_online(name) == "0-3"
    # The hypervisor's view is libvirt's own: it never merges the agent's into it.
    assert libvirt.vcpucount_live(name) == 4
    # A restarted libvirtd reads the port's state from query-chardev and connects again.
    libvirt.stop_libvirtd()
    libvirt.start_libvirtd()
    wait_until(lambda: _agent_connected(libvirt, name), TIMEOUT, "libvirt to reconnect to the agent")
    assert _guestvcpus(libvirt, name) == {"vcpus": "0-3", "online": "0-3", "offlinable": "1-3"}


def test_setvcpus_guest_and_vcpucount_guest(libvirt: Libvirt, domains: Domain) -> None:
    name = _start(libvirt, domains)
    wait_until(lambda: _agent_connected(libvirt, name), TIMEOUT, "libvirt to connect to the agent")
    libvirt.virsh("setvcpus", name, "2", "--guest")
    # libvirt walks the agent's list in its order, cpu3, cpu1, cpu2, cpu0: 3 and 1 go.
    assert libvirt.guest_online(name) == "0,2"
    assert libvirt.virsh("vcpucount", name, "--guest").stdout.strip() == "2"
    libvirt.virsh("setvcpus", name, "1", "--guest")
    assert libvirt.guest_online(name) == "0"
    libvirt.virsh("setvcpus", name, "4", "--guest")
    assert libvirt.guest_online(name) == "0-3"
    too_many = libvirt.virsh("setvcpus", name, "5", "--guest", check=False)
    assert (
        "requested vcpu count is greater than the count of enabled vcpus in the domain: 5 > 4"
        in too_many.stderr
    )
    assert libvirt.vcpucount_live(name) == 4


def test_guestinfo_reports_the_guest_model(libvirt: Libvirt, domains: Domain) -> None:
    name = _start(libvirt, domains, current=1)
    wait_until(lambda: _agent_connected(libvirt, name), TIMEOUT, "libvirt to connect to the agent")
    out = libvirt.virsh("guestinfo", name).stdout
    info = {
        key.strip(): value.strip()
        for key, value in (line.split(":", 1) for line in out.splitlines() if ":" in line)
    }
    assert info["os.id"] == "vmd"
    assert info["os.machine"] == "x86_64"
    assert info["os.kernel-release"] == "vmd-0.1.0"
    assert info["hostname"] == name
    assert (info["timezone.name"], info["timezone.offset"]) == ("UTC", "0")
    os_only = libvirt.virsh("guestinfo", name, "--os").stdout
    assert "hostname" not in os_only
    assert "os.name" in os_only
    seconds = int(libvirt.virsh("domtime", name).stdout.split(":", 1)[1])
    assert abs(seconds - time.time()) < 60


def test_shutdown_goes_through_the_agent(libvirt: Libvirt, domains: Domain) -> None:
    name = _start(libvirt, domains, current=1)
    wait_until(lambda: _agent_connected(libvirt, name), TIMEOUT, "libvirt to connect to the agent")
    libvirt.virsh("shutdown", name)
    wait_until(lambda: not libvirt.exists(name), TIMEOUT, "the domain to go (on_poweroff destroy)")
    log = _emulator_log(name)
    assert "guest agent: guest-shutdown mode=powerdown" in log
    assert "power button pressed" not in log  # libvirt sent no system_powerdown


def test_an_absent_agent_and_no_channel_give_libvirts_errors(libvirt: Libvirt, domains: Domain) -> None:
    absent = _start(libvirt, domains, current=1, extra_args=("-vmd-guest", "agent=off"))
    result = libvirt.virsh("guestvcpus", absent, check=False)
    assert "Guest agent is not responding: QEMU guest agent is not connected" in result.stderr
    assert not _agent_connected(libvirt, absent)
    libvirt.virsh("shutdown", absent)  # no agent: the ACPI power button, as today
    wait_until(lambda: not libvirt.exists(absent), TIMEOUT, "the domain to go")
    assert "power button pressed" in _emulator_log(absent)
    unconfigured = domains.start()
    result = libvirt.virsh("guestvcpus", unconfigured, check=False)
    assert "argument unsupported: QEMU guest agent is not configured" in result.stderr


def test_a_silent_agent_times_libvirt_out_and_vmd_keeps_serving(libvirt: Libvirt, domains: Domain) -> None:
    name = _start(libvirt, domains, current=1, extra_args=("-vmd-guest", "agent=silent"))
    wait_until(lambda: _agent_connected(libvirt, name), TIMEOUT, "libvirt to connect to the agent")
    result = libvirt.virsh("guestvcpus", name, check=False)
    assert "Guest agent is not responding: Guest agent not available for now" in result.stderr
    assert libvirt.monitor(name, "query-status")["status"] == "running"
    # The agent comes back: libvirt re-syncs on the same connection and goes on.
    libvirt.monitor(name, "__com.vmd_set-guest-policy", {"agent": "on"})
    assert _guestvcpus(libvirt, name) == {"vcpus": "0", "online": "0", "offlinable": ""}
    # A hung agent on a new connection (libvirt syncs first): `virsh shutdown` tries the agent, its
    # sync times out, and libvirt falls back to the power button.  (On a connection in sync libvirt
    # would send guest-shutdown unsynced and wait its 60 s for SHUTDOWN, as with a real hung agent.)
    libvirt.monitor(name, "__com.vmd_set-guest-policy", {"agent": "off"})
    wait_until(lambda: not _agent_connected(libvirt, name), TIMEOUT, "libvirt to drop the agent")
    libvirt.monitor(name, "__com.vmd_set-guest-policy", {"agent": "silent"})
    wait_until(lambda: _agent_connected(libvirt, name), TIMEOUT, "libvirt to connect again")
    libvirt.virsh("shutdown", name)
    wait_until(lambda: not libvirt.exists(name), TIMEOUT, "the domain to go")
    log = _emulator_log(name)
    assert "power button pressed" in log
    assert "guest-shutdown" not in log
