"""Migration's wire shapes side by side with QEMU 7.2: the same conversation against both, for
what a client sees of QEMU (vmd's stream differs from QEMU's; what travels on the QMP wire must
not).  Statuses, events, run states on both sides, query-migrate's members per phase, the
parameters and capabilities, and every error text."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.peers import TIMEOUT, Peer, qmp_client, short_tmpdir
from tests.replies import as_dict, as_event

pytestmark = pytest.mark.qemu

BASE = ("-M", "q35", "-smp", "1,maxcpus=4", "-m", "128")
EVENTS_ON = {"capabilities": [{"capability": "events", "state": True}]}


async def outcome(qmp: QMPClient, command: str, args: dict[str, Any] | None = None) -> Any:
    try:
        return {"return": await qmp.execute(command, args)}
    except ExecuteError as error:
        return {"error": str(error)}


async def idle_conversation(peer: Peer, workdir: Path) -> list[Any]:
    async with qmp_client(peer.socket) as qmp:
        said = [
            await outcome(qmp, "query-migrate"),
            await outcome(qmp, "query-migrate-capabilities"),
            await outcome(qmp, "query-migrate-parameters"),
            await outcome(qmp, "migrate-continue", {"state": "pre-switchover"}),
            await outcome(qmp, "migrate-incoming", {"uri": "defer"}),
            await outcome(qmp, "migrate_cancel"),
        ]
        for args in (
            {"downtime-limit": 2000000}, {"downtime-limit": 2000001}, {"multifd-channels": 0},
            {"max-bandwidth": "fast"}, {"max-bandwidth": -1}, {"max-bandwidth": 9223372036853727232},
            {"compress-level": 300}, {"compress-level": "x"}, {"x-checkpoint-delay": -1}, {"foo": 1}, {},
        ):  # fmt: skip
            said.append(await outcome(qmp, "migrate-set-parameters", args))
        said.append(as_dict(await qmp.execute("query-migrate-parameters"))["max-bandwidth"])
        await qmp.execute("migrate-set-capabilities", EVENTS_ON)
        for uri in ("foo:bar", "bogus", "", "file:/x", "unix:", "tcp:127.0.0.1", "fd:migrate", "fd:1"):
            listener = EventListener()
            with qmp.listen(listener):
                said.append(await outcome(qmp, "migrate", {"uri": uri}))
                said.append([(await asyncio.wait_for(listener.get(), TIMEOUT))["data"] for _ in range(2)])
            said.append(await outcome(qmp, "query-migrate"))
        said.append(await outcome(qmp, "migrate", {"uri": "unix:/x", "resume": True}))
        said.append(await outcome(qmp, "migrate", {"uri": f"unix:{workdir}/nobody.sock"}))
        said.append(await settled(qmp))
        said.append(await outcome(qmp, "query-status"))
    return said


async def settled(qmp: QMPClient) -> Any:
    finished = ("completed", "failed", "cancelled")
    async with asyncio.timeout(TIMEOUT):
        info = as_dict(await qmp.execute("query-migrate"))
        while info.get("status") not in finished:
            await asyncio.sleep(0.02)
            info = as_dict(await qmp.execute("query-migrate"))
    return info


async def test_idle_source_conversation(peers: Callable[..., Peer]) -> None:
    workdir = short_tmpdir()
    qemu = await idle_conversation(peers("qemu", *BASE, "-S"), workdir)
    vmd = await idle_conversation(peers("vmd", *BASE, "-S"), workdir)
    assert vmd == qemu


async def target_conversation(peer: Peer, workdir: Path) -> list[Any]:
    async with qmp_client(peer.socket) as qmp:
        said = [
            await outcome(qmp, "query-status"),
            await outcome(qmp, "query-migrate"),
            await outcome(qmp, "migrate", {"uri": f"unix:{workdir}/x.sock"}),
            await outcome(qmp, "migrate-incoming", {"uri": "foo:bar"}),
            await outcome(qmp, "migrate-incoming", {"uri": "unix:/nonexistent-dir/x.sock"}),
            await outcome(qmp, "migrate-incoming", {"uri": f"unix:{workdir}/{peer.kind}.sock"}),
            await outcome(qmp, "query-migrate"),
            await outcome(qmp, "migrate-incoming", {"uri": f"unix:{workdir}/{peer.kind}2.sock"}),
            await outcome(qmp, "migrate_cancel"),
            await outcome(qmp, "stop"),
            await outcome(qmp, "query-status"),
        ]
    return [_paths(item, workdir) for item in said]


def _paths(item: Any, workdir: Path) -> Any:
    """The same conversation names each peer's own socket: the paths are made alike."""
    if isinstance(item, dict):
        return {key: _paths(value, workdir) for key, value in item.items()}
    if isinstance(item, list):
        return [_paths(value, workdir) for value in item]
    if isinstance(item, str):
        return item.replace(str(workdir), "<dir>").replace("/qemu", "/X").replace("/vmd", "/X")
    return item


async def test_target_conversation(peers: Callable[..., Peer]) -> None:
    workdir = short_tmpdir()
    qemu = await target_conversation(peers("qemu", *BASE, "-incoming", "defer"), workdir)
    vmd = await target_conversation(peers("vmd", *BASE, "-incoming", "defer"), workdir)
    assert vmd == qemu


async def migration_seen(
    kind: str, peers: Callable[..., Peer], target_args: tuple[str, ...]
) -> dict[str, Any]:
    """A whole migration between two peers of `kind`: what each side's client sees."""
    workdir = short_tmpdir()
    uri = f"unix:{workdir}/m.sock"
    source = peers(kind, *BASE)
    target = peers(kind, *BASE, "-incoming", "defer", *target_args)
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await src.execute("migrate-set-capabilities", EVENTS_ON)
        await dst.execute("migrate-set-capabilities", EVENTS_ON)
        src_events, dst_events = EventListener(), EventListener()
        with src.listen(src_events), dst.listen(dst_events):
            await dst.execute("migrate-incoming", {"uri": uri})
            await src.execute("migrate", {"uri": uri})
            src_seen = await _events_until(src_events, "completed")
            dst_seen = await _events_until(dst_events, "completed")
        src_info = as_dict(await src.execute("query-migrate"))
        dst_info = as_dict(await dst.execute("query-migrate"))
        return {
            "source events": src_seen,
            "target events": dst_seen,
            "source members": sorted(src_info),
            "source ram members": sorted(src_info["ram"]),
            "target": {**dst_info, "socket-address": "<addr>"},
            "source state": await src.execute("query-status"),
            "target state": await dst.execute("query-status"),
        }


async def _events_until(listener: EventListener, status: str) -> list[Any]:
    seen: list[tuple[str, Any]] = []
    async with asyncio.timeout(TIMEOUT * 3):
        while True:
            event = as_event(await listener.get())
            name = event["event"]
            data = event.get("data")
            if name == "MIGRATION_PASS":
                # How many passes run while the guest does depends on it and on timing: only the
                # first (before `active`) and the last (after STOP) are certain.
                data = "<pass>"
                if seen and seen[-1] == ("MIGRATION", {"status": "active"}):
                    continue
            seen.append((name, data))
            if name == "MIGRATION" and event["data"]["status"] == status:
                return seen


@pytest.mark.parametrize("target_args", [(), ("-S",)], ids=["autostart", "-S"])
async def test_a_whole_migration(peers: Callable[..., Peer], target_args: tuple[str, ...]) -> None:
    qemu = await migration_seen("qemu", peers, target_args)
    vmd = await migration_seen("vmd", peers, target_args)
    assert vmd == qemu
