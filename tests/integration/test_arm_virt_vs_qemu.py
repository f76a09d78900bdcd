"""vmd-system-aarch64 against qemu-system-aarch64 7.2: the same command line, the same answers.

Each test starts both (`-vmd-target aarch64` for vmd) with the same arguments and compares what
QEMU shows of the virt boards: the machine types (but `hotpluggable-cpus`, vmd's deliberate
divergence), the CPU models, the listings, -smp, -cpu and -machine refusals at start-up, the
slots and present CPUs across topologies (props, mp-affinity), the QOM layout, and every CPU
device_add / device_del refusal of a plain `-M virt` (where 7.2 has no CPU hotplug).  What may
differ: thread ids and the order of lists QEMU takes from hash tables.  QEMU aborts on device_del
of the boot CPU; that one is asked of vmd alone.  In hotplug mode (GICv3, a 64-bit CPU) QEMU 7.2
shows the boot state, which must match; the hotplug itself has no QEMU to compare with
(tests/qmp/test_arm_hotplug.py).
"""

from __future__ import annotations

import contextlib
import subprocess

import pytest

from tests.integration.blocking_qmp import BlockingQmp
from tests.integration.side_by_side import cpus_fast, qemu_and_vmd, same
from tests.needs import require_qemu
from tests.peers import REPO, Peer, startup_error, vmd_command

pytestmark = pytest.mark.qemu

TARGET = "aarch64"
PROGRAM = "qemu-system-aarch64"
PLAIN = ("-M", "virt", "-cpu", "cortex-a57", "-smp", "1,maxcpus=4")
HOTPLUG = ("-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "1,maxcpus=4")


def both(*args: str) -> contextlib.AbstractContextManager[tuple[BlockingQmp, BlockingQmp, Peer, Peer]]:
    """QEMU and vmd with the same arguments (and -S), connected."""
    return qemu_and_vmd(TARGET, ("-S", *args))


def run(argv: list[str]) -> tuple[int, str, str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, cwd=REPO)
    return done.returncode, done.stdout, done.stderr


# -- machines, CPU models, listings ------------------------------------------------------------


def test_machines_models_and_target_like_qemu() -> None:
    with both("-M", "virt") as (qemu, vmd, _, _):
        same(qemu, vmd, "query-target")
        theirs = {m["name"]: m for m in qemu.result("query-machines")}
        ours = {m["name"]: m for m in vmd.result("query-machines")}
        assert sorted(ours) == sorted(name for name in theirs if name.startswith("virt-") or name == "none")
        for name, machine in ours.items():
            expected = dict(theirs[name])
            if name.startswith("virt-"):
                # vmd's one divergence: libvirt drives CPU hotplug only where this is true.
                assert expected["hotpluggable-cpus"] is False
                expected["hotpluggable-cpus"] = True
            assert machine == expected, name
        key = lambda model: model["name"]  # noqa: E731 - QEMU's order is its hash table's
        assert sorted(vmd.result("query-cpu-definitions"), key=key) == sorted(
            qemu.result("query-cpu-definitions"), key=key
        )


@pytest.mark.parametrize(
    "args",
    [["-cpu", "help"], ["-machine", "virt,help"], ["-machine", "virt-2.6,help"], ["-machine", "none,help"],
     ["-accel", "help"]],
    ids=" ".join,
)  # fmt: skip
def test_listings_like_qemu(args: list[str]) -> None:
    qemu = require_qemu(TARGET)
    ours, theirs = run([*vmd_command(TARGET), *args]), run([qemu, *args])
    assert ours[:2] == theirs[:2]


def test_machine_help_lists_virt_and_none_in_qemus_lines() -> None:
    qemu = require_qemu(TARGET)
    _, theirs, _ = run([qemu, "-machine", "help"])
    _, ours, _ = run([*vmd_command(TARGET), "-machine", "help"])
    wanted = [line for line in theirs.splitlines()[1:] if line.startswith(("virt", "none "))]
    assert ours.splitlines() == [theirs.splitlines()[0], *wanted]


STARTUP_ERRORS = [
    ["-M", "virt", "-cpu", "cortex-a8"],
    ["-M", "virt", "-cpu", "cortex-m3"],
    ["-M", "virt", "-cpu", "host"],
    ["-M", "virt,gic-version=host", "-cpu", "cortex-a57"],
    ["-M", "virt,gic-version=4", "-cpu", "cortex-a57"],
    ["-M", "virt", "-cpu", "cortex-a57", "-smp", "9"],
    ["-M", "virt", "-cpu", "cortex-a57", "-smp", "1,maxcpus=9"],
    ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "513"],
    ["-M", "virt,gic-version=3,highmem=off", "-cpu", "cortex-a57", "-smp", "124"],
    ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "4,dies=2"],
    ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "2,books=2"],
    ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "2,modules=2"],
    ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "1,maxcpus=4,disabledcpus=2"],
    ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "cpus=4,disabled=2"],
    ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "4,sockets=2,cores=2,threads=2"],
    ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "4,maxcpus=2"],
    ["-M", "virt-2.6", "-cpu", "cortex-a57", "-smp", "4,clusters=2,sockets=3"],
    ["-M", "virt,gic-version=3,highmem-redists=on", "-cpu", "cortex-a57"],
    ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-deviceset", "cortex-a57-arm-cpu,core-id=1"],
    [
        "-M",
        "virt",
        "-cpu",
        "cortex-a57",
        "-smp",
        "1,maxcpus=2",
        "-device",
        "cortex-a57-arm-cpu,id=c1,core-id=1",
    ],
]


