"""libvirt 9.0 saves and restores vmd domains: `virsh save` / `restore` and `managedsave` +
`start`, before and after `setvcpus 3 --live` (libvirt plugs the vCPUs into the `-S -incoming
defer` emulator before `migrate-incoming`, by slot).  The guest goes on where it stopped: its
RAM is the same when restored paused, and its counter keeps growing once it runs.  And
`virsh dump --memory-only` writes an ELF core of guest RAM."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from tests.elf_core import read_core
from tests.libvirt.conftest import Domain
from tests.libvirt.harness import Libvirt, domain_xml, wait_until
from tests.replies import as_dict

pytestmark = pytest.mark.libvirt

TIMEOUT = 20.0


def _ram(libvirt: Libvirt, name: str) -> dict[str, Any]:
    return as_dict(libvirt.monitor(name, "__com.vmd_query-guest-ram"))


def _plugged(libvirt: Libvirt, name: str) -> dict[int, str]:
    slots = libvirt.monitor(name, "query-hotpluggable-cpus")
    return {slot["props"]["socket-id"]: slot["qom-path"] for slot in slots if "qom-path" in slot}


def _save_and_restore(libvirt: Libvirt, name: str, save: Path) -> None:
    libvirt.virsh("save", name, str(save))
    assert not libvirt.exists(name)  # a transient domain is gone once saved
    libvirt.virsh("restore", "--paused", str(save))
    assert libvirt.virsh("domstate", name).stdout.strip() == "paused"


def test_save_and_restore(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start(extra_args=("-vmd-guest", "load=busy"))
    wait_until(lambda: int(_ram(libvirt, name)["guest-counter"]) > 0, TIMEOUT, "the guest works")
    save = libvirt.workdir / f"{name}.save"
    libvirt.virsh("suspend", name)
    before = _ram(libvirt, name)
    _save_and_restore(libvirt, name, save)
    assert _ram(libvirt, name) == before
    libvirt.virsh("resume", name)
    wait_until(
        lambda: int(_ram(libvirt, name)["guest-counter"]) > int(before["guest-counter"]),
        TIMEOUT,
        "the restored guest goes on",
    )
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"


def test_save_and_restore_after_setvcpus(libvirt: Libvirt, domains: Domain) -> None:
    name = domains.start()
    libvirt.virsh("setvcpus", name, "3", "--live")
    wait_until(lambda: libvirt.guest_online(name) == "0-2", TIMEOUT, "vCPUs online")
    save = libvirt.workdir / f"{name}.save"
    _save_and_restore(libvirt, name, save)
    assert libvirt.vcpucount_live(name) == 3
    assert _plugged(libvirt, name) == {
        0: "/machine/unattached/device[0]",
        1: "/machine/peripheral/vcpu1",
        2: "/machine/peripheral/vcpu2",
    }
    libvirt.virsh("resume", name)
    assert libvirt.guest_online(name) == "0-2"  # the guest's own view came over
    # And the restored domain hot-plugs on as before.
    libvirt.virsh("setvcpus", name, "4", "--live")
    wait_until(lambda: libvirt.guest_online(name) == "0-3", TIMEOUT, "vCPU 3 online")
    libvirt.virsh("setvcpus", name, "2", "--live")
    assert libvirt.vcpucount_live(name) == 2


@pytest.mark.parametrize("vcpus", [1, 3])
def test_managedsave_and_start(libvirt: Libvirt, emulator: Path, vcpus: int) -> None:
    name = f"vmd-msave-{vcpus}-{int(time.time() * 1000) % 100000}"
    xml = libvirt.workdir / f"{name}.xml"
    xml.write_text(domain_xml(name, str(emulator)))
    libvirt.virsh("define", str(xml))
    try:
        libvirt.virsh("start", name)
        if vcpus > 1:
            libvirt.virsh("setvcpus", name, str(vcpus), "--live")
            wait_until(lambda: libvirt.guest_online(name) == f"0-{vcpus - 1}", TIMEOUT, "vCPUs online")
        libvirt.virsh("managedsave", name)
        assert libvirt.virsh("domstate", name).stdout.strip() == "shut off"
        assert "Managed save:   yes" in libvirt.virsh("dominfo", name).stdout
        libvirt.virsh("start", name)
        assert libvirt.virsh("domstate", name).stdout.strip() == "running"
        assert libvirt.vcpucount_live(name) == vcpus
        assert "Managed save:   no" in libvirt.virsh("dominfo", name).stdout
    finally:
        libvirt.virsh("destroy", name, check=False)
        libvirt.virsh("undefine", name, "--managed-save", check=False)


def test_memory_only_dump(libvirt: Libvirt, domains: Domain) -> None:
    """`virsh dump --memory-only` (stop, getfd, a detached dump-guest-memory, DUMP_COMPLETED,
    cont): a paused domain's core holds exactly its RAM; a running one is dumped and runs on.
    Plain `virsh dump` saves into the file and lets the domain run on."""
    name = domains.start(extra_args=("-vmd-guest", "load=busy"))
    wait_until(lambda: int(_ram(libvirt, name)["guest-counter"]) > 0, TIMEOUT, "the guest works")
    libvirt.virsh("suspend", name)
    before = _ram(libvirt, name)
    paused_core = libvirt.workdir / f"{name}-paused.core"
    libvirt.virsh("dump", "--memory-only", name, str(paused_core))
    assert libvirt.virsh("domstate", name).stdout.strip() == "paused"
    core = read_core(paused_core)
    assert core.machine == 62  # EM_X86_64
    assert [(load.paddr, load.size) for load in core.loads] == [(0, before["size"])]
    assert hashlib.sha256(core.segment(core.loads[0])).hexdigest() == before["sha256"]
    assert libvirt.monitor(name, "query-dump") == {
        "total": before["size"],
        "status": "completed",
        "completed": before["size"],
    }
    libvirt.virsh("resume", name)
    running_core = libvirt.workdir / f"{name}-running.core"
    libvirt.virsh("dump", "--memory-only", name, str(running_core))
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert [(load.paddr, load.size) for load in read_core(running_core).loads] == [(0, before["size"])]
    wait_until(
        lambda: int(_ram(libvirt, name)["guest-counter"]) > int(before["guest-counter"]),
        TIMEOUT,
        "the guest goes on after the dump",
    )
    # The formats libvirt asks about before a kdump: vmd writes ELF only.
    refused = libvirt.virsh("dump", "--memory-only", "--format", "kdump-zlib", name, "/dev/null", check=False)
    assert not refused.ok
    # libvirt's own refusal, from the capability query's answer.
    assert "unsupported dumpformat 'kdump-zlib' for this QEMU binary" in refused.stderr
    # Plain `virsh dump`: the save sequence into the file, then `cont` from postmigrate.
    saved = libvirt.workdir / f"{name}.dump"
    libvirt.virsh("dump", name, str(saved))
    assert libvirt.virsh("domstate", name).stdout.strip() == "running"
    assert b"VMDM" in saved.read_bytes()[:4096]  # vmd's stream after libvirt's header
