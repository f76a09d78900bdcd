from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.peers import Peer, start_peer


@pytest.fixture
def peers() -> Iterator[Callable[..., Peer]]:
    """Start vmd or QEMU daemons; each is stopped (and checked for a clean exit) afterwards."""
    started: list[Peer] = []

    def start(kind: str = "vmd", *args: str, **kwargs: object) -> Peer:
        peer = start_peer(kind, args, **kwargs)  # type: ignore[arg-type]
        started.append(peer)
        return peer

    yield start
    for peer in started:
        if peer.alive():
            peer.stop()
        if peer.kind == "vmd" and peer.log.exists():
            text = peer.log.read_text()
            assert "Traceback" not in text, f"vmd logged an exception:\n{text}"
        shutil.rmtree(peer.workdir, ignore_errors=True)


@pytest.fixture
def vmd(peers: Callable[..., Peer]) -> Peer:
    return peers("vmd", "-S")


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads leaked: {leaked}"


@pytest.fixture
def workdir() -> Iterator[Path]:
    from tests.peers import short_tmpdir

    path = short_tmpdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)
