"""Unmodified libvirt 9.0 manages a pseries domain whose emulator is vmd-system-ppc64: probe,
start, setvcpus up and down in whole cores of 4 threads, setvcpu of a core's vCPUs, vcpuinfo on
vmd's threads, a libvirtd restart that finds the domain again, shutdown.

libvirt's ppc64 rule is that vCPUs come and go a core at a time: `setvcpus 8` adds one core
(device_add of a power9_v2.0-spapr-cpu-core with its core-id), `setvcpus 4` removes it
(device_del; the guest offlines the threads and releases the DR connector, vmd sends
DEVICE_DELETED long before libvirt's 10 s ppc64 unplug timeout).
"""

from __future__ import annotations

import pytest

from tests.libvirt.conftest import Domain
from tests.libvirt.harness import Libvirt, pseries_domain_xml, wait_until

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0


@pytest.fixture
def domain(domains: Domain) -> str:
    return domains.create(
        "vmd-pseries", lambda name, emulator: pseries_domain_xml(name, emulator, cores=4, threads=4), "ppc64"
    )


def test_a_pseries_domain_adds_and_removes_whole_cores(libvirt: Libvirt, domain: str) -> None:
    name = domain
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.monitor(name, "query-target") == {"arch": "ppc64"}
    pid = libvirt.emulator_pid(name)
    libvirt.check_emulator_cmdline(name, "pseries-7.2")
    assert libvirt.vcpucount_live(name) == 4
    wait_until(lambda: libvirt.guest_online(name) == "0-3", TIMEOUT, "the boot core online")

    result = libvirt.virsh("setvcpus", name, "8", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 8
    cpus = libvirt.cpus(name)
    assert [c["cpu-index"] for c in cpus] == list(range(8))
    assert {c["props"]["core-id"] for c in cpus[4:]} == {4}
    libvirt.check_vcpu_threads(name, cpus)
    wait_until(lambda: libvirt.guest_online(name) == "0-7", TIMEOUT, "the guest to online the core")

    info = libvirt.virsh("vcpuinfo", name).stdout
    assert len([block for block in info.split("\n\n") if block.strip()]) == 8

    result = libvirt.virsh("setvcpus", name, "4", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 4
    assert [c["cpu-index"] for c in libvirt.cpus(name)] == list(range(4))
    assert libvirt.guest_online(name) == "0-3"

    # setvcpu of one core's vCPUs (libvirt takes a hot-pluggable group whole).
    result = libvirt.virsh("setvcpu", name, "8-11", "--enable", "--live", check=False)
    assert result.ok, result.stderr
    cpus = libvirt.cpus(name)
    assert [c["cpu-index"] for c in cpus] == [*range(4), *range(8, 12)]
    wait_until(lambda: libvirt.guest_online(name) == "0-3,8-11", TIMEOUT, "the guest to online the core")

    # libvirtd goes away and comes back: it finds the running domain and its cores again.
    libvirt.stop_libvirtd()
    libvirt.start_libvirtd()
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.emulator_pid(name) == pid
    assert libvirt.vcpucount_live(name) == 8
    result = libvirt.virsh("setvcpu", name, "8-11", "--disable", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 4
    assert libvirt.guest_online(name) == "0-3"

    libvirt.shutdown_and_wait(name, TIMEOUT)
