"""Unmodified libvirt 9.0 manages an ARM virt domain whose emulator is vmd-system-aarch64 (GICv3,
cortex-a57: vCPU hotplug on): probe, start, setvcpus up and down, setvcpu, vcpuinfo on vmd's
threads, shutdown.

libvirt drives ARM vCPU hotplug exactly as x86's: it reads query-hotpluggable-cpus (which it
asks only because query-machines says `hotpluggable-cpus: true` for virt, vmd's divergence from
7.2), plugs with device_add of the slot's props and unplugs with device_del, waiting for
DEVICE_DELETED.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.libvirt.harness import Libvirt, aarch64_domain_xml, emulator_wrapper, wait_until

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0
_names = itertools.count(1)


@pytest.fixture
def domain(libvirt: Libvirt) -> Iterator[str]:
    emulator = emulator_wrapper(libvirt.workdir, "aarch64")
    name = f"vmd-aarch64-{os.getpid()}-{next(_names)}"
    created = libvirt.create(name, aarch64_domain_xml(name, str(emulator), maxvcpus=4, current=1))
    assert created.ok, f"virsh create: {created.stderr}\n{libvirt.log.read_text()[-4000:]}"
    yield name
    libvirt.destroy_quietly(name)


def _cpus(libvirt: Libvirt, name: str) -> list[dict[str, Any]]:
    cpus: list[dict[str, Any]] = libvirt.monitor(name, "query-cpus-fast")
    return cpus


def _guest(libvirt: Libvirt, name: str) -> dict[str, str]:
    view = libvirt.monitor(name, "__com.vmd_query-guest-cpus")
    return {key: view[key] for key in ("present", "enabled", "online")}


def test_an_aarch64_domain_plugs_and_unplugs_vcpus(libvirt: Libvirt, domain: str) -> None:
    name = domain
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.monitor(name, "query-target") == {"arch": "aarch64"}
    pid = libvirt.emulator_pid(name)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"-vmd-target" in cmdline
    assert any(arg.startswith(b"virt-7.2") for arg in cmdline)

    result = libvirt.virsh("setvcpus", name, "3", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 3
    cpus = _cpus(libvirt, name)
    assert [(c["cpu-index"], c["qom-path"]) for c in cpus] == [
        (0, "/machine/unattached/device[0]"),
        (1, "/machine/peripheral/vcpu1"),
        (2, "/machine/peripheral/vcpu2"),
    ]
    for cpu in cpus:
        comm = Path(f"/proc/{pid}/task/{cpu['thread-id']}/comm").read_text().strip()
        assert comm == f"vcpu{cpu['cpu-index']}"
    wait_until(lambda: _guest(libvirt, name)["online"] == "0-2", TIMEOUT, "the guest to online them")
    assert _guest(libvirt, name) == {"present": "0-3", "enabled": "0-2", "online": "0-2"}
    info = libvirt.virsh("vcpuinfo", name).stdout
    assert len([block for block in info.split("\n\n") if block.strip()]) == 3

    result = libvirt.virsh("setvcpus", name, "1", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 1
    assert [c["cpu-index"] for c in _cpus(libvirt, name)] == [0]
    assert _guest(libvirt, name) == {"present": "0-3", "enabled": "0", "online": "0"}

    result = libvirt.virsh("setvcpu", name, "3", "--enable", "--live", check=False)
    assert result.ok, result.stderr
    assert [c["cpu-index"] for c in _cpus(libvirt, name)] == [0, 3]
    result = libvirt.virsh("setvcpu", name, "3", "--disable", "--live", check=False)
    assert result.ok, result.stderr
    assert [c["cpu-index"] for c in _cpus(libvirt, name)] == [0]
    stats = libvirt.monitor(name, "query-stats", {"target": "vm"})
    values = {s["name"]: s["value"] for entry in stats for s in entry["stats"]}
    assert (values["present_vcpus"], values["parked_vcpus"]) == (1, 3)

    # What libvirt refuses by itself: the boot vCPU is not hot-pluggable in the domain.
    refused = libvirt.virsh("setvcpu", name, "0", "--disable", "--live", check=False)
    assert not refused.ok
    assert refused.stderr.strip() == "error: Operation not supported: vcpu '0' can't be unplugged"

    libvirt.virsh("shutdown", name)
    wait_until(lambda: not libvirt.exists(name), TIMEOUT, "the domain to go away")
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), TIMEOUT, "vmd to exit")


def test_without_acpi_libvirt_cannot_plug(libvirt: Libvirt) -> None:
    """What libvirt does by itself on aarch64 without UEFI (-no-acpi): vmd has no GED then, and
    says so with the RFC's words; nothing changes."""
    emulator = emulator_wrapper(libvirt.workdir, "aarch64")
    name = f"vmd-aarch64-{os.getpid()}-{next(_names)}"
    xml = aarch64_domain_xml(name, str(emulator), maxvcpus=4, current=1, acpi_on=False)
    created = libvirt.create(name, xml)
    assert created.ok, created.stderr
    try:
        refused = libvirt.virsh("setvcpus", name, "2", "--live", check=False)
        assert not refused.ok
        assert refused.stderr.strip() == (
            "error: internal error: unable to execute QEMU command 'device_add': "
            "GED acpi device does not exists"
        )
        assert libvirt.vcpucount_live(name) == 1
        assert [c["cpu-index"] for c in _cpus(libvirt, name)] == [0]
    finally:
        libvirt.destroy_quietly(name)
