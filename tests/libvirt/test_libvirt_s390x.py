"""Unmodified libvirt 9.0 manages an s390x domain whose emulator is vmd-system-s390x: probe,
start, setvcpus up, setvcpus down refused (s390x CPUs can be added, never removed), vcpuinfo on
vmd's threads, shutdown.

What libvirt says when asked to take vCPUs away is libvirt's and vmd's together: libvirt sends
device_del, vmd answers with QEMU 7.2's refusal, and nothing changes on either side.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.libvirt.harness import Libvirt, emulator_wrapper, s390x_domain_xml, wait_until

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0
_names = itertools.count(1)


@pytest.fixture
def domain(libvirt: Libvirt) -> Iterator[str]:
    emulator = emulator_wrapper(libvirt.workdir, "s390x")
    name = f"vmd-s390x-{os.getpid()}-{next(_names)}"
    created = libvirt.create(name, s390x_domain_xml(name, str(emulator), maxvcpus=4, current=1))
    assert created.ok, f"virsh create: {created.stderr}\n{libvirt.log.read_text()[-4000:]}"
    yield name
    libvirt.destroy_quietly(name)


def _cpus(libvirt: Libvirt, name: str) -> list[dict[str, Any]]:
    cpus: list[dict[str, Any]] = libvirt.monitor(name, "query-cpus-fast")
    return cpus


def _guest(libvirt: Libvirt, name: str) -> dict[str, str]:
    view = libvirt.monitor(name, "__com.vmd_query-guest-cpus")
    return {key: view[key] for key in ("present", "configured", "online")}


def test_an_s390x_domain_hot_adds_vcpus_and_refuses_to_remove_them(libvirt: Libvirt, domain: str) -> None:
    name = domain
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert libvirt.monitor(name, "query-target") == {"arch": "s390x"}
    pid = libvirt.emulator_pid(name)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"-vmd-target" in cmdline
    assert any(arg.startswith(b"s390-ccw-virtio-7.2") for arg in cmdline)

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
    # The guest found them in standby and, by its policy, configured them and brought them up.
    wait_until(lambda: _guest(libvirt, name)["online"] == "0-2", TIMEOUT, "the guest to online them")
    assert _guest(libvirt, name) == {"present": "0-2", "configured": "0-2", "online": "0-2"}
    wait_until(
        lambda: {c["cpu-state"] for c in _cpus(libvirt, name)} == {"operating"},
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
    assert len(_cpus(libvirt, name)) == 3
    assert _guest(libvirt, name)["online"] == "0-2"

    libvirt.virsh("shutdown", name)
    wait_until(lambda: not libvirt.exists(name), TIMEOUT, "the domain to go away")
    wait_until(lambda: not Path(f"/proc/{pid}").exists(), TIMEOUT, "vmd to exit")
