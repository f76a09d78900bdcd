"""dump-guest-memory side by side with QEMU 7.2: the same conversation against both, compared
reply for reply (every refusal's text, query-dump before and after, the run states, the events
around a dump, libvirt's `virsh dump --memory-only` sequence), and both cores read back.

Where vmd differs on purpose (README, differences table): it writes ELF only, so it lists only
`elf` and refuses kdump-zlib and win-dmp, and its cores hold guest RAM alone (QEMU's also hold
the BIOS ROM at 0xfffc0000 and per-CPU notes), so the totals differ by that ROM."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.elf_core import Core, read_core
from tests.peers import Peer, events_until, qmp_client
from tests.replies import as_dict

pytestmark = pytest.mark.qemu

BASE = ("-M", "q35", "-smp", "1", "-m", "128")
RAM = 128 << 20


async def outcome(qmp: QMPClient, command: str, args: dict[str, Any] | None = None) -> Any:
    try:
        return {"return": await qmp.execute(command, args)}
    except ExecuteError as error:
        return {"error": [error.error_class, str(error)]}


def dump(path: Path | str, **extra: Any) -> dict[str, Any]:
    protocol = path if isinstance(path, str) else f"file:{path}"
    return {"paging": False, "protocol": protocol, **extra}


def ram_covered(core: Core) -> bool:
    """Whether the core's loads hold guest RAM [0, RAM) whole, each at its own address."""
    end = 0
    for load in sorted(core.loads, key=lambda load: load.paddr):
        if load.paddr == end:
            end += load.size
    return end >= RAM


async def refusals(peer: Peer, workdir: Path) -> list[Any]:
    target = workdir / "x"
    async with qmp_client(peer.socket) as qmp:
        said = [await outcome(qmp, "query-dump")]
        for extra in (
            {"paging": True, "format": "kdump-zlib"}, {"begin": 0, "length": 4096, "format": "win-dmp"},
            {"begin": 0}, {"length": 4096}, {"format": "kdump-lzo"}, {"format": "kdump-snappy"},
            {"format": "nosuch"}, {"protocol": "fd:nope"}, {"protocol": "bogus:x"},
            {"protocol": "file:/nonexistent/dir/x"},
        ):  # fmt: skip
            said.append(await outcome(qmp, "dump-guest-memory", {**dump(target), **extra}))
        said.append(await outcome(qmp, "dump-guest-memory", {"protocol": f"file:{target}"}))
        said.append(await outcome(qmp, "query-dump"))  # the checks above leave it as it was
        for extra in ({"begin": 0, "length": 0}, {"begin": 0x100000000, "length": 4096}):
            said.append(await outcome(qmp, "dump-guest-memory", dump(target, **extra)))
            said.append(await outcome(qmp, "query-dump"))  # the dump's own checks fail it
        for extra in ({"begin": 0x1000, "length": 0x2000}, {"begin": 0x7FFF000, "length": 0x10000}):
            said.append(await outcome(qmp, "dump-guest-memory", dump(target, **extra)))
            said.append(await outcome(qmp, "query-dump"))
        said.append(await outcome(qmp, "query-status"))
    cut = read_core(target)
    said.append([(load.paddr, load.size) for load in cut.loads])
    return said


async def test_refusals_and_filters_as_qemu(peers: Callable[..., Peer], workdir: Path) -> None:
    qemu = await refusals(peers("qemu", *BASE, "-S"), workdir)
    ours = await refusals(peers("vmd", *BASE, "-S"), workdir)
    assert ours == qemu


async def running_conversation(peer: Peer, workdir: Path) -> tuple[list[Any], Core]:
    """A dump of a running guest, then libvirt's memory-only sequence (stop, getfd, detached)."""
    core = workdir / f"{peer.kind}.core"
    async with qmp_client(peer.socket) as qmp:
        listener = EventListener()
        with qmp.listen(listener):
            said: list[Any] = [await outcome(qmp, "dump-guest-memory", dump(workdir / "sync"))]
            said.append(await events_until(listener, "RESUME"))
            said.append(await outcome(qmp, "query-status"))
            said.append(await outcome(qmp, "stop"))
            said.append(await events_until(listener, "STOP"))
            with open(core, "wb") as out:  # noqa: ASYNC230 - opening a local file
                qmp.send_fd_scm(out.fileno())
            said.append(await outcome(qmp, "getfd", {"fdname": "dump"}))
            said.append(await outcome(qmp, "dump-guest-memory", dump("fd:dump", detach=True)))
            said.append(await events_until(listener, "DUMP_COMPLETED"))
            said.append(await outcome(qmp, "closefd", {"fdname": "dump"}))
            said.append(await outcome(qmp, "cont"))
            said.append(await events_until(listener, "RESUME"))
            said.append(await outcome(qmp, "query-status"))
    return said, read_core(core)


