"""What vmd's log (-D FILE) says about CPU hotplug: every decision of the machine and of the
guest at INFO, every event at DEBUG (VMD_LOG_LEVEL=debug).

The lines are matched without their time stamp and pid; their order is the order things happened.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.peers import TIMEOUT, Peer, qmp_client
from tests.qmp.test_cpu_hotplug import slot, until_online
from tests.replies import as_event

CPUS, OSPM, OS = "vmd.machine.cpu_manager: ", "vmd.guest.acpi_ospm: ", "vmd.guest.os_model: "
PREFIX = re.compile(r"^\S+ \S+ vmd\[\d+\] ")


def log_lines(peer: Peer, level: str = "INFO") -> list[str]:
    """The log's lines of `level`, as 'logger: message'."""
    lines = []
    for line in peer.log.read_text().splitlines():
        rest = PREFIX.sub("", line)
        if rest.startswith(level + " "):
            lines.append(rest.removeprefix(level + " "))
    return lines


async def until_logged(peer: Peer, text: str) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not any(text in line for line in log_lines(peer)):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_plug_and_an_accepted_unplug_are_told_step_by_step(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4")
    async with qmp_client(peer.socket) as qmp:
        await qmp.execute("device_add", {**slot(1), "id": "cpu1"})
        await until_online(qmp, "0-1")
        await qmp.execute("device_del", {"id": "cpu1"})
        await until_logged(peer, "ejected: _OST(0x3, 0x0)")
    assert log_lines(peer) == [
        OS + "guest: booting with 1 CPUs present, 1 brought online (load 0%)",
        CPUS + "CPU /machine/peripheral/cpu1 hot-plugged in slot 1 (vCPUs 1)",
        OSPM + "guest: slot 1: device check, CPU inserted: _OST(0x1, 0x0)",
        OS + "guest: CPU 1 is present; onlining it (auto-online=on)",
        OS + "guest: taking CPU 1 online",
        OS + "guest: CPU 1 is online (its vCPU confirmed)",
        CPUS + "CPU in slot 1: unplug requested, the guest is asked to eject it",
        OSPM + "guest: slot 1: eject request accepted (unplug=accept): _OST(0x3, 0x84)",
        OS + "guest: taking CPU 1 offline",
        OS + "guest: CPU 1 is offline (its vCPU confirmed)",
        OSPM + "guest: slot 1: CPUs offline, ejecting (_EJ0)",
        CPUS + "CPU /machine/peripheral/cpu1 ejected by the guest: leaving every view, its threads stop",
        CPUS + "CPU /machine/peripheral/cpu1 deleted (DEVICE_DELETED sent)",
        OSPM + "guest: slot 1: ejected: _OST(0x3, 0x0)",
    ]


@pytest.mark.parametrize(
    ("policy", "told"),
    [
        (
            "unplug=refuse",
            [
                OSPM + "guest: slot 1: eject request refused (unplug=refuse): _OST(0x3, 0x82)",
                CPUS + "CPU in slot 1: the guest refused the unplug (DEVICE_UNPLUG_GUEST_ERROR)",
            ],
        ),
        (
            "unplug=ignore",
            [OSPM + "guest: slot 1: eject request ignored (unplug=ignore): no _OST"],
        ),
    ],
)
async def test_a_refused_or_ignored_unplug_is_told(
    peers: Callable[..., Peer], policy: str, told: list[str]
) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", f"auto-online=off,{policy}")
    async with qmp_client(peer.socket) as qmp:
        await qmp.execute("device_add", {**slot(1), "id": "cpu1"})
        await until_logged(peer, "left offline (auto-online=off)")
        await qmp.execute("device_del", {"id": "cpu1"})
        await until_logged(peer, told[-1].split(": ", 1)[1])
    lines = log_lines(peer)
    start = lines.index(CPUS + "CPU in slot 1: unplug requested, the guest is asked to eject it")
    assert lines[start + 1 :] == told


async def test_the_power_button_and_a_reset_are_told(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-M", "q35", "-S", "-vmd-guest", "powerdown=ignore")
    async with qmp_client(peer.socket) as qmp:
        await qmp.execute("system_powerdown")
        await qmp.execute("cont")
        await qmp.execute("system_powerdown")
        await qmp.execute("system_reset")
        await until_logged(peer, "guest: booting")
    assert log_lines(peer) == [
        OS + "guest: power button pressed before the OS booted: nothing notices it",
        OS + "guest: booting with 1 CPUs present, 1 brought online (load 0%)",
        OS + "guest: power button pressed: ignored (powerdown=ignore)",
        OS + "guest: machine reset: the OS reboots (0 operations in flight dropped)",
        OS + "guest: booting with 1 CPUs present, 1 brought online (load 0%)",
    ]


async def test_at_debug_every_event_is_logged_as_sent(
    peers: Callable[..., Peer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VMD_LOG_LEVEL", "debug")
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4")
    async with qmp_client(peer.socket) as qmp:
        with qmp.listener() as listener:
            await qmp.execute("device_add", {**slot(1), "id": "cpu1"})
            await qmp.execute("stop")
            received: list[dict[str, Any]] = []
            async with asyncio.timeout(TIMEOUT):
                while len(received) < 2:
                    received.append(as_event(await listener.get()))
    logged = [line for line in log_lines(peer, "DEBUG") if line.startswith("vmd.qmp.events: event ")]
    # The first is the RESUME of the start, which nobody was connected to receive (as in QEMU).
    assert [json.loads(line.removeprefix("vmd.qmp.events: event ")) for line in logged][1:] == received
    assert json.loads(logged[0].removeprefix("vmd.qmp.events: event "))["event"] == "RESUME"
