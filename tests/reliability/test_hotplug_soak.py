"""Plug/unplug under every guest policy with concurrent queries: after every step the slots,
query-cpus-fast, the guest view and the live vcpuN threads agree; threads and fds end as they were."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.peers import Peer
from tests.reliability.drivers import POLICIES, plug_soak, plug_without_guest


@pytest.mark.parametrize("policy", POLICIES)
async def test_plug_unplug_soak_under_each_guest_policy(peers: Callable[..., Peer], policy: str) -> None:
    peer = peers("vmd", "-M", "q35", "-smp", "1,maxcpus=4", "-vmd-guest", POLICIES[policy])
    result = await plug_soak(peer, policy, 6)
    assert result.problems == []
    assert result.cycles == 6
    assert result.poller_answers > 0
    assert result.first is not None
    assert result.last is not None
    assert (result.last.threads, result.last.fds) == (result.first.threads, result.first.fds)


@pytest.mark.parametrize("kind", ["vmd", pytest.param("qemu", marks=pytest.mark.qemu)])
async def test_plugs_without_a_guest_and_refused_requests(peers: Callable[..., Peer], kind: str) -> None:
    """Every free slot plugged (views and threads agree after each), then plugs into occupied slots
    and unplugs the unbooted guest cannot do, over and over: each refused, nothing grows.  QEMU 7.2
    names its vCPU threads `CPU N/TCG` with debug-threads=on."""
    extra = ("-name", "t,debug-threads=on") if kind == "qemu" else ()
    peer = peers(kind, "-M", "q35", "-smp", "1,maxcpus=6", "-S", *extra)
    result = await plug_without_guest(peer, 6, 60)
    assert result.problems == []
    assert result.plugged == 5
    assert result.first is not None
    assert result.last is not None
    assert (result.last.threads, result.last.fds) == (result.first.threads, result.first.fds)
