"""CPU hotplug conversations against real QEMU 7.2, byte conversation by byte conversation.

Both peers start paused (-S) with no guest running, where QEMU 7.2 can show
everything it does without an OS: device_add into free and occupied slots,
device_del in legacy ACPI mode, the switch to the modern interface with
qom-set, pending unplugs, the slots listing and the QOM view of CPUs.
query-cpus-fast is left out here (its thread ids differ by nature); the
slot-level tests compare it with thread ids normalized.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.differential import converse
from tests.peers import Peer

pytestmark = pytest.mark.qemu

CPU = "qemu64-x86_64-cpu"


def execute(command: str, request_id: Any, **arguments: Any) -> bytes:
    message: dict[str, Any] = {"execute": command, "id": request_id}
    if arguments:
        message["arguments"] = arguments
    return json.dumps(message).encode()


def add(request_id: Any, **props: Any) -> bytes:
    return execute("device_add", request_id, driver=CPU, **props)


def qom_get(request_id: Any, path: str, prop: str) -> bytes:
    return execute("qom-get", request_id, path=path, property=prop)


SLOTS = execute("query-hotpluggable-cpus", "slots")
OSPM = execute("query-acpi-ospm-status", "ospm")

CONVERSATIONS: dict[str, tuple[tuple[str, ...], list[bytes]]] = {
    "plug-and-list": (
        ("-M", "q35", "-smp", "1,maxcpus=4"),
        [
            SLOTS,  # listed before, between and after plugs: the encoded listing is updated per slot
            add(1, id="cpu1", **{"socket-id": 0, "core-id": 1, "thread-id": 0}),
            SLOTS,
            add(2, **{"socket-id": 0, "core-id": 2, "thread-id": 0}),
            add(3, id="cpu1", **{"socket-id": 0, "core-id": 3, "thread-id": 0}),
            add(4, id="cpu3", **{"socket-id": 0, "core-id": 1, "thread-id": 0}),
            add(5, id="cpu3", **{"apic-id": 3}),
            SLOTS,
            execute("qom-list", 6, path="/machine/peripheral"),
            execute("qom-list", 7, path="/machine/peripheral-anon"),
        ],
    ),
    "unplug-in-legacy-mode": (
        ("-M", "q35", "-smp", "1,maxcpus=4"),
        [
            add(1, id="cpu1", **{"socket-id": 0, "core-id": 1, "thread-id": 0}),
            execute("device_del", 2, id="cpu1"),
            execute("device_del", 3, id="nope"),
            execute("device_del", 4, id="/machine/unattached/device[0]"),
            execute("device_del", 5, id="/machine/unattached"),
            execute("device_del", 6, id=5),
            OSPM,
        ],
    ),
    "switch-to-modern-then-unplug": (
        ("-M", "q35", "-smp", "1,maxcpus=4"),
        [
            add(1, id="cpu1", **{"socket-id": 0, "core-id": 1, "thread-id": 0}),
            qom_get(2, "/machine/unattached/device[2]", "cpu-hotplug-legacy"),
            execute(
                "qom-set", 3, path="/machine/unattached/device[2]", property="cpu-hotplug-legacy", value=False
            ),
            execute(
                "qom-set", 4, path="/machine/unattached/device[2]", property="cpu-hotplug-legacy", value=False
            ),
            OSPM,
            execute("device_del", 5, id="cpu1"),
            execute("device_del", 6, id="cpu1"),
            SLOTS,
            add(7, id="again", **{"socket-id": 0, "core-id": 1, "thread-id": 0}),
            execute("device_del", 8, id="/machine/unattached/device[0]"),
        ],
    ),
    "pc-legacy-switch": (
        ("-M", "pc", "-smp", "2,maxcpus=4"),
        [
            add(1, id="cpu2", **{"socket-id": 2, "core-id": 0, "thread-id": 0}),
            qom_get(2, "/machine/unattached/device[19]", "cpu-hotplug-legacy"),
            execute("device_del", 3, id="cpu2"),
            execute(
                "qom-set",
                4,
                path="/machine/unattached/device[19]",
                property="cpu-hotplug-legacy",
                value=False,
            ),
            execute("device_del", 5, id="cpu2"),
            OSPM,
        ],
    ),
    "numa-node-id": (
        (
            "-M",
            "q35",
            "-smp",
            "1,maxcpus=4",
            "-m",
            "256",
            "-object",
            "memory-backend-ram,id=m0,size=128M",
            "-object",
            "memory-backend-ram,id=m1,size=128M",
            "-numa",
            "node,nodeid=0,cpus=0-1,memdev=m0",
            "-numa",
            "node,nodeid=1,cpus=2-3,memdev=m1",
        ),
        [
            add(1, id="a", **{"socket-id": 0, "core-id": 1, "thread-id": 0, "node-id": 1}),
            add(2, id="b", **{"socket-id": 0, "core-id": 2, "thread-id": 0, "node-id": 0}),
            add(3, id="c", **{"socket-id": 0, "core-id": 3, "thread-id": 0}),
            qom_get(4, "/machine/peripheral/c", "node-id"),
            qom_get(5, "/machine/unattached/device[0]", "node-id"),
            add(6, id="d", **{"socket-id": 0, "core-id": 1, "thread-id": 0, "node-id": 0}),
            add(7, id="e", **{"socket-id": 0, "core-id": 2, "thread-id": 0, "node-id": 1}),
            SLOTS,
        ],
    ),
    "cpu-qom-properties": (
        ("-M", "q35", "-smp", "2,sockets=2,cores=3,threads=3,maxcpus=18"),
        [
            add(1, id="c26", **{"socket-id": 1, "core-id": 2, "thread-id": 2}),
            *(
                qom_get(f"{prop}-{i}", path, prop)
                for i, path in enumerate(
                    [
                        "/machine/peripheral/c26",
                        "/machine/unattached/device[0]",
                        "/machine/unattached/device[2]",
                    ]
                )
                for prop in (
                    "socket-id",
                    "die-id",
                    "core-id",
                    "thread-id",
                    "apic-id",
                    "node-id",
                    "hotplugged",
                    "hotpluggable",
                    "realized",
                    "type",
                    "parent_bus",
                    "start-powered-off",
                )
            ),
            qom_get(2, "/machine/peripheral/c26", "nonexist"),
            qom_get(3, "/machine/nonexist", "type"),
            execute("qom-set", 4, path="/machine/peripheral/c26", property="socket-id", value=0),
            execute("qom-set", 5, path="/machine/peripheral/c26", property="hotpluggable", value=False),
            qom_get(6, "/machine/peripheral/c26/lapic", "type"),
        ],
    ),
}


def unordered_qom_lists(messages: list[Any]) -> list[Any]:
    """qom-list follows a hash table's order in QEMU: compare its entries as a set."""
    result = []
    for message in messages:
        listing = message.get("return") if isinstance(message, dict) else None
        if isinstance(listing, list) and listing and all(set(e) == {"name", "type"} for e in listing):
            message = {**message, "return": sorted(listing, key=lambda e: e["name"])}
        result.append(message)
    return result


@pytest.mark.parametrize(("args", "writes"), CONVERSATIONS.values(), ids=CONVERSATIONS.keys())
async def test_hotplug_conversation_like_qemu(
    peers: Callable[..., Peer], args: tuple[str, ...], writes: list[bytes]
) -> None:
    qemu, vmd = peers("qemu", *args, "-S"), peers("vmd", *args, "-S")
    expected = unordered_qom_lists(await converse(qemu.socket, writes))
    assert unordered_qom_lists(await converse(vmd.socket, writes)) == expected
