"""pseries side by side with qemu-system-ppc64 7.2: machines, CPU models and listings, start-up
errors, slots and threads, device_add's checks in QEMU's order, the QOM of cores, threads and DR
connectors, and every device_del path without a guest (-S: vmd's guest boots only on `cont`,
QEMU's firmware never takes a connector).  QEMU 7.2's TCG has one thread per core, so the
comparisons use threads=1; vmd's SMT (QEMU >= 8.1's rules) is covered by tests/qmp."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import pytest

from tests.integration.blocking_qmp import BlockingQmp
from tests.integration.side_by_side import cpus_fast, qemu_and_vmd, same
from tests.needs import require_qemu
from tests.peers import Peer, startup_error, vmd_command

pytestmark = pytest.mark.qemu

TARGET = "ppc64"
CORE = "power9_v2.0-spapr-cpu-core"
# QEMU's TCG warns about these capabilities at every start; turned off, both start silently.
QUIET = "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off"


def both(*args: str) -> contextlib.AbstractContextManager[tuple[BlockingQmp, BlockingQmp, Peer, Peer]]:
    """QEMU and vmd with the same arguments, connected."""
    return qemu_and_vmd(TARGET, args)


def run(argv: Sequence[str]) -> tuple[int, str, str]:
    import subprocess

    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
    return done.returncode, done.stdout, done.stderr


# -- machines, CPU models, listings ------------------------------------------------------------


def test_target_models_and_pseries_machines_like_qemu() -> None:
    """vmd has QEMU's pseries types and `none` (not the other ppc boards: mac99, powernv, ...)."""
    with both("-S", "-M", QUIET) as (qemu, vmd, _, _):
        same(qemu, vmd, "query-target")
        theirs, ours = (sorted(c.result("query-machines"), key=lambda m: m["name"]) for c in (qemu, vmd))
        assert ours == [m for m in theirs if m["name"].startswith("pseries") or m["name"] == "none"]
        same(qemu, vmd, "query-cpu-definitions")
        same(qemu, vmd, "query-acpi-ospm-status")
        same(qemu, vmd, "cpu-add", '{"id": 1}')
        same(qemu, vmd, "qom-get", '{"path": "/machine", "property": "vsmt"}')


@pytest.mark.parametrize(
    "args", [["-cpu", "help"], ["-machine", "pseries,help"], ["-machine", "pseries-2.6,help"]], ids=" ".join
)
def test_listings_like_qemu(args: list[str]) -> None:
    qemu = require_qemu(TARGET)
    assert run([*vmd_command(TARGET), *args]) == run([qemu, *args])


STARTUP_ERRORS = [
    ["-m", "128"],
    ["-m", "384"],
    ["-m", "16"],
    ["-m", "16", "-smp", "2,threads=2"],
    ["-cpu", "nope"],
    ["-cpu", "host"],
    ["-cpu", "603"],
    ["-smp", "1,threads=2"],
    ["-smp", "1,maxcpus=9,sockets=2"],
    ["-smp", "3,maxcpus=2"],
    ["-smp", "1,dies=2"],
    ["-smp", "1,clusters=2"],
    ["-smp", "1,maxcpus=4097"],
    ["-M", "pseries-2.6", "-smp", "1,maxcpus=2"],
    ["-M", "pseries,vsmt=x"],
    ["-M", "pseries,ic-mode=foo"],
    ["-M", "pseries,ic-mode=xive", "-cpu", "power8"],
    ["-M", "pseries,bogus=1"],
    ["-smp", "1,maxcpus=2", "-device", f"{CORE},core-id=0"],
    ["-smp", "1,maxcpus=2", "-device", f"{CORE},core-id=2"],
    ["-smp", "1,maxcpus=2", "-device", "power8_v2.0-spapr-cpu-core,core-id=1"],
    ["-smp", "1,maxcpus=2", "-device", f"{CORE},core-id=1,nr-threads=2"],
]


@pytest.mark.parametrize("args", STARTUP_ERRORS, ids=lambda args: " ".join(args))
def test_startup_errors_like_qemu(args: list[str]) -> None:
    qemu = require_qemu(TARGET)
    ours = startup_error([*vmd_command(TARGET), "-M", QUIET, *args], "vmd")
    theirs = startup_error([qemu, "-M", QUIET, *args], "qemu-system-ppc64")
    assert ours == theirs


# -- slots and present CPUs -------------------------------------------------------------------

