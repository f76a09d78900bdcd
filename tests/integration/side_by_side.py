"""QEMU 7.2 and vmd started with the same command line and talked to in lockstep.

The board suites (s390x, pseries, ARM virt) compare one target's binaries command by command;
this is their shared harness, so each suite states only what it compares.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.integration.blocking_qmp import BlockingQmp
from tests.peers import Peer, short_tmpdir, start_peer


@contextlib.contextmanager
def qemu_and_vmd(target: str, args: Sequence[str]) -> Iterator[tuple[BlockingQmp, BlockingQmp, Peer, Peer]]:
    """Both peers of `target` with `args`, connected: (qemu client, vmd client, qemu, vmd).

    On the way out both are stopped and vmd's log must hold no traceback: a comparison that
    passed while vmd crashed behind it would prove nothing.
    """
    peers: list[tuple[Peer, Path]] = []
    clients: list[BlockingQmp] = []
    try:
        for kind in ("qemu", "vmd"):
            workdir = short_tmpdir()
            peers.append((start_peer(kind, tuple(args), workdir=workdir, target=target), workdir))
            clients.append(BlockingQmp(peers[-1][0].socket))
        yield clients[0], clients[1], peers[0][0], peers[1][0]
    finally:
        for client in clients:
            with contextlib.suppress(OSError):  # a peer that went away (QEMU after a panic)
                client.close()
            client.sock.close()
        for peer, workdir in peers:
            peer.stop()
            if peer.kind == "vmd" and peer.log.exists():
                assert "Traceback" not in peer.log.read_text()
            shutil.rmtree(workdir, ignore_errors=True)


def same(qemu: BlockingQmp, vmd: BlockingQmp, command: str, arguments: str | None = None) -> Any:
    """Send one command to both; their whole replies must be equal. Returns vmd's."""
    theirs, ours = qemu.command(command, arguments), vmd.command(command, arguments)
    assert ours == theirs, f"{command} {arguments}"
    return ours


def cpus_fast(client: BlockingQmp, peer: Peer) -> list[dict[str, Any]]:
    """query-cpus-fast with the thread ids checked (each a thread of the peer) and removed."""
    cpus = client.result("query-cpus-fast")
    for cpu in cpus:
        tid = cpu.pop("thread-id")
        assert Path(f"/proc/{peer.pid}/task/{tid}").exists(), "thread-id is a thread of the peer"
    return cpus
