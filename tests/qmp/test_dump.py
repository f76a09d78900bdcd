"""dump-guest-memory over a real socket: the ELF core holds guest RAM at its guest-physical
addresses (equal to what __com.vmd_query-guest-ram digests), the pause around a dump on a
running guest, a detached dump's progress and its DUMP_COMPLETED, and QEMU 7.2's refusals
(tests/integration/test_dump_vs_qemu.py compares them with QEMU's)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.elf_core import read_core
from tests.peers import TIMEOUT, Peer, events_until, qmp_client
from tests.replies import as_dict

BASE = ("-M", "q35", "-smp", "1", "-m", "128", "-vmd-guest", "load=busy")
RAM = 128 << 20
EM_X86_64 = 62


async def refused(call: Any, text: str) -> None:
    with pytest.raises(ExecuteError) as caught:
        await call
    assert caught.value.error_class == "GenericError"
    assert str(caught.value) == text


async def guest_has_run(qmp: QMPClient) -> None:
    """Until the firmware counted (so RAM holds what the guest wrote, not only its image)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            if as_dict(await qmp.execute("__com.vmd_query-guest-ram"))["guest-counter"]:
                return
            await asyncio.sleep(0.02)


async def dump_to(qmp: QMPClient, path: Path, **args: Any) -> None:
    await qmp.execute("dump-guest-memory", {"paging": False, "protocol": f"file:{path}", **args})


async def test_memory_only_dump_as_libvirt_sends_it(peers: Callable[..., Peer], workdir: Path) -> None:
    """virsh dump --memory-only: stop, getfd, a detached dump to fd:dump, DUMP_COMPLETED, cont.
    The core's one load is all of RAM at guest-physical 0, byte for byte."""
    vm = peers("vmd", *BASE)
    core_path = workdir / "core.elf"
    async with qmp_client(vm.socket) as qmp:
        listener = EventListener()
        with qmp.listen(listener):
            await guest_has_run(qmp)
            await qmp.execute("stop")
            assert (await events_until(listener, "STOP"))[-1] == ("STOP", None)
            digest = as_dict(await qmp.execute("__com.vmd_query-guest-ram"))
            with open(core_path, "wb") as out:  # noqa: ASYNC230 - opening a local file
                qmp.send_fd_scm(out.fileno())
            await qmp.execute("getfd", {"fdname": "dump"})
            await qmp.execute("dump-guest-memory", {"paging": False, "protocol": "fd:dump", "detach": True})
            events = await events_until(listener, "DUMP_COMPLETED")
        done = {"total": RAM, "status": "completed", "completed": RAM}
        assert events == [("DUMP_COMPLETED", {"result": done})], "no STOP/RESUME: it was paused"
        assert await qmp.execute("query-dump") == done
        # The fd was used up, as in QEMU.
        await refused(qmp.execute("closefd", {"fdname": "dump"}), "File descriptor named 'dump' not found")
        await qmp.execute("cont")
        assert as_dict(await qmp.execute("query-status"))["status"] == "running"
    core = read_core(core_path)
    assert core.machine == EM_X86_64
    assert [(load.paddr, load.size) for load in core.loads] == [(0, RAM)]
    assert hashlib.sha256(core.segment(core.loads[0])).hexdigest() == digest["sha256"]
    headers = await asyncio.to_thread(_readelf, core_path)
    assert "CORE (Core file)" in headers.stdout
    assert "Advanced Micro Devices X86-64" in headers.stdout
    assert "LOAD" in headers.stdout
    assert not headers.stderr