TOPOLOGIES = [
    (QUIET, "1,maxcpus=4"),
    (QUIET, "2,maxcpus=8"),
    (QUIET, "1,maxcpus=8,sockets=2"),
    (QUIET + ",vsmt=8", "2,maxcpus=4"),
    ("pseries-6.1", "2,maxcpus=8"),
    ("pseries-4.0", "2,maxcpus=4"),
    (QUIET + ",ic-mode=xics", "2,maxcpus=4"),
    (QUIET, "3"),
]


@pytest.mark.parametrize(("machine", "smp"), TOPOLOGIES, ids=[f"{m}:{s}" for m, s in TOPOLOGIES])
def test_slots_threads_and_connectors_like_qemu(machine: str, smp: str) -> None:
    with both("-S", "-M", machine, "-smp", smp) as (qemu, vmd, qemu_peer, vmd_peer):
        same(qemu, vmd, "query-hotpluggable-cpus")
        assert cpus_fast(vmd, vmd_peer) == cpus_fast(qemu, qemu_peer)
        theirs, ours = (
            sorted(p["name"] for p in c.result("qom-list", path="/machine") if "spapr-drc-cpu" in p["type"])
            for c in (qemu, vmd)
        )
        assert ours == theirs
        for name in ours:
            path = f"/machine/{name}"
            same(qemu, vmd, "qom-list", json.dumps({"path": path}))
            for prop in ("index", "id", "fdt", "hotplugged", "device"):
                same(qemu, vmd, "qom-get", json.dumps({"path": path, "property": prop}))
        aliases = [
            (p["name"], p["type"])
            for p in qemu.result("qom-list", path="/dr-connector")
            if "cpu" in p["type"]
        ]
        assert sorted(aliases) == sorted(
            (p["name"], p["type"])
            for p in vmd.result("qom-list", path="/dr-connector")
            if p["type"] != "string"
        )
        for name, _ in aliases:
            same(qemu, vmd, "qom-get", json.dumps({"path": "/dr-connector", "property": name}))
            same(qemu, vmd, "qom-get", json.dumps({"path": f"/dr-connector/{name}", "property": "index"}))


# -- device_add -------------------------------------------------------------------------------


def add(**props: Any) -> str:
    return json.dumps({"driver": CORE, **{key.replace("_", "-"): value for key, value in props.items()}})


# With -smp 1,maxcpus=4: every check in QEMU 7.2's order, successes where occupancy needs them.
DEVICE_ADD_CASES = (
    "{}",
    '{"id": "1bad"}',
    '{"driver": "nonexist"}',
    '{"driver": "spapr-cpu-core"}',
    '{"driver": "powerpc64-cpu"}',
    '{"driver": "cpu-core"}',
    '{"driver": "power9_v2.0-powerpc64-cpu"}',
    '{"driver": "POWER9-spapr-cpu-core"}',
    '{"driver": "qemu64-x86_64-cpu"}',
    add(bus="nope"),
    add(id="core1", core_id=1),
    add(id="core1", core_id=2),
    add(core_id=-1),
    add(core_id=-9223372036854775808),
    add(core_id="x"),
    add(core_id=1.5),
    add(core_id=True),
    add(core_id="2"),
    add(bogus=1, core_id=2),
    add(socket_id=0, core_id=2),
    add(hotplugged=True, core_id=2),
    json.dumps({"driver": "power10_v2.0-spapr-cpu-core", "core-id": 2}),
    json.dumps({"driver": "power8_v2.0-spapr-cpu-core", "core-id": 2}),
    add(core_id=3, nr_threads=2),
    add(core_id=3, nr_threads=0),
    add(core_id=3, nr_threads=-1),
    add(core_id=4),
    add(core_id=100000),
    add(core_id=2147483647),
    add(core_id=1),
    add(),
    add(core_id=3, node_id=1),
    add(core_id=3, node_id=2**31),
    add(id="core3", core_id=3, node_id=-1, pre_3_0_migration=True),
)


