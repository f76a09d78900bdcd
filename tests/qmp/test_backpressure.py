"""Back-pressure: a client's burst runs only as fast as its replies drain, memory stays bounded,
other clients are served meanwhile, and max-output counts only events left unread."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from pathlib import Path

from tests.peers import TIMEOUT, Peer, RawQmp


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def deaf_client(path: str) -> socket.socket:
    """A negotiated blocking socket with a small receive buffer, which the test stops reading."""
    sock = socket.socket(socket.AF_UNIX)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    sock.connect(path)
    sock.recv(4096)  # greeting
    sock.sendall(b'{"execute": "qmp_capabilities"}')
    sock.recv(4096)
    return sock


async def test_a_burst_from_clients_that_never_read_keeps_memory_bounded(vmd: Peer) -> None:
    """Four clients each write 5,000 query-qmp-schema (~30 KiB replies) at once and never read:
    vmd executes only what their transports can hold, so its memory barely moves (it grew by
    ~270 MiB before), and a bystander is answered throughout."""
    bystander = await RawQmp.connect(vmd.socket, negotiate=True)
    before = rss_mib(vmd.pid)
    greedy = [deaf_client(vmd.socket) for _ in range(4)]
    for sock in greedy:
        sock.sendall(b'{"execute": "query-qmp-schema"}' * 5000)
    for i in range(50):
        await bystander.send(b'{"execute": "query-status", "id": %d}' % i)
        assert (await bystander.recv())["id"] == i
        await asyncio.sleep(0.005)
    assert rss_mib(vmd.pid) - before < 40
    for sock in greedy:
        sock.close()
    # A client that reads late gets every reply, in order.
    late = await RawQmp.connect(vmd.socket, negotiate=True)
    late.writer.write(b"".join(b'{"execute": "query-qmp-schema", "id": %d}' % i for i in range(300)))
    await asyncio.sleep(0.2)
    for i in range(300):
        reply = await late.recv()
        assert reply["id"] == i
        assert reply["return"][0] == {
            "name": "qmp_capabilities",
            "ret-type": "0",
            "meta-type": "command",
            "arg-type": "1",
        }
    await late.close()
    await bystander.close()


async def test_max_output_spares_a_client_that_reads_its_replies(peers: Callable[..., Peer]) -> None:
    """20,000 system_reset in one write, under max-output=256K: the client reads everything, so
    it gets every reply and every RESET (it was disconnected before its first reply)."""
    peer = peers("vmd", "-S", "-vmd-limits", "max-output=256K")
    raw = await RawQmp.connect(peer.socket, negotiate=True)
    count = 20000
    await raw.send(b"".join(b'{"execute": "system_reset", "id": %d}' % i for i in range(count)))
    replies = resets = 0
    async with asyncio.timeout(60):
        while replies < count:
            message = await raw.recv()
            if message.get("event") == "RESET":
                resets += 1
            else:
                assert message == {"return": {}, "id": replies}
                replies += 1
    assert resets == count
    assert "is not reading" not in peer.log.read_text()
    await raw.close()


async def test_events_piling_up_unread_still_get_a_client_disconnected(peers: Callable[..., Peer]) -> None:
    """The limit still holds for what it is for: events queued for a client that reads nothing."""
    peer = peers("vmd", "-S", "-vmd-limits", "max-output=64K,write-high-water=4K")
    deaf = deaf_client(peer.socket)
    driver = await RawQmp.connect(peer.socket, negotiate=True)
    for i in range(3000):  # two events per pair, for every session
        await driver.send(b'{"execute": "cont"}{"execute": "stop", "id": %d}' % i)
        await driver.until_id(i)
    assert "is not reading" in peer.log.read_text()
    deaf.settimeout(TIMEOUT)
    while deaf.recv(1 << 16):
        pass  # what was queued, then EOF
    deaf.close()
    await driver.close()
