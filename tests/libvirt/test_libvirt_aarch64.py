"""Unmodified libvirt 9.0 manages an ARM virt domain whose emulator is vmd-system-aarch64 (GICv3,
cortex-a57: vCPU hotplug on): probe, start, setvcpus up and down, setvcpu, vcpuinfo on vmd's
threads, shutdown.

libvirt drives ARM vCPU hotplug exactly as x86's: it reads query-hotpluggable-cpus (which it
asks only because query-machines says `hotpluggable-cpus: true` for virt, vmd's divergence from
7.2), plugs with device_add of the slot's props and unplugs with device_del, waiting for
DEVICE_DELETED.
"""

from __future__ import annotations

import pytest

from tests.libvirt.conftest import Domain
from tests.libvirt.harness import Libvirt, aarch64_domain_xml, wait_until

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0


@pytest.fixture
def domain(domains: Domain) -> str:
    return domains.create(
        "vmd-aarch64",
        lambda name, emulator: aarch64_domain_xml(name, emulator, maxvcpus=4, current=1),
        "aarch64",
    )


def _guest(libvirt: Libvirt, name: str) -> dict[str, str]:
    view = libvirt.guest_cpus(name)
    return {key: view[key] for key in ("present", "enabled", "online")}


def test_an_aarch64_domain_plugs_and_unplugs_vcpus(libvirt: Libvirt, domain: str) -> None:
    name = domain
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.monitor(name, "query-target") == {"arch": "aarch64"}
    libvirt.check_emulator_cmdline(name, "virt-7.2")

    result = libvirt.virsh("setvcpus", name, "3", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 3
    cpus = libvirt.cpus(name)
    assert [(c["cpu-index"], c["qom-path"]) for c in cpus] == [
        (0, "/machine/unattached/device[0]"),
        (1, "/machine/peripheral/vcpu1"),
        (2, "/machine/peripheral/vcpu2"),
    ]
    libvirt.check_vcpu_threads(name, cpus)
    wait_until(lambda: _guest(libvirt, name)["online"] == "0-2", TIMEOUT, "the guest to online them")
    assert _guest(libvirt, name) == {"present": "0-3", "enabled": "0-2", "online": "0-2"}
    info = libvirt.virsh("vcpuinfo", name).stdout
    assert len([block for block in info.split("\n\n") if block.strip()]) == 3

    result = libvirt.virsh("setvcpus", name, "1", "--live", check=False)
    assert result.ok, result.stderr
    assert libvirt.vcpucount_live(name) == 1
    assert [c["cpu-index"] for c in libvirt.cpus(name)] == [0]
    assert _guest(libvirt, name) == {"present": "0-3", "enabled": "0", "online": "0"}

    result = libvirt.virsh("setvcpu", name, "3", "--enable", "--live", check=False)
    assert result.ok, result.stderr
    assert [c["cpu-index"] for c in libvirt.cpus(name)] == [0, 3]
    result = libvirt.virsh("setvcpu", name, "3", "--disable", "--live", check=False)
    assert result.ok, result.stderr
    assert [c["cpu-index"] for c in libvirt.cpus(name)] == [0]
    stats = libvirt.monitor(name, "query-stats", {"target": "vm"})
    values = {s["name"]: s["value"] for entry in stats for s in entry["stats"]}
    assert (values["present_vcpus"], values["parked_vcpus"]) == (1, 3)

    # What libvirt refuses by itself: the boot vCPU is not hot-pluggable in the domain.
    refused = libvirt.virsh("setvcpu", name, "0", "--disable", "--live", check=False)
    assert not refused.ok
    assert refused.stderr.strip() == "error: Operation not supported: vcpu '0' can't be unplugged"

    libvirt.shutdown_and_wait(name, TIMEOUT)


def test_without_acpi_libvirt_cannot_plug(libvirt: Libvirt, domains: Domain) -> None:
    """What libvirt does by itself on aarch64 without UEFI (-no-acpi): vmd has no GED then, and
    says so with the RFC's words; nothing changes."""
    name = domains.create(
        "vmd-aarch64",
        lambda name, emulator: aarch64_domain_xml(name, emulator, maxvcpus=4, current=1, acpi_on=False),
        "aarch64",
    )
    refused = libvirt.virsh("setvcpus", name, "2", "--live", check=False)
    assert not refused.ok
    assert refused.stderr.strip() == (
        "error: internal error: unable to execute QEMU command 'device_add': GED acpi device does not exists"
    )
    assert libvirt.vcpucount_live(name) == 1
    assert [c["cpu-index"] for c in libvirt.cpus(name)] == [0]