def test_device_add_checks_in_qemus_order() -> None:
    with both("-S", "-M", QUIET, "-smp", "1,maxcpus=4") as (qemu, vmd, qemu_peer, vmd_peer):
        for case in DEVICE_ADD_CASES:
            same(qemu, vmd, "device_add", case)
        same(qemu, vmd, "query-hotpluggable-cpus")
        assert cpus_fast(vmd, vmd_peer) == cpus_fast(qemu, qemu_peer)
        for path in ("/machine/peripheral", "/machine/peripheral-anon"):
            theirs, ours = (sorted(c.result("qom-list", path=path), key=str) for c in (qemu, vmd))
            assert ours == theirs, path
        for path in ("/machine/peripheral/core1", "/machine/peripheral/core1/thread[0]"):
            theirs, ours = (sorted(c.result("qom-list", path=path), key=str) for c in (qemu, vmd))
            assert ours == theirs, path
        for prop in ("core-id", "nr-threads", "node-id", "hotplugged", "hotpluggable", "realized", "type"):
            same(qemu, vmd, "qom-get", json.dumps({"path": "/machine/peripheral/core1", "property": prop}))
        for prop in ("hotplugged", "start-powered-off", "memory", "type"):
            same(
                qemu,
                vmd,
                "qom-get",
                json.dumps({"path": "/machine/peripheral/core1/thread[0]", "property": prop}),
            )
        for path, prop, value in (
            ("/machine/peripheral/core1", "node-id", 0),
            ("/machine/peripheral/core1", "hotpluggable", False),
            ("/machine/peripheral/core1", "nope", 1),
            ("/machine/dr-connector[268435457]", "index", 1),
        ):
            same(qemu, vmd, "qom-set", json.dumps({"path": path, "property": prop, "value": value}))
        same(qemu, vmd, "qom-get", '{"path": "/machine/dr-connector[268435457]", "property": "device"}')
        same(qemu, vmd, "qom-get", '{"path": "/machine/dr-connector[268435460]", "property": "index"}')


def test_cold_plugged_cores_like_qemu() -> None:
    args = ("-S", "-M", QUIET, "-smp", "1,maxcpus=4", "-device", f"{CORE},core-id=3,id=c3",
            "-device", f'{{"driver": "{CORE}", "core-id": 2}}')  # fmt: skip
    with both(*args) as (qemu, vmd, qemu_peer, vmd_peer):
        same(qemu, vmd, "query-hotpluggable-cpus")
        assert cpus_fast(vmd, vmd_peer) == cpus_fast(qemu, qemu_peer)
        same(qemu, vmd, "qom-get", '{"path": "/machine/peripheral/c3", "property": "hotplugged"}')


# -- device_del without a guest -------------------------------------------------------------


def events(client: BlockingQmp) -> list[tuple[str, Any]]:
    return [(e["event"], e.get("data")) for e in client.take_events()]


def test_device_del_paths_like_qemu() -> None:
    """A hot-added core no guest took goes at once (its events before the reply); a cold-plugged
    one stays pending until a reset completes it; boot core, threads, DRCs and containers are
    refused.  (QEMU 7.2 races a del right after an add, and crashes on a reset after a removal:
    the reset comes before the removals here.)"""
    args = ("-S", "-M", QUIET, "-smp", "1,maxcpus=4", "-device", f"{CORE},core-id=2,id=cold")
    with both(*args) as (qemu, vmd, _, _):
        same(qemu, vmd, "device_del", '{"id": "cold"}')
        same(qemu, vmd, "device_del", '{"id": "cold"}')
        assert events(vmd) == events(qemu) == []
        same(qemu, vmd, "device_add", add(id="again", core_id=2))
        same(qemu, vmd, "query-hotpluggable-cpus")
        for case in (
            '{"id": "nope"}',
            '{"id": "/machine/unattached/device[1]"}',
            '{"id": "/machine/unattached"}',
            '{"id": "/machine"}',
        ):
            same(qemu, vmd, "device_del", case)
        same(qemu, vmd, "system_reset")
        assert events(vmd) == events(qemu)
        same(qemu, vmd, "query-hotpluggable-cpus")
        same(qemu, vmd, "device_add", add(id="hot", core_id=1))
        same(qemu, vmd, "query-status")
        same(qemu, vmd, "device_del", '{"id": "hot"}')
        assert events(vmd) == events(qemu)
        same(qemu, vmd, "device_del", '{"id": "hot"}')
        same(qemu, vmd, "query-hotpluggable-cpus")
        same(qemu, vmd, "qom-get", '{"path": "/machine/dr-connector[268435457]", "property": "hotplugged"}')


def test_numa_nodes_of_cores_like_qemu() -> None:
    """spapr's default mapping (socket % nodes) and the node-id check of a plugged core."""
    args = ("-S", "-M", QUIET, "-m", "512", "-smp", "1,maxcpus=8,sockets=2",
            "-object", "memory-backend-ram,id=m0,size=256M", "-object", "memory-backend-ram,id=m1,size=256M",
            "-numa", "node,nodeid=0,memdev=m0", "-numa", "node,nodeid=1,memdev=m1")  # fmt: skip
    with both(*args) as (qemu, vmd, _, _):
        same(qemu, vmd, "query-hotpluggable-cpus")
        same(qemu, vmd, "device_add", add(core_id=5, node_id=0))
        same(qemu, vmd, "device_add", add(id="x", core_id=5))
        same(qemu, vmd, "qom-get", '{"path": "/machine/peripheral/x", "property": "node-id"}')