async def test_dump_of_running_guest_pauses_it(peers: Callable[..., Peer], workdir: Path) -> None:
    """A dump of a running guest stops it (save-vm) and resumes it afterwards, detached or not."""
    vm = peers("vmd", *BASE)
    async with qmp_client(vm.socket) as qmp:
        listener = EventListener()
        with qmp.listen(listener):
            await dump_to(qmp, workdir / "a")
            sync = await events_until(listener, "RESUME")
            await dump_to(qmp, workdir / "b", detach=True)
            detached = await events_until(listener, "RESUME")
        done = {"result": {"total": RAM, "status": "completed", "completed": RAM}}
        assert sync == detached == [("STOP", None), ("DUMP_COMPLETED", done), ("RESUME", None)]
        assert as_dict(await qmp.execute("query-status"))["status"] == "running"
    assert (workdir / "a").stat().st_size == (workdir / "b").stat().st_size > RAM
    assert os.stat(workdir / "a").st_mode & 0o777 == 0o400, "QEMU creates the file S_IRUSR"


async def test_filtered_dump(peers: Callable[..., Peer], workdir: Path) -> None:
    """begin/length cut RAM; the cut's load sits at its guest-physical address."""
    vm = peers("vmd", *BASE, "-S")
    async with qmp_client(vm.socket) as qmp:
        await qmp.execute("stop")
        await dump_to(qmp, workdir / "whole")
        await dump_to(qmp, workdir / "cut", begin=0x7FFF000, length=0x10000)
        assert await qmp.execute("query-dump") == {"total": 4096, "status": "completed", "completed": 4096}
        await dump_to(qmp, workdir / "mid", begin=0x1000, length=0x2000)
    whole, cut, mid = (read_core(workdir / name) for name in ("whole", "cut", "mid"))
    assert [(load.paddr, load.size) for load in cut.loads] == [(0x7FFF000, 0x1000)]
    assert [(load.paddr, load.size) for load in mid.loads] == [(0x1000, 0x2000)]
    ram = whole.segment(whole.loads[0])
    assert cut.segment(cut.loads[0]) == ram[0x7FFF000:]
    assert mid.segment(mid.loads[0]) == ram[0x1000:0x3000]


async def test_refusals_in_qemus_words(peers: Callable[..., Peer], workdir: Path) -> None:
    vm = peers("vmd", *BASE, "-S")
    target = workdir / "x"
    async with qmp_client(vm.socket) as qmp:
        assert await qmp.execute("query-dump") == {"total": 0, "status": "none", "completed": 0}
        assert await qmp.execute("query-dump-guest-memory-capability") == {"formats": ["elf"]}
        no_filter = "kdump-compressed format doesn't support paging or filter"
        cases: list[tuple[dict[str, Any], str]] = [
            ({"paging": True, "format": "kdump-zlib"}, no_filter),
            ({"begin": 0, "length": 4096, "format": "win-dmp"}, no_filter),
            ({"begin": 0}, "Parameter 'length' is missing"),
            ({"length": 4096}, "Parameter 'begin' is missing"),
            ({"format": "kdump-zlib"}, "kdump-zlib is not available now"),
            ({"format": "kdump-lzo"}, "kdump-lzo is not available now"),
            ({"format": "kdump-snappy"}, "kdump-snappy is not available now"),
            ({"format": "win-dmp"}, "win-dmp is not available now"),
            ({"protocol": "fd:nope"}, "File descriptor named 'nope' has not been found"),
            ({"protocol": "bogus:x"}, "Invalid parameter 'protocol'"),
            (
                {"protocol": "file:/nonexistent/dir/x"},
                "Could not open '/nonexistent/dir/x': No such file or directory",
            ),
        ]
        for extra, text in cases:
            args = {"paging": False, "protocol": f"file:{target}", **extra}
            await refused(qmp.execute("dump-guest-memory", args), text)
        # Checks before the dump starts leave query-dump as it was.
        assert await qmp.execute("query-dump") == {"total": 0, "status": "none", "completed": 0}
        await refused(
            qmp.execute("dump-guest-memory", {"protocol": "file:x"}), "Parameter 'paging' is missing"
        )
        await refused(
            qmp.execute("dump-guest-memory", {"paging": False, "protocol": "file:x", "format": "nosuch"}),
            "Parameter 'format' does not accept value 'nosuch'",
        )
        # The dump's own checks fail it.
        failing: list[tuple[dict[str, Any], str]] = [
            ({"begin": 0, "length": 0}, "Invalid parameter 'length'"),
            ({"begin": 0x100000000, "length": 4096}, "dump: no guest memory to dump"),
        ]
        for extra, text in failing:
            await refused(dump_to(qmp, target, **extra), text)
            assert await qmp.execute("query-dump") == {"total": 0, "status": "failed", "completed": 0}
        assert as_dict(await qmp.execute("query-status"))["status"] == "prelaunch"