@pytest.mark.parametrize("args", STARTUP_ERRORS, ids=lambda args: " ".join(args) or "(nothing)")
def test_startup_errors_like_qemu(args: list[str]) -> None:
    qemu = require_qemu(TARGET)
    assert startup_error([*vmd_command(TARGET), *args], "vmd") == startup_error([qemu, *args], PROGRAM)


@pytest.mark.parametrize(
    "args", [[], ["-smp", "1"], ["-M", "virt,gic-version=5"]], ids=lambda args: " ".join(args) or "(nothing)"
)
def test_two_line_startup_errors_like_qemu(args: list[str]) -> None:
    """An error and its hint line, both as QEMU prints them."""
    qemu = require_qemu(TARGET)
    outputs = []
    for argv, program in (([*vmd_command(TARGET), *args], "vmd"), ([qemu, *args], PROGRAM)):
        status, _, stderr = run([*argv, "-S", "-display", "none", "-nodefaults"])
        assert status == 1
        outputs.append(stderr.replace(program + ": ", ""))
    assert outputs[0] == outputs[1]


# -- slots, present CPUs, QOM ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp",
         "8,sockets=2,clusters=2,cores=2,threads=1"],
        ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "2,sockets=1,cores=1,threads=2"],
        ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "20"],
        ["-M", "virt", "-cpu", "cortex-a57", "-smp", "8"],
        ["-M", "virt-2.6", "-cpu", "cortex-a53", "-smp", "4"],
        ["-M", "virt,gic-version=max", "-cpu", "max", "-smp", "3,maxcpus=6"],
        ["-M", "virt,gic-version=3", "-cpu", "cortex-a15", "-smp", "1,maxcpus=4"],
        ["-M", "virt,gic-version=3", "-cpu", "cortex-a57", "-smp", "2,maxcpus=4", "-m", "1G",
         "-object", "memory-backend-ram,id=m0,size=512M", "-object", "memory-backend-ram,id=m1,size=512M",
         "-numa", "node,nodeid=0,cpus=0-1,memdev=m0", "-numa", "node,nodeid=1,cpus=2-3,memdev=m1"],
    ],
    ids=lambda args: " ".join(args[:6]),
)  # fmt: skip
def test_present_cpus_and_affinity_like_qemu(args: list[str]) -> None:
    with both(*args) as (qemu, vmd, qemu_peer, vmd_peer):
        cpus = cpus_fast(qemu, qemu_peer)
        assert cpus_fast(vmd, vmd_peer) == cpus
        for cpu in cpus:
            for prop in ("mp-affinity", "node-id", "start-powered-off", "realized"):
                same(qemu, vmd, "qom-get", f'{{"path": "{cpu["qom-path"]}", "property": "{prop}"}}')
        same(qemu, vmd, "qom-get", '{"path": "/machine", "property": "gic-version"}')


