"""SIGTERM, SIGKILL and SIGSTOP of the daemon in the middle of a plug (drivers.signal_round)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.peers import TIMEOUT, start_peer
from tests.reliability.drivers import signal_round


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP], ids=lambda s: s.name)
@pytest.mark.parametrize("delay", [0.0, 0.004])
async def test_a_signal_mid_plug(workdir: Path, signum: int, delay: float) -> None:
    """Socket and pidfile removed on SIGTERM, stale ones replaced after SIGKILL, untouched by a
    second daemon while the first is stopped; modes 0660 and 0600; a bystander file unchanged."""
    assert await signal_round(workdir, signum, delay) == []


async def test_a_pidfile_replaced_meanwhile_is_left_alone(workdir: Path) -> None:
    """Somebody moved vmd's pidfile away and put a file of their own at its path: vmd's exit
    removes neither (it used to unlink whatever was at the path)."""
    peer = start_peer("vmd", ("-S",), workdir=workdir)
    pidfile = workdir / "vmd.pid"
    pidfile.rename(workdir / "moved.pid")
    pidfile.write_text("somebody else's\n")
    peer.stop()
    assert peer.wait_exit(TIMEOUT)
    assert pidfile.read_text() == "somebody else's\n"
    assert (workdir / "moved.pid").read_text() == f"{peer.pid}\n"
    assert not Path(peer.socket).exists()
