"""The ACPI power button: the guest model powers off as a Linux guest does, or ignores it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.peers import TIMEOUT, Peer, RawQmp, qmp_client
from tests.replies import as_dict
from vmd.testing import Vm, wait_event


async def test_power_button_shuts_the_guest_down_and_no_shutdown_keeps_the_vm(
    peers: Callable[..., Peer],
) -> None:
    vmd = peers("vmd", "-M", "q35", "-no-shutdown")
    async with qmp_client(vmd.socket) as qmp:
        with qmp.listener() as listener:
            await qmp.execute("system_powerdown")
            names = [(await asyncio.wait_for(listener.get(), TIMEOUT)) for _ in range(3)]
        assert [(e["event"], e.get("data")) for e in names] == [
            ("POWERDOWN", None),
            ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}),
            ("STOP", None),
        ]
        assert as_dict(await qmp.execute("query-status"))["status"] == "shutdown"
        stats = await qmp.execute("query-stats", {"target": "vcpu"})
        assert isinstance(stats, list)
        await asyncio.sleep(0.05)
        assert await qmp.execute("query-stats", {"target": "vcpu"}) == stats  # the vCPUs stopped
    assert vmd.alive()


@pytest.mark.vmd_args("-M", "q35", "-smp", "4", "-no-shutdown", "-vmd-guest", "load=busy")
async def test_stop_after_a_guest_shutdown_comes_once_every_vcpu_parked(vmd_vm: Vm) -> None:
    """Four busy vCPUs, the guest powers off under -no-shutdown, five times over: each STOP comes
    only once the vCPUs have parked, so the counters read after it never move again."""
    qmp = vmd_vm.qmp
    for _ in range(5):
        await qmp.execute("system_powerdown")
        await wait_event(qmp, "STOP", timeout=TIMEOUT)
        stats = await qmp.execute("query-stats", {"target": "vcpu"})
        await asyncio.sleep(0.02)
        assert await qmp.execute("query-stats", {"target": "vcpu"}) == stats
        await qmp.execute("system_reset")
        await qmp.execute("cont")


async def test_power_button_without_no_shutdown_ends_the_daemon(peers: Callable[..., Peer]) -> None:
    vmd = peers("vmd", "-M", "q35")
    raw = await RawQmp.connect(vmd.socket, negotiate=True)
    await raw.send(b'{"execute": "system_powerdown", "id": 1}')
    reply, before = await raw.recv_reply()
    assert reply == {"return": {}, "id": 1}
    assert [e["event"] for e in before] == ["POWERDOWN"]
    shutdown = await raw.recv()
    assert (shutdown["event"], shutdown["data"]) == ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
    assert await raw.at_eof()  # the daemon closes its monitors as it exits
    await raw.close()
    assert vmd.wait_exit()


@pytest.mark.parametrize("args", [("-vmd-guest", "powerdown=ignore"), ("-S",)], ids=["ignore", "not-booted"])
async def test_power_button_ignored(peers: Callable[..., Peer], args: tuple[str, ...]) -> None:
    vmd = peers("vmd", "-M", "q35", *args)
    async with qmp_client(vmd.socket) as qmp:
        with qmp.listener() as listener:
            await qmp.execute("system_powerdown")
            assert (await asyncio.wait_for(listener.get(), TIMEOUT))["event"] == "POWERDOWN"
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(listener.get(), 0.3)
        assert as_dict(await qmp.execute("query-status"))["status"] in ("running", "prelaunch")
