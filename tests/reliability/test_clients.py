"""Many clients at once, and clients that misbehave while an innocent one is served."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.peers import Peer
from tests.reliability.drivers import MISBEHAVIOURS, innocent_latency, many_clients

ARGS = ("-M", "q35", "-smp", "1,maxcpus=4", "-S")


@pytest.mark.parametrize("kind", ["vmd", pytest.param("qemu", marks=pytest.mark.qemu)])
async def test_concurrent_clients_get_every_reply_once_and_in_order(
    peers: Callable[..., Peer], kind: str
) -> None:
    """16 clients pipelining ids [client, n]: nothing lost, duplicated, reordered or misdelivered.
    vmd serves them on one socket; QEMU serves one client per monitor, so it gets 16 monitors."""
    peer = peers(kind, *ARGS, monitors=16 if kind == "qemu" else 1)
    result = await many_clients(peer.sockets, 16, 150 if kind == "vmd" else 40)
    assert result.problems == []
    assert result.replies == result.commands == 16 * (150 if kind == "vmd" else 40)


@pytest.mark.parametrize("mode", MISBEHAVIOURS)
@pytest.mark.parametrize("kind", ["vmd", pytest.param("qemu", marks=pytest.mark.qemu)])
async def test_an_innocent_client_is_served_whatever_another_does(
    peers: Callable[..., Peer], kind: str, mode: str
) -> None:
    """Clients that vanish mid-command, never read, send 2 MiB lines, trickle bytes or flood: the
    innocent client gets every reply (its latency is the long mode's figure, not asserted here),
    the misbehaving one ran, and vmd's memory stays bounded."""
    peer = peers(kind, *ARGS, monitors=2 if kind == "qemu" else 1)
    result = await innocent_latency(peer, mode, 1.5)
    assert result.problems == []
    assert result.failures == 0
    assert len(result.samples) > 5
    assert result.rounds >= 1
    assert result.before is not None
    assert result.after is not None
    if kind == "vmd":
        assert result.after.rss_kib - result.before.rss_kib < 40 * 1024
