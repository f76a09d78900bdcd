"""The guest OS model on its own, against a machine that only records what the guest does to it.

The vCPUs' answers are played by the test (`cpu_reported`), so that the order of a report, a
reboot and a guest operation in one turn of the loop is exact: the daemon-level tests
(tests/qmp/test_unplug_races.py) reach these orders only by chance.
"""

from __future__ import annotations

import asyncio

from vmd.firmware import standard as fw
from vmd.guest.os_model import GuestOs
from vmd.guest.policy import GuestPolicy

ONLINE, OFFLINE = fw.CPU_STATE_ONLINE, fw.CPU_STATE_OFFLINE
TIMEOUT = 5.0


class RecordingMachine:
    """The machine side of the guest, as data: which bits it set and which CPUs it woke."""

    def __init__(self, present: list[int]) -> None:
        self.present = present
        self.bits: dict[int, bool] = {}
        self.woken: list[int] = []
        self.confirmed: list[int] = []

    def present_cpus(self) -> list[int]:
        return list(self.present)

    def slot_vcpus(self, slot: int) -> range:
        return range(slot, slot + 1)

    def set_cpu_online_bit(self, index: int, online: bool) -> None:
        self.bits[index] = online

    def set_work(self, enabled: bool) -> None:
        pass

    def wake_cpu(self, index: int) -> None:
        self.woken.append(index)

    def eject(self, slot: int) -> None:
        return None

    def unplug_refused(self, slot: int) -> None:
        pass

    def cpu_online_confirmed(self, index: int) -> None:
        self.confirmed.append(index)

    def cpu_offline_confirmed(self, index: int) -> None:
        pass

    def slot_of(self, cpu_index: int) -> int:
        return cpu_index


def booted_guest(present: list[int]) -> tuple[GuestOs, RecordingMachine]:
    guest = GuestOs(GuestPolicy())
    machine = RecordingMachine(present)
    guest.attach(machine, None, lambda: None)
    guest.set_running(True)
    for index in present:
        guest.cpu_reported(index, ONLINE)
    return guest, machine


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_an_offline_cancelled_by_a_reboot_in_the_turn_its_cpu_answers_goes_no_further() -> None:
    guest, _ = booted_guest([0, 1])
    went_on: list[str] = []

    async def eject_like() -> None:
        async with guest.holding([1]):
            await guest.take_offline([1])
            went_on.append("ejected")  # what the ACPI driver does next

    guest.spawn(eject_like(), "eject")
    await turns()
    assert guest.online == {0, 1}
    # The vCPU's answer and the reboot land in the same turn: the reboot wins, whatever the order
    # of the wake-ups it causes (Python 3.11's wait_for let the operation go on).
    guest.cpu_reported(1, OFFLINE)
    guest.reset()
    await turns()
    assert went_on == []


async def test_reports_of_cpus_the_guest_does_not_have_change_nothing() -> None:
    guest, machine = booted_guest([0, 1])
    guest.cpu_gone(1)
    guest.cpu_reported(1, ONLINE)  # the last words of an ejected CPU's thread
    guest.cpu_reported(2, OFFLINE)  # a CPU being hot-added, before the driver enumerated it
    assert guest.online == {0}
    assert guest.present == {0}
    assert machine.confirmed == [0, 1]  # those of boot only


async def test_after_a_reboot_an_offline_waits_for_the_vcpus_own_report() -> None:
    """The reboot forgot what was online; the vCPUs say it again as they restart.  An operation
    asked for before that answer waits for it instead of taking 'not known online' for offline."""
    guest, machine = booted_guest([0, 1])
    guest.reset()
    guest.set_running(True)
    assert guest.online == set()
    done = asyncio.Event()

    async def offline() -> None:
        async with guest.holding([1]):
            await guest.take_offline([1])
        done.set()

    guest.spawn(offline(), "offline")
    await turns()
    assert not done.is_set()
    assert machine.bits[1] is False
    assert machine.woken[-1] == 1
    guest.cpu_reported(1, ONLINE)  # it came up as the boot asked, then saw its bit cleared
    await turns()
    assert not done.is_set()
    guest.cpu_reported(1, OFFLINE)
    async with asyncio.timeout(TIMEOUT):
        await done.wait()
    assert guest.online == set()


async def test_a_hot_added_cpu_is_onlined_only_once_it_says_so() -> None:
    guest, machine = booted_guest([0])
    guest.cpu_reported(1, OFFLINE)  # its thread started before the driver found it: ignored
    guest.cpus_added([1])
    await turns()
    assert machine.bits[1] is True
    assert guest.online == {0}
    guest.cpu_reported(1, ONLINE)
    await turns()
    assert guest.online == {0, 1}


async def test_work_wakes_only_the_online_cpus() -> None:
    guest, machine = booted_guest([0, 1, 2])
    guest.cpu_reported(2, OFFLINE)
    machine.woken.clear()
    guest.set_policy(guest.policy.replace(load_percent=100))
    assert sorted(machine.woken) == [0, 1]