@pytest.mark.parametrize(
    "args",
    [["-M", "virt", "-cpu", "cortex-a57", "-smp", "2,maxcpus=4"],
     ["-M", "virt,gic-version=3", "-cpu", "cortex-a15", "-smp", "2,maxcpus=4"]],
    ids=lambda args: " ".join(args),
)  # fmt: skip
def test_qom_layout_like_qemu(args: list[str]) -> None:
    def layout(client: BlockingQmp) -> list[tuple[str, str]]:
        children = client.result("qom-list", path="/machine/unattached")
        return sorted(
            (child["name"], child["type"]) for child in children if child["name"].startswith("device[")
        )

    with both(*args) as (qemu, vmd, _, _):
        assert layout(vmd) == layout(qemu)


def test_hotplug_mode_boot_state_like_qemu() -> None:
    """What QEMU 7.2 shows of a GICv3 machine with a 64-bit CPU is what vmd shows at boot: its
    hotplug adds to it (the QOM layout keeps 7.2's numbering: parked slots own no object; the GED
    takes the GPIO power key's place, as with firmware in 7.2)."""
    with both(*HOTPLUG, "-smp", "2,maxcpus=4") as (qemu, vmd, qemu_peer, vmd_peer):
        assert cpus_fast(vmd, vmd_peer) == cpus_fast(qemu, qemu_peer)
        same(qemu, vmd, "query-target")
        ours = {c["name"]: c["type"] for c in vmd.result("qom-list", path="/machine/unattached")}
        theirs = {c["name"]: c["type"] for c in qemu.result("qom-list", path="/machine/unattached")}
        assert ours["device[7]"] == "child<acpi-ged>"
        assert theirs["device[7]"] == "child<pl061>"
        for index in (*range(7), *range(9, 40)):
            assert ours[f"device[{index}]"] == theirs[f"device[{index}]"]
        assert ours["device[40]"] == theirs["device[41]"] == "child<platform-bus-device>"


# -- device_add and device_del where 7.2 has no CPU hotplug -------------------------------------

DEVICE_ADDS = [
    '{"driver": "cortex-a57-arm-cpu"}',
    '{"driver": "cortex-a57-arm-cpu", "id": "core1", "core-id": 1}',
    '{"driver": "cortex-a57-arm-cpu", "id": "cpu1", "socket-id": 0, "cluster-id": 0, "core-id": 1, '
    '"thread-id": 0}',
    '{"driver": "host-arm-cpu", "id": "core1", "core-id": 1}',
    '{"driver": "max-arm-cpu", "id": "core1", "core-id": 1}',
    '{"driver": "arm-cpu"}',
    '{"driver": "aarch64-cpu"}',
    '{"driver": "cortex-a15-arm-cpu"}',
    '{"driver": "qemu64-x86_64-cpu"}',
    '{"driver": "cortex-a57-arm-cpu", "id": "x", "bogus": 1}',
    '{"driver": "pl011"}',
    '{"id": "x"}',
    '{"driver": "cortex-a57-arm-cpu", "id": "1x"}',
]


@pytest.mark.parametrize("machine", ["virt", "virt,gic-version=3"])
def test_plain_virt_cpu_refusals_like_qemu(machine: str) -> None:
    cpu = "cortex-a57" if machine == "virt" else "cortex-a15"  # GICv3 with a 32-bit CPU: no hotplug
    with both("-M", machine, "-cpu", cpu, "-smp", "1,maxcpus=4") as (qemu, vmd, _, _):
        for arguments in DEVICE_ADDS:
            same(qemu, vmd, "device_add", arguments)
        for name in ("core1", "cpu0", "/machine/unattached/device[3]", "/machine/unattached/device[1]"):
            same(qemu, vmd, "device_del", f'{{"id": "{name}"}}')
        for command in ("query-hotpluggable-cpus", "query-acpi-ospm-status", "cpu-add"):
            same(qemu, vmd, command, '{"id": 1}' if command == "cpu-add" else None)
        same(qemu, vmd, "human-monitor-command", '{"command-line": "info hotpluggable-cpus"}')
        # QEMU 7.2 aborts here (qdev_unplug: assertion failed: (hotplug_ctrl)); vmd refuses.
        reply = vmd.command("device_del", '{"id": "/machine/unattached/device[0]"}')
        assert reply == {
            "error": {"class": "GenericError", "desc": f"Device '{cpu}-arm-cpu' does not support hotplugging"}
        }
        assert vmd.result("query-status")["status"] == "prelaunch"