def without_totals(said: list[Any]) -> list[Any]:
    """The conversation with each completed dump's sizes checked (completed == total) and
    dropped: QEMU's count its BIOS ROM as well."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"total", "status", "completed"}:
                assert value["completed"] == value["total"] >= RAM
                return {"status": value["status"]}
            return {key: scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [scrub(item) for item in value]
        return value

    return [scrub(item) for item in said]


async def test_running_guest_and_memory_only_sequence_as_qemu(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    qemu, qemu_core = await running_conversation(peers("qemu", *BASE), workdir)
    ours, our_core = await running_conversation(peers("vmd", *BASE), workdir)
    assert without_totals(ours) == without_totals(qemu)
    # QEMU writes EM_386 while the first CPU is not in long mode (here SeaBIOS, 32-bit), still
    # as ELF64 since its ROM ends at 4 GiB; vmd's guest has no x86 modes: always EM_X86_64.
    assert qemu_core.machine == 3
    assert our_core.machine == 62
    assert ram_covered(qemu_core)
    assert ram_covered(our_core)
    assert [(load.paddr, load.size) for load in our_core.loads] == [(0, RAM)]


async def one_at_a_time(peer: Peer) -> list[Any]:
    """A detached dump into a pipe nobody reads is still active; a second one is refused."""
    read_end, write_end = os.pipe()
    try:
        async with qmp_client(peer.socket) as qmp:
            qmp.send_fd_scm(write_end)
            os.close(write_end)
            said = [await outcome(qmp, "getfd", {"fdname": "dump"})]
            said.append(await outcome(qmp, "dump-guest-memory", dump("fd:dump", detach=True)))
            said.append(as_dict(await qmp.execute("query-dump"))["status"])
            said.append(await outcome(qmp, "dump-guest-memory", dump("file:/dev/null")))
            listener = EventListener()
            with qmp.listen(listener):
                await asyncio.to_thread(_drain, read_end)
                said.append((await events_until(listener, "DUMP_COMPLETED"))[-1][1]["result"]["status"])
            said.append(await outcome(qmp, "query-status"))
    finally:
        os.close(read_end)
    return said


async def test_one_dump_at_a_time_as_qemu(peers: Callable[..., Peer]) -> None:
    qemu = await one_at_a_time(peers("qemu", *BASE, "-S"))
    ours = await one_at_a_time(peers("vmd", *BASE, "-S"))
    assert ours == qemu
    assert ours[3] == {"error": ["GenericError", "There is a dump in process, please wait."]}


async def test_refused_during_incoming_migration_as_qemu(peers: Callable[..., Peer], workdir: Path) -> None:
    said = []
    for kind in ("qemu", "vmd"):
        async with qmp_client(peers(kind, *BASE, "-incoming", "defer").socket) as qmp:
            said.append(await outcome(qmp, "dump-guest-memory", dump(workdir / kind)))
    assert said[0] == said[1] == {"error": ["GenericError", "Dump not allowed during incoming migration."]}


def _drain(fd: int) -> None:
    while os.read(fd, 1 << 20):
        pass


BOARDS = {
    "s390x": (("-M", "s390-ccw-virtio", "-m", "128", "-S"), 22, ">"),
    "ppc64": (("-M", "pseries", "-m", "256", "-S"), 21, ">"),
    "aarch64": (("-M", "virt", "-cpu", "cortex-a57", "-m", "128", "-S"), 183, "<"),
}


@pytest.mark.parametrize("target", sorted(BOARDS))
async def test_other_boards(target: str, peers: Callable[..., Peer], workdir: Path) -> None:
    """The other boards: the same refusals as QEMU's binary for the target (win-dmp is x86-64's
    only), and an ELF core in the target's machine and byte order (vmd places RAM at 0)."""
    args, machine, order = BOARDS[target]
    said = []
    for kind in ("qemu", "vmd"):
        async with qmp_client(peers(kind, *args, target=target).socket) as qmp:
            said.append(
                [
                    await outcome(qmp, "dump-guest-memory", dump(workdir / "x", format=fmt))
                    for fmt in ("win-dmp", "kdump-lzo", "kdump-snappy")
                ]
            )
            if kind == "vmd":
                assert await qmp.execute("query-dump-guest-memory-capability") == {"formats": ["elf"]}
                await qmp.execute("dump-guest-memory", dump(workdir / "core"))
    assert said[1] == said[0]
    data = (workdir / "core").read_bytes()
    assert data[:4] == b"\x7fELF"
    assert data[5] == (2 if order == ">" else 1)
    assert int.from_bytes(data[18:20], "big" if order == ">" else "little") == machine


async def stop_and_cont_during_a_dump(peer: Peer) -> list[Any]:
    """A running guest's detached dump held by a full pipe: the run state meanwhile, `stop`,
    `cont` and `migrate` refused while it runs (QEMU 7.2's texts), and after it the guest runs
    again and can be stopped."""
    read_end, write_end = os.pipe()
    try:
        async with qmp_client(peer.socket) as qmp:
            qmp.send_fd_scm(write_end)
            os.close(write_end)
            listener = EventListener()
            with qmp.listen(listener):
                said = [await outcome(qmp, "getfd", {"fdname": "dump"})]
                said.append(await outcome(qmp, "dump-guest-memory", dump("fd:dump", detach=True)))
                said.append(await events_until(listener, "STOP"))
                said.append(await outcome(qmp, "query-status"))
                for command, args in (
                    ("stop", None),
                    ("cont", None),
                    ("migrate", {"uri": "exec:cat >/dev/null"}),
                ):
                    said.append(await outcome(qmp, command, args))
                said.append(await outcome(qmp, "query-status"))
                said.append(await outcome(qmp, "query-migrate"))
                await asyncio.to_thread(_drain, read_end)
                said.append([name for name, _ in await events_until(listener, "RESUME")])
                said.append(await outcome(qmp, "query-status"))
                said.append(await outcome(qmp, "stop"))
    finally:
        os.close(read_end)
    return said


async def test_stop_cont_migrate_refused_during_a_dump_as_qemu(peers: Callable[..., Peer]) -> None:
    qemu = await stop_and_cont_during_a_dump(peers("qemu", *BASE))
    ours = await stop_and_cont_during_a_dump(peers("vmd", *BASE))
    assert ours == qemu