async def test_one_dump_at_a_time(peers: Callable[..., Peer]) -> None:
    """A detached dump into a pipe nobody reads stays active; a second is refused meanwhile;
    reading the pipe lets it finish."""
    vm = peers("vmd", *BASE, "-S")
    read_end, write_end = os.pipe()
    try:
        async with qmp_client(vm.socket) as qmp:
            qmp.send_fd_scm(write_end)
            await qmp.execute("getfd", {"fdname": "dump"})
            os.close(write_end)
            listener = EventListener()
            with qmp.listen(listener):
                await qmp.execute(
                    "dump-guest-memory", {"paging": False, "protocol": "fd:dump", "detach": True}
                )
                progress = as_dict(await qmp.execute("query-dump"))
                assert progress["status"] == "active"
                assert progress["total"] == RAM
                assert progress["completed"] < RAM
                await refused(
                    qmp.execute("dump-guest-memory", {"paging": False, "protocol": "file:/dev/null"}),
                    "There is a dump in process, please wait.",
                )
                received = await asyncio.to_thread(_drain, read_end)
                events = await events_until(listener, "DUMP_COMPLETED")
            assert events[-1][1] == {"result": {"total": RAM, "status": "completed", "completed": RAM}}
            assert received > RAM
    finally:
        os.close(read_end)


async def test_refused_during_incoming_migration(peers: Callable[..., Peer], workdir: Path) -> None:
    vm = peers("vmd", *BASE, "-incoming", "defer")
    async with qmp_client(vm.socket) as qmp:
        await refused(dump_to(qmp, workdir / "x"), "Dump not allowed during incoming migration.")
    assert not (workdir / "x").exists()


def _readelf(path: Path) -> subprocess.CompletedProcess[str]:
    """binutils' view of the headers (it complains on stderr about anything malformed)."""
    return subprocess.run(["readelf", "-h", "-l", str(path)], capture_output=True, text=True, check=True)


def _drain(fd: int) -> int:
    total = 0
    while chunk := os.read(fd, 1 << 20):
        total += len(chunk)
    return total


async def test_quit_during_a_dump_nobody_reads(peers: Callable[..., Peer]) -> None:
    """A detached dump blocked on a full pipe does not keep the daemon from exiting (QEMU
    exits too); the log shows no traceback."""
    vm = peers("vmd", *BASE, "-S")
    read_end, write_end = os.pipe()
    qmp = QMPClient("test")
    try:
        await asyncio.wait_for(qmp.connect(vm.socket), TIMEOUT)
        qmp.send_fd_scm(write_end)
        os.close(write_end)
        await qmp.execute("getfd", {"fdname": "dump"})
        await qmp.execute("dump-guest-memory", {"paging": False, "protocol": "fd:dump", "detach": True})
        assert as_dict(await qmp.execute("query-dump"))["status"] == "active"
        await qmp.execute("quit")
        assert await asyncio.to_thread(vm.wait_exit)
    finally:
        # After quit the daemon closes the connection, and qemu.qmp may report that as it leaves.
        with contextlib.suppress(EOFError):
            await asyncio.wait_for(qmp.disconnect(), TIMEOUT)
        os.close(read_end)
    assert "Traceback" not in vm.log.read_text()
