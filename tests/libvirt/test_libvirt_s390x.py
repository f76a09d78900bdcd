"""Unmodified libvirt 9.0 manages an s390x domain whose emulator is vmd-system-s390x: probe,
start, setvcpus up, setvcpus down refused (s390x CPUs can be added, never removed), vcpuinfo on
vmd's threads, shutdown.

What libvirt says when asked to take vCPUs away is libvirt's and vmd's together: libvirt sends
device_del, vmd answers with QEMU 7.2's refusal, and nothing changes on either side.
"""

from __future__ import annotations

import pytest

from tests.libvirt.conftest import Domain
from tests.libvirt.harness import Libvirt, s390x_domain_xml, wait_until

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0


@pytest.fixture
def domain(domains: Domain) -> str:
    return domains.create(
        "vmd-s390x", lambda name, emulator: s390x_domain_xml(name, emulator, maxvcpus=4, current=1), "s390x"
    )


def _guest(libvirt: Libvirt, name: str) -> dict[str, str]:
    view = libvirt.guest_cpus(name)
    return {key: view[key] for key in ("present", "configured", "online")}


def test_an_s390x_domain_hot_adds_vcpus_and_refuses_to_remove_them(libvirt: Libvirt, domain: str) -> None:
    name = domain
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.monitor(name, "query-target") == {"arch": "s390x"}
    libvirt.check_emulator_cmdline(name, "s390-ccw-virtio-7.2")

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
    # The guest found them in standby and, by its policy, configured them and brought them up.
    wait_until(lambda: _guest(libvirt, name)["online"] == "0-2", TIMEOUT, "the guest to online them")
    assert _guest(libvirt, name) == {"present": "0-2", "configured": "0-2", "online": "0-2"}
    wait_until(
        lambda: {c["cpu-state"] for c in libvirt.cpus(name)} == {"operating"},
        TIMEOUT,
        "cpu-state operating",
    )

    info = libvirt.virsh("vcpuinfo", name).stdout
    assert len([block for block in info.split("\n\n") if block.strip()]) == 3

    refused = libvirt.virsh("setvcpus", name, "1", "--live", check=False)
    assert not refused.ok
    # libvirt's words around vmd's (QEMU 7.2's) refusal; recorded in the README.
    assert refused.stderr.strip() == (
        "error: internal error: unable to execute QEMU command 'device_del': "
        "CPU hot unplug not supported on this machine"
    )
    assert libvirt.vcpucount_live(name) == 3
    assert len(libvirt.cpus(name)) == 3
    assert _guest(libvirt, name)["online"] == "0-2"

    libvirt.shutdown_and_wait(name, TIMEOUT)
