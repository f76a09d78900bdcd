"""The pseries pieces that need no daemon: -cpu's lookup, the DR connector arrays (indexes both
ways, the PAPR state machine, a reset), and spapr_machine_init's checks in their order."""

from __future__ import annotations

import pytest

from vmd.boards.catalog import find_board
from vmd.boards.ppc64.cpu_models import catalog, core_type
from vmd.boards.ppc64.spapr import SpaprBoard
from vmd.errors import StartupError
from vmd.machine.hotplug.spapr_drc import DrcError, DrcState, HotplugAction, SpaprCpuDrcs
from vmd.machine.topology import Topology
from vmd.qapi.compiled import SysEmuTarget

MiB = 1 << 20


@pytest.mark.parametrize(
    ("name", "model"),
    [("POWER9", "power9_v2.0"), ("power9", "power9_v2.0"), ("max", "power9_v2.0"), ("power8", "power8_v2.0"),
     ("power9_v1.0", "power9_v1.0"), ("POWER10", "power10_v2.0"), ("vanilla", "603"), ("host", None),
     ("nope", None)],
)  # fmt: skip
def test_cpu_lookup_as_ppc_cpu_class_by_name(name: str, model: str | None) -> None:
    found = catalog().find(name)
    assert (None if found is None else found.typename) == (
        None if model is None else f"{model}-powerpc64-cpu"
    )


def test_the_catalog_keeps_qemus_definitions_and_core_types() -> None:
    models = catalog().models
    assert len(models) == 417
    assert models["power9"].typename == "power9_v2.0-powerpc64-cpu"
    assert models["power9_v2.0"].typename == ""  # QEMU 7.2's, copied
    assert core_type("power9_v2.0-powerpc64-cpu") == "power9_v2.0-spapr-cpu-core"


def drcs(count: int = 4, vsmt: int = 1) -> tuple[SpaprCpuDrcs, list[tuple[str, int]]]:
    calls: list[tuple[str, int]] = []
    table = SpaprCpuDrcs(
        count,
        vsmt=vsmt,
        release=lambda slot: calls.append(("release", slot)),
        on_taken=lambda slot: calls.append(("taken", slot)),
        refused=lambda slot: calls.append(("refused", slot)),
    )
    return table, calls


def test_indexes_both_ways_in_constant_time() -> None:
    table, _ = drcs(4, vsmt=8)
    assert [table.index(slot) for slot in range(4)] == [0x10000000, 0x10000008, 0x10000010, 0x10000018]
    assert table.slot_of_index(0x10000010) == 2
    assert table.slot_of_index(0x10000011) is None  # between two cores' vCPU ids
    assert table.slot_of_index(0x10000020) is None  # past the last core
    assert table.slot_of_index(0x0FFFFFFF) is None


def test_hot_add_take_and_release_through_papr_states() -> None:
    table, calls = drcs()
    table.plugged(2, hotplug=True)
    assert table.next_event() == (HotplugAction.ADD, 2)
    assert table.state[2] == DrcState.UNUSABLE
    with pytest.raises(DrcError):
        table.configure_connector(2)  # not allocated yet
    table.allocate(2)
    table.unisolate(2)
    table.configure_connector(2)
    assert table.state[2] == DrcState.CONFIGURED
    assert calls == [("taken", 2)]
    table.request_unplug(2)
    assert table.next_event() == (HotplugAction.REMOVE, 2)
    assert calls == [("taken", 2)]  # configured: the guest decides
    with pytest.raises(DrcError):
        table.unallocate(2)  # isolate first
    table.isolate(2)
    table.unallocate(2)
    assert calls[-1] == ("release", 2)


def test_a_connector_no_guest_took_releases_at_once_and_a_refusal_cancels() -> None:
    table, calls = drcs()
    table.plugged(1, hotplug=True)
    table.request_unplug(1)
    assert calls == [("release", 1)]
    table.gone(1)
    table.plugged(3, hotplug=False)  # cold plug: configured
    table.request_unplug(3)
    table.unisolate(3)  # the guest refuses
    assert calls[-1] == ("refused", 3)
    assert not table.unplug_requested[3]
    with pytest.raises(DrcError):
        table.allocate(1)  # empty


def test_a_reset_completes_pending_unplugs_and_configures_the_rest() -> None:
    table, _ = drcs()
    table.plugged(1, hotplug=False)
    table.plugged(2, hotplug=True)
    table.plugged(3, hotplug=False)
    table.request_unplug(3)  # pending (configured)
    assert table.reset() == [3]
    assert table.state[2] == DrcState.CONFIGURED
    assert table.next_event() is None  # events are dropped


def board(version: str = "pseries-7.2") -> SpaprBoard:
    found = find_board(version, SysEmuTarget.PPC64)
    assert isinstance(found, SpaprBoard)
    return found


def topo(cpus: int, threads: int, max_cpus: int | None = None) -> Topology:
    max_cpus = max_cpus or cpus
    return Topology(
        sockets=1, dies=1, cores=max_cpus // threads, threads=threads, boot_cpus=cpus, max_cpus=max_cpus
    )


RMA = "pSeries SLOF firmware requires >= 80ldMiB guest RMA (Real Mode Area memory)"
SMT8 = "TCG cannot support more than 8 threads/core on a pseries machine"


@pytest.mark.parametrize(
    ("topology", "cpu", "ram", "error"),
    [
        (topo(2, 2), "power9_v2.0", 16 * MiB, RMA),
        (topo(2, 2), "power7_v2.3", 512 * MiB, "TCG only supports SMT on POWER8 or newer CPUs"),
        (topo(16, 16), "power9_v2.0", 512 * MiB, SMT8),
        (topo(1, 1), "power9_v2.0", 384 * MiB, "Memory size 0x18000000 is not aligned to 256 MiB"),
        (topo(2, 2), "power9_v2.0", 128 * MiB, "Memory size 0x8000000 is not aligned to 256 MiB"),
        (topo(1, 1), "603", 512 * MiB, "Unable to find sPAPR CPU Core definition"),
    ],
)  # fmt: skip
def test_machine_checks_in_spapr_machine_inits_order(
    topology: Topology, cpu: str, ram: int, error: str
) -> None:
    with pytest.raises(StartupError) as caught:
        board().check_machine(topology, f"{cpu}-powerpc64-cpu", ram)
    assert str(caught.value) == error


def test_threads_must_be_a_power_of_two_and_fit_vsmt() -> None:
    topology = Topology(sockets=1, dies=1, cores=2, threads=3, boot_cpus=3, max_cpus=6)
    with pytest.raises(StartupError, match="Cannot support 3 threads/core on a pseries machine because"):
        board().check_machine(topology, "power9_v2.0-powerpc64-cpu", 512 * MiB)
    small = board().with_properties({"vsmt": "2"})
    assert isinstance(small, SpaprBoard)
    with pytest.raises(
        StartupError, match=r"^Cannot support VSMT mode 2 because it must be >= threads/core \(4\)$"
    ):
        small.check_machine(topo(4, 4), "power9_v2.0-powerpc64-cpu", 512 * MiB)
    assert board().vsmt_for(4) == 4
    assert board("pseries-4.1").vsmt_for(2) == 8
