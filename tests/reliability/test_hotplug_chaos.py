"""Random hotplug, run-state and guest requests from two clients on a running guest, and the
defect that found: a guest-side CPU change dropped by a reset lost its reply."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.peers import Peer, RawQmp
from tests.reliability.drivers import Qmp, _until_online, cpu_slot, hotplug_chaos

ARGS = ("-M", "q35", "-smp", "1,maxcpus=4", "-no-shutdown")


async def test_random_hotplug_requests_leave_the_model_whole(peers: Callable[..., Peer]) -> None:
    """Every reply comes, none is an internal error, and after each round the guest gives every
    hot-plugged CPU back, the views agree, and a plug and an unplug still work."""
    peer = peers("vmd", *ARGS)
    result = await hotplug_chaos(peer, rounds=5, steps=30, seed=7)
    assert result.problems == []
    assert result.rounds == 5


async def test_a_reset_while_the_guest_changes_a_cpu_still_answers_the_request(
    peers: Callable[..., Peer],
) -> None:
    """__com.vmd_guest-set-cpu-online waits for the vCPU's confirmation; a stop and a reset from
    another client in the meantime drop the change.  The request is answered (with an error that
    says so, or success if the vCPU confirmed first): it used to get no reply at all."""
    peer = peers("vmd", *ARGS)
    qmp = await Qmp.connect(peer.socket)
    other = await RawQmp.connect(peer.socket, negotiate=True)
    await _until_online(qmp, 0, True)
    await qmp.execute("device_add", {**cpu_slot(1), "id": "c1"})
    for _ in range(10):
        await _until_online(qmp, 1, True)
        request = {
            "execute": "__com.vmd_guest-set-cpu-online",
            "arguments": {"cpu-index": 1, "online": False},
        }
        await qmp.raw.send(json.dumps({**request, "id": "off"}))
        await other.send('{"execute": "stop"}{"execute": "system_reset"}{"execute": "cont", "id": "c"}')
        await other.until_id("c")
        await qmp.raw.send('{"execute": "query-status", "id": "after"}')
        replies = [m for m in await qmp.raw.until_id("after") if "event" not in m]
        assert [m["id"] for m in replies] == ["off", "after"]
        assert replies[0] in (
            {"return": {}, "id": "off"},
            {
                "error": {
                    "class": "GenericError",
                    "desc": "CPU 1 did not confirm the change: the guest rebooted",
                },
                "id": "off",
            },
        )
    await other.close()
    await qmp.close()
