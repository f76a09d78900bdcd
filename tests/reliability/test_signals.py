"""SIGTERM, SIGKILL and SIGSTOP of the daemon in the middle of a plug (drivers.signal_round)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.reliability.drivers import signal_round


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP], ids=lambda s: s.name)
@pytest.mark.parametrize("delay", [0.0, 0.004])
async def test_a_signal_mid_plug(workdir: Path, signum: int, delay: float) -> None:
    """Socket and pidfile removed on SIGTERM, stale ones replaced after SIGKILL, untouched by a
    second daemon while the first is stopped; modes 0660 and 0600; a bystander file unchanged."""
    assert await signal_round(workdir, signum, delay) == []
