"""Unmodified libvirt 9.0 manages a pseries domain whose emulator is vmd-system-ppc64: probe,
start, setvcpus up and down in whole cores of 4 threads, setvcpu of a core's vCPUs, vcpuinfo on
vmd's threads, a libvirtd restart that finds the domain again, shutdown.

libvirt's ppc64 rule is that vCPUs come and go a core at a time: `setvcpus 8` adds one core
(device_add of a power9_v2.0-spapr-cpu-core with its core-id), `setvcpus 4` removes it
(device_del; the guest offlines the threads and releases the DR connector, vmd sends
DEVICE_DELETED long before libvirt's 10 s ppc64 unplug timeout).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.libvirt.harness import Libvirt, emulator_wrapper, pseries_domain_xml, wait_until

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0
_names = itertools.count(1)


@pytest.fixture
def domain(libvirt: Libvirt) -> Iterator[str]:
    emulator = emulator_wrapper(libvirt.workdir, "ppc64")
    name = f"vmd-pseries-{os.getpid()}-{next(_names)}"
    created = libvirt.create(name, pseries_domain_xml(name, str(emulator), cores=4, threads=4))
    assert created.ok, f"virsh create: {created.stderr}\n{libvirt.log.read_text()[-4000:]}"
    yield name
    libvirt.destroy_quietly(name)


def _cpus(libvirt: Libvirt, name: str) -> list[dict[str, Any]]:
    cpus: list[dict[str, Any]] = libvirt.monitor(name, "query-cpus-fast")
    return cpus


def _online(libvirt: Libvirt, name: str) -> str:
    view = libvirt.monitor(name, "__com.vmd_query-guest-cpus")
    return str(view["online"])


def test_a_pseries_domain_adds_and_removes_whole_cores(libvirt: Libvirt, domain: str) -> None:
    name = domain
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.monitor(name, "query-target") == {"arch": "ppc64"}
    pid = libvirt.emulator_pid(name)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"-vmd-target" in cmdline
    assert any(arg.startswith(b"pseries-7.2") for arg in cmdline)
    assert libvirt.vcpucount_live(name) == 4
    wait_until(lambda: _online(libvirt, name) == "0-3", TIMEOUT, "the boot core online")

    result = libvirt.virsh("setvcpus", name, "8", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 8
    cpus = _cpus(libvirt, name)
    assert [c["cpu-index"] for c in cpus] == list(range(8))
    assert {c["props"]["core-id"] for c in cpus[4:]} == {4}
    for cpu in cpus:
        comm = Path(f"/proc/{pid}/task/{cpu['thread-id']}/comm").read_text().strip()
        assert comm == f"vcpu{cpu['cpu-index']}"
    wait_until(lambda: _online(libvirt, name) == "0-7", TIMEOUT, "the guest to online the core")

    info = libvirt.virsh("vcpuinfo", name).stdout
    assert len([block for block in info.split("\n\n") if block.strip()]) == 8

    result = libvirt.virsh("setvcpus", name, "4", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 4
    assert [c["cpu-index"] for c in _cpus(libvirt, name)] == list(range(4))
    assert _online(libvirt, name) == "0-3"

    # setvcpu of one core's vCPUs (libvirt takes a hot-pluggable group whole).
    result = libvirt.virsh("setvcpu", name, "8-11", "--enable", "--live", check=False)
    assert result.ok, result.stderr
    cpus = _cpus(libvirt, name)
    assert [c["cpu-index"] for c in cpus] == [*range(4), *range(8, 12)]
    wait_until(lambda: _online(libvirt, name) == "0-3,8-11", TIMEOUT, "the guest to online the core")

    # libvirtd goes away and comes back: it finds the running domain and its cores again.
    libvirt.stop_libvirtd()
    libvirt.start_libvirtd()
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.emulator_pid(name) == pid
    assert libvirt.vcpucount_live(name) == 8
    result = libvirt.virsh("setvcpu", name, "8-11", "--disable", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 4
    assert _online(libvirt, name) == "0-3"

    libvirt.virsh("shutdown", name)
    wait_until(lambda: not libvirt.exists(name), TIMEOUT, "the domain to go away")
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), TIMEOUT, "vmd to exit")
