from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import needs
from tests.peers import Peer, start_peer


def pytest_configure(config: pytest.Config) -> None:
    """vmd.testing's plugin, which an installed vmd brings through its pytest11 entry point; an
    editable install made before the entry point existed lacks it."""
    if not config.pluginmanager.has_plugin("vmd"):
        config.pluginmanager.import_plugin("vmd.testing.plugin")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per reason tests were skipped for, with how many (-ra lists each test)."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):
            reason = report.longrepr[2].removeprefix("Skipped: ")
            reasons[reason] = reasons.get(reason, 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
        tests = "test" if count == 1 else "tests"
        terminalreporter.write_line(f"skipped {count} {tests}: {reason}", yellow=True, bold=True)


@pytest.fixture
def peers() -> Iterator[Callable[..., Peer]]:
    """Start vmd or QEMU daemons; each is stopped (and checked for a clean exit) afterwards."""
    started: list[Peer] = []

    def start(kind: str = "vmd", *args: str, **kwargs: Any) -> Peer:
        peer = start_peer(kind, args, **kwargs)
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


@pytest.fixture(scope="session")
def qemu() -> str:
    """The qemu-system-x86_64 to compare with (missing: the test fails or is skipped, tests.needs)."""
    return needs.require_qemu()


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
