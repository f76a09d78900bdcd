"""qom-list-properties and device-list-properties against real QEMU 7.2.

vmd describes only the properties its objects really have; each one it lists must exist in
QEMU 7.2's type of the same name with the same QOM type, description and default, and the
errors (unknown type, abstract type, not a device) must be QEMU's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.peers import Peer, qmp_client

pytestmark = pytest.mark.qemu

TYPES = (
    "qemu64-x86_64-cpu", "max-x86_64-cpu", "Skylake-Client-x86_64-cpu", "x86_64-cpu", "cpu", "device",
    "memory-backend-ram", "memory-backend-file", "memory-backend", "secret", "tcg-accel",
    "ICH9-LPC", "PIIX4_PM", "apic", "chardev-socket", "pc-q35-7.2-machine", "container",
)  # fmt: skip


async def _answers(peer: Peer, command: str, typenames: tuple[str, ...]) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    async with qmp_client(peer.socket) as qmp:
        for typename in typenames:
            try:
                answers[typename] = await qmp.execute(command, {"typename": typename})
            except Exception as error:
                answers[typename] = ("error", type(error).__name__, str(error))
    return answers


def _by_name(props: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {prop["name"]: prop for prop in props}


async def test_qom_list_properties_is_a_faithful_subset(peers: Callable[..., Peer]) -> None:
    qemu = await _answers(peers("qemu", "-M", "q35", "-S"), "qom-list-properties", TYPES)
    vmd = await _answers(peers("vmd", "-M", "q35", "-S"), "qom-list-properties", TYPES)
    for typename in TYPES:
        ours, theirs = _by_name(vmd[typename]), _by_name(qemu[typename])
        assert ours, typename
        assert {name: theirs.get(name) for name in ours} == ours, typename


async def test_device_list_properties_is_a_faithful_subset(peers: Callable[..., Peer]) -> None:
    devices = ("qemu64-x86_64-cpu", "Haswell-x86_64-cpu", "ICH9-LPC", "apic")
    qemu = await _answers(peers("qemu", "-M", "q35", "-S"), "device-list-properties", devices)
    vmd = await _answers(peers("vmd", "-M", "q35", "-S"), "device-list-properties", devices)
    for typename in devices:
        ours, theirs = _by_name(vmd[typename]), _by_name(qemu[typename])
        assert {name: theirs.get(name) for name in ours} == ours, typename
        # What QEMU leaves out of every device's list, vmd leaves out too.
        assert not {"type", "realized", "hotplugged", "hotpluggable", "parent_bus"} & set(ours)
    cpu = _by_name(vmd["qemu64-x86_64-cpu"])
    assert {"socket-id", "core-id", "thread-id", "apic-id", "node-id"} <= set(cpu)


@pytest.mark.parametrize(
    ("command", "typename"),
    [("qom-list-properties", "no-such-type"), ("device-list-properties", "no-such-type"),
     ("device-list-properties", "cpu"), ("device-list-properties", "x86_64-cpu"),
     ("device-list-properties", "memory-backend-ram"), ("device-list-properties", "container"),
     ("device-list-properties", "virtio-blk-pci")],
)  # fmt: skip
async def test_errors_are_qemus(peers: Callable[..., Peer], command: str, typename: str) -> None:
    """virtio-blk-pci: a device QEMU has and vmd does not is simply not found in vmd."""
    errors = {}
    for kind in ("qemu", "vmd"):
        async with qmp_client(peers(kind, "-M", "q35", "-S").socket) as qmp:
            try:
                await qmp.execute(command, {"typename": typename})
            except Exception as error:
                errors[kind] = str(error)
            else:
                errors[kind] = "no error"
    if typename == "virtio-blk-pci":
        assert errors["qemu"] == "no error"
        assert errors["vmd"] == "Device 'virtio-blk-pci' not found"
    else:
        assert errors["vmd"] == errors["qemu"]


async def test_migration_capabilities_vmd_keeps(peers: Callable[..., Peer]) -> None:
    """vmd lists QEMU's capabilities, all off, honours `events` (libvirt switches it on at start)
    and refuses by name one it cannot honour, changing nothing."""
    states = {}
    for kind in ("qemu", "vmd"):
        async with qmp_client(peers(kind, "-M", "q35", "-S").socket) as qmp:
            before = await qmp.execute("query-migrate-capabilities")
            await qmp.execute(
                "migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]}
            )
            after = await qmp.execute("query-migrate-capabilities")
            assert isinstance(before, list)
            assert isinstance(after, list)
            states[kind] = (
                [c for c in before if c["capability"] == "events"],
                [c for c in after if c["capability"] == "events"],
            )
            if kind == "vmd":
                assert not any(c["state"] for c in before)
                with pytest.raises(Exception, match="Migration capability 'xbzrle' is not supported by vmd"):
                    await qmp.execute(
                        "migrate-set-capabilities",
                        {"capabilities": [{"capability": "events", "state": False},
                                          {"capability": "xbzrle", "state": True}]},
                    )  # fmt: skip
                # All or nothing: `events` kept its state.
                assert await qmp.execute("query-migrate-capabilities") == after
    assert states["vmd"] == states["qemu"]


async def test_block_queries_answer_empty(peers: Callable[..., Peer]) -> None:
    """QEMU with -nodefaults has no block devices either: both lists are empty in both."""
    for kind in ("qemu", "vmd"):
        async with qmp_client(peers(kind, "-M", "q35", "-S").socket) as qmp:
            assert await qmp.execute("query-block") == []
            assert await qmp.execute("query-named-block-nodes") == []
            assert await qmp.execute("query-named-block-nodes", {"flat": True}) == []
            assert await qmp.execute("query-blockstats") == []
