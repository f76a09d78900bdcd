"""Serial ports on a terminal: the guest's output reaches whoever opens it, even later."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.peers import Peer, qmp_client, read_terminal


@pytest.mark.parametrize(
    "args",
    [("-serial", "pty"), ("-chardev", "pty,id=c0", "-device", "isa-serial,chardev=c0,id=com1")],
    ids=["-serial", "-device"],
)
async def test_pty_serial_keeps_the_boot_output(peers: Callable[..., Peer], args: tuple[str, ...]) -> None:
    vmd = peers("vmd", "-M", "q35", *args)
    async with qmp_client(vmd.socket) as qmp:
        chardevs = await qmp.execute("query-chardev")
    assert isinstance(chardevs, list)
    (terminal,) = [c["filename"] for c in chardevs if c["filename"].startswith("pty:")]
    await asyncio.sleep(0.2)  # the banner is printed before anyone reads: the terminal keeps it
    output = await asyncio.to_thread(read_terminal, terminal.removeprefix("pty:"), b"cpu0 up")
    assert b"vmd firmware 1: cpu0 up" in output
