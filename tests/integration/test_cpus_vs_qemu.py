"""CPU slots, present vCPUs, machine types and CPU models: vmd against real QEMU 7.2.

The same command line goes to both; replies must be equal after normalizing what
legitimately differs: thread ids (each must be a real, distinct thread of the
peer) and the order of query-machines, which in QEMU follows a hash table.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError

from tests.peers import Peer, qmp_client, vmd_command

pytestmark = pytest.mark.qemu

TOPOLOGIES = [
    ("q35", "1,maxcpus=4"),
    ("q35", "2,sockets=2,cores=2,threads=1,maxcpus=4"),
    ("q35", "3,sockets=2,cores=3,threads=3,maxcpus=18"),
    ("pc", "2,sockets=2,dies=2,cores=2,threads=2,maxcpus=16"),
    ("pc-i440fx-6.1", "1,maxcpus=4"),
    ("pc-q35-7.2", "4"),
    ("q35", "1,maxcpus=255"),
]


async def cpu_view(peer: Peer) -> dict[str, Any]:
    async with qmp_client(peer.socket) as qmp:
        slots = await qmp.execute("query-hotpluggable-cpus")
        present = await qmp.execute("query-cpus-fast")
    assert isinstance(present, list)
    tids = [cpu.pop("thread-id") for cpu in present]
    assert len(set(tids)) == len(tids), "every vCPU has its own thread"
    for tid in tids:
        assert tid != peer.pid
        assert Path(f"/proc/{peer.pid}/task/{tid}").exists(), "thread-id is a thread of the peer"
    return {"slots": slots, "present": present}


TWO_NODES = (
    "-m", "256",
    "-object", "memory-backend-ram,id=m0,size=128M", "-object", "memory-backend-ram,id=m1,size=128M",
)  # fmt: skip
NUMA = [
    ("q35 nodes by cpus=", ("-smp", "2,maxcpus=4", *TWO_NODES,
     "-numa", "node,nodeid=0,cpus=0-1,memdev=m0", "-numa", "node,nodeid=1,cpus=2-3,memdev=m1")),
    ("q35 -numa cpu", ("-smp", "1,sockets=2,cores=2,maxcpus=4", *TWO_NODES,
     "-numa", "node,nodeid=0,memdev=m0", "-numa", "node,nodeid=1,memdev=m1",
     "-numa", "cpu,node-id=1,socket-id=0", "-numa", "cpu,node-id=0,socket-id=1")),
    ("q35 default mapping", ("-smp", "1,sockets=4,maxcpus=4", *TWO_NODES,
     "-numa", "node,nodeid=0,memdev=m0", "-numa", "node,nodeid=1,memdev=m1")),
]  # fmt: skip


@pytest.mark.parametrize(("name", "args"), NUMA, ids=[name for name, _ in NUMA])
async def test_numa_node_ids_like_qemu(peers: Callable[..., Peer], name: str, args: tuple[str, ...]) -> None:
    qemu, vmd = peers("qemu", "-M", "q35", *args, "-S"), peers("vmd", "-M", "q35", *args, "-S")
    view = await cpu_view(vmd)
    assert view == await cpu_view(qemu)
    assert all("node-id" in slot["props"] for slot in view["slots"])


@pytest.mark.parametrize(("machine", "smp"), TOPOLOGIES, ids=[f"{m}:{s}" for m, s in TOPOLOGIES])
async def test_slots_and_present_cpus_like_qemu(peers: Callable[..., Peer], machine: str, smp: str) -> None:
    args = ("-M", machine, "-smp", smp, "-S")
    qemu, vmd = peers("qemu", *args), peers("vmd", *args)
    assert await cpu_view(vmd) == await cpu_view(qemu)


async def test_cpu_model_names_the_slot_type(peers: Callable[..., Peer]) -> None:
    args = ("-M", "q35", "-cpu", "Haswell", "-smp", "1,maxcpus=2", "-S")
    qemu, vmd = peers("qemu", *args), peers("vmd", *args)
    assert await cpu_view(vmd) == await cpu_view(qemu)


async def test_machine_none_has_no_cpus_and_no_slots(peers: Callable[..., Peer]) -> None:
    replies = []
    for kind in ("qemu", "vmd"):
        peer = peers(kind, "-M", "none", "-S")
        async with qmp_client(peer.socket) as qmp:
            present = await qmp.execute("query-cpus-fast")
            try:
                await qmp.execute("query-hotpluggable-cpus")
            except ExecuteError as error:
                replies.append((present, error.error.error.desc))
    assert len(replies) == 2
    assert replies[0] == replies[1]
    assert replies[1][0] == []


# QEMU 7.2's x86 machine types that vmd does not offer: no CPU hotplug to model there.
NOT_OFFERED = {"microvm", "isapc", "x-remote"}


@pytest.mark.parametrize("machine", ["q35", "pc-i440fx-4.0", "none"])
async def test_machines_and_cpu_definitions_like_qemu(peers: Callable[..., Peer], machine: str) -> None:
    views = []
    for kind in ("qemu", "vmd"):
        peer = peers(kind, "-M", machine, "-S")
        async with qmp_client(peer.socket) as qmp:
            machines = await qmp.execute("query-machines")
            models = await qmp.execute("query-cpu-definitions")
        assert isinstance(machines, list)
        views.append(({m["name"]: m for m in machines}, models))
    (qemu_machines, qemu_models), (vmd_machines, vmd_models) = views
    assert set(qemu_machines) - set(vmd_machines) == NOT_OFFERED
    assert vmd_machines == {name: m for name, m in qemu_machines.items() if name not in NOT_OFFERED}
    assert vmd_models == qemu_models


START_ERRORS = [
    ["-M", "bogus"],
    ["-M", "q35", "-smp", "4,maxcpus=2"],
    ["-M", "q35", "-smp", "2,sockets=2,cores=2,maxcpus=5"],
    ["-M", "q35", "-smp", "300"],
    ["-M", "q35", "-smp", "256"],
    ["-M", "q35", "-smp", "2,clusters=2"],
    ["-M", "q35", "-smp", "0,maxcpus=2,sockets=3"],
    ["-M", "q35", "-cpu", "bogus"],
]


@pytest.mark.parametrize("args", START_ERRORS, ids=[" ".join(a) for a in START_ERRORS])
def test_start_up_errors_like_qemu(qemu: str, args: list[str]) -> None:
    base = ["-S", "-display", "none", "-nodefaults"]
    reference = subprocess.run([qemu, *base, *args], capture_output=True, text=True, timeout=30)
    ours = subprocess.run([*vmd_command(), *base, *args], capture_output=True, text=True, timeout=30)
    assert reference.returncode == ours.returncode == 1
    theirs = [line.removeprefix("qemu-system-x86_64: ") for line in reference.stderr.splitlines()]
    assert [line.removeprefix("vmd: ") for line in ours.stderr.splitlines()] == theirs
