"""The guest agent's channel: the devices libvirt adds for it, the port's state as QMP shows it, and
the modelled qemu-ga answering on the chardev, over real sockets, under every agent policy.

The expected replies are qemu-ga 7.2's, byte for byte (../shared/spec/guest-agent.md §4-5).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient

from tests.agent_channel import agent_client
from tests.peers import TIMEOUT, Peer, qmp_client, short_tmpdir
from tests.replies import as_dict, as_event
from vmd.testing import wait_event

# What libvirt 9.0 gives a q35 domain with the agent channel (the chardev by path, as
# `virsh domxml-to-native` prints it; libvirt itself passes a listening fd).
ROOT_PORTS = (
    "-device",
    '{"driver":"pcie-root-port","port":8,"chassis":1,"id":"pci.1","bus":"pcie.0","multifunction":true,"addr":"0x1"}',
    "-device",
    '{"driver":"pcie-root-port","port":9,"chassis":2,"id":"pci.2","bus":"pcie.0","addr":"0x1.0x1"}',
)
CONTROLLER = ("-device", '{"driver":"virtio-serial-pci","id":"virtio-serial0","bus":"pci.1","addr":"0x0"}')
PORT = (
    "-device",
    '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":1,"chardev":"charchannel0","id":"channel0",'
    '"name":"org.qemu.guest_agent.0"}',
)
SYNC_ERROR = b'{"error": {"class": "GenericError", "desc": "JSON parse error, stray \'\\uFFFD\'"}}\n'
# qom-list /machine/peripheral/channel0 on qemu-system-x86_64 7.2 with the argv above.
CHANNEL_PROPERTIES = [
    {"name": "type", "type": "string"},
    {"name": "parent_bus", "type": "link<bus>"},
    {"name": "realized", "type": "bool"},
    {"name": "hotplugged", "type": "bool"},
    {"name": "hotpluggable", "type": "bool"},
    {"name": "nr", "type": "uint32"},
    {"name": "name", "type": "str"},
    {"name": "chardev", "type": "str"},
]


def channel_args(workdir: Path) -> tuple[str, ...]:
    chardev = ("-chardev", f"socket,id=charchannel0,path={workdir / 'ga.sock'},server=on,wait=off")
    return (*ROOT_PORTS, *CONTROLLER, *chardev, *PORT)


def start(peers: Callable[..., Peer], *args: str) -> Peer:
    workdir = short_tmpdir()
    return peers("vmd", "-M", "q35", *channel_args(workdir), *args, workdir=workdir)


async def chardev(qmp: QMPClient) -> dict[str, Any]:
    listed = await qmp.execute("query-chardev")
    assert isinstance(listed, list)
    return next(entry for entry in listed if entry["label"] == "charchannel0")


async def until_port_open(qmp: QMPClient) -> None:
    """Until the guest's agent has opened its port (at boot: on a loaded host, after a test's
    first command)."""
    async with asyncio.timeout(TIMEOUT):
        while not (await chardev(qmp))["frontend-open"]:  # noqa: ASYNC110 - the state is the peer's
            await asyncio.sleep(0.01)


async def guest_cpus(qmp: QMPClient) -> dict[str, Any]:
    cpus = await qmp.execute("__com.vmd_query-guest-cpus")
    assert isinstance(cpus, dict)
    return cpus


# -- devices and port state -----------------------------------------------------------------------


async def test_the_channel_devices_in_qom_as_qemu_shows_them(peers: Callable[..., Peer]) -> None:
    vmd = start(peers, "-S")
    async with qmp_client(vmd.socket) as qmp:
        peripheral = await qmp.execute("qom-list", {"path": "/machine/peripheral"})
        assert isinstance(peripheral, list)
        assert {p["name"]: p["type"] for p in peripheral} == {
            "type": "string",
            "pci.1": "child<pcie-root-port>",
            "pci.2": "child<pcie-root-port>",
            "virtio-serial0": "child<virtio-serial-pci>",
            "channel0": "child<virtserialport>",
        }
        assert await qmp.execute("qom-list", {"path": "/machine/peripheral/channel0"}) == CHANNEL_PROPERTIES
        path = "/machine/peripheral/channel0"
        values = {
            name: await qmp.execute("qom-get", {"path": path, "property": name})
            for name in ("name", "nr", "chardev", "parent_bus", "hotpluggable", "hotplugged", "realized")
        }
        assert values == {
            "name": "org.qemu.guest_agent.0",
            "nr": 1,
            "chardev": "charchannel0",
            "parent_bus": "/machine/peripheral/virtio-serial0/virtio-backend/virtio-serial0.0",
            "hotpluggable": True,
            "hotplugged": False,
            "realized": True,
        }
        assert (
            await qmp.execute(
                "qom-get", {"path": "/machine/peripheral/virtio-serial0", "property": "parent_bus"}
            )
            == "/machine/peripheral/pci.1/pci.1"
        )
        types = await qmp.execute("qom-list-types", {"implements": "virtio-serial-port"})
        assert types == [{"name": "virtserialport", "parent": "virtio-serial-port"}]
        with pytest.raises(ExecuteError) as refused:
            await qmp.execute(
                "device_add", {"driver": "virtserialport", "id": "x", "chardev": "charchannel0"}
            )
        assert refused.value.error.error.desc == (
            "vmd creates virtserialport devices at start-up only (-device), not with device_add"
        )
        props = await qmp.execute("device-list-properties", {"typename": "virtserialport"})
        assert isinstance(props, list)
        assert [(p["name"], p["type"]) for p in props] == [
            ("nr", "uint32"),
            ("name", "str"),
            ("chardev", "str"),
        ]


async def test_query_chardev_shows_the_client_and_the_guest_side_apart(peers: Callable[..., Peer]) -> None:
    """`filename` says whether a host client is connected, `frontend-open` whether the guest has the
    port open: under -S neither the guest nor its agent runs yet."""
    vmd = start(peers, "-S")
    ga = f"unix:{vmd.workdir / 'ga.sock'},server=on"
    async with qmp_client(vmd.socket) as qmp:
        assert await chardev(qmp) == {
            "label": "charchannel0",
            "filename": f"disconnected:{ga}",
            "frontend-open": False,
        }
        async with agent_client(vmd.workdir) as agent:
            await agent.send(b'{"execute":"guest-sync", "arguments":{"id":7}}\n')
            for _ in range(100):  # the accept is the daemon's next turn
                if (await chardev(qmp))["filename"] == ga:
                    break
                await asyncio.sleep(0.01)
            assert await chardev(qmp) == {"label": "charchannel0", "filename": ga, "frontend-open": False}
            assert await agent.nothing_within(0.2)  # the port is closed: the bytes wait, unread
            with qmp.listener() as listener:
                await qmp.execute("cont")
                while True:
                    event = await asyncio.wait_for(listener.get(), TIMEOUT)
                    if event["event"] == "VSERPORT_CHANGE":
                        break
            assert event["data"] == {"open": True, "id": "channel0"}
            assert await agent.line() == b'{"return": 7}\n'  # read once the agent opened the port
            assert await chardev(qmp) == {"label": "charchannel0", "filename": ga, "frontend-open": True}
        for _ in range(100):
            if (await chardev(qmp))["filename"].startswith("disconnected:"):
                break
            await asyncio.sleep(0.01)
        assert await chardev(qmp) == {
            "label": "charchannel0",
            "filename": f"disconnected:{ga}",
            "frontend-open": True,
        }
        # The next client is served: one at a time, accepted again after each.
        async with agent_client(vmd.workdir) as agent:
            assert await agent.call({"execute": "guest-ping"}) == {"return": {}}


async def test_a_reset_closes_the_port_and_the_rebooted_agent_opens_it_again(
    peers: Callable[..., Peer],
) -> None:
    vmd = start(peers)
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        assert await agent.call({"execute": "guest-sync", "arguments": {"id": 1}}) == {"return": 1}
        with qmp.listener() as listener:
            await qmp.execute("system_reset")
            changes: list[bool] = []
            while changes[-1:] != [True]:
                event = as_event(await asyncio.wait_for(listener.get(), TIMEOUT))
                if event["event"] == "VSERPORT_CHANGE":
                    assert event["data"]["id"] == "channel0"
                    changes.append(event["data"]["open"])
        # Closed, then open again; within a second of the boot's open the throttle keeps only the last.
        assert changes in ([False, True], [True])
        # The same connection goes on with the new agent (libvirt re-syncs after the event).
        assert await agent.call({"execute": "guest-sync", "arguments": {"id": 2}}) == {"return": 2}


async def test_vserport_change_is_throttled_per_port_the_last_state_winning(
    peers: Callable[..., Peer],
) -> None:
    """QEMU's monitor sends the first VSERPORT_CHANGE of a port at once and, within a second, only
    the last one: off, on, off, on in a row reach the client as close (now) and open (later)."""
    vmd = start(peers, "-S")
    async with qmp_client(vmd.socket) as qmp:
        with qmp.listener() as listener:
            await qmp.execute("cont")
            await asyncio.gather(
                *(
                    qmp.execute("__com.vmd_set-guest-policy", {"agent": agent})
                    for agent in ("off", "on", "off", "on")
                )
            )
            changes: list[bool] = []
            while len(changes) < 2:
                event = as_event(await asyncio.wait_for(listener.get(), TIMEOUT))
                if event["event"] == "VSERPORT_CHANGE":
                    changes.append(event["data"]["open"])
        assert changes == [True, True]  # the boot's open; then, a window later, the last of four
        assert (await chardev(qmp))["frontend-open"] is True


# -- the protocol -----------------------------------------------------------------------------------


async def test_sync_delimited_and_the_0xff_sentinel(peers: Callable[..., Peer]) -> None:
    vmd = start(peers)
    async with agent_client(vmd.workdir) as agent:
        await agent.send(b'{"execute":"guest-sync", "arguments":{"id":1796240526040}}\n')
        assert await agent.line() == b'{"return": 1796240526040}\n'
        await agent.send(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":42}}\n')
        assert await agent.line() == SYNC_ERROR
        assert await agent.line() == b'\xff{"return": 42}\n'
        # A half-sent object before the sentinel is dropped into that one error.
        await agent.send(b'{"execute":"guest-ping"\xff{"execute":"guest-sync","arguments":{"id":-7}}')
        assert await agent.line() == SYNC_ERROR
        assert await agent.line() == b'{"return": -7}\n'
        # Objects spanning lines, sharing one, with \r\n and blank lines: a JSON stream.
        await agent.send(b'\r\n\n{"execute":\n"guest-ping"}{"execute":"guest-ping","id":"abc"}\r\n')
        assert await agent.line() == b'{"return": {}}\n'
        assert await agent.line() == b'{"return": {}, "id": "abc"}\n'
        # A failed delimited sync has no sentinel: the command never ran.
        await agent.send(b'{"execute":"guest-sync-delimited"}\n')
        assert (
            await agent.line()
            == b'{"error": {"class": "GenericError", "desc": "Parameter \'id\' is missing"}}\n'
        )


@pytest.mark.parametrize(
    ("request_bytes", "reply"),
    [
        (
            b'{"arguments":{}}',
            {"error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}},
        ),
        (b'{"foo":1}', {"error": {"class": "GenericError", "desc": "QMP input member 'foo' is unexpected"}}),
        (
            b'{"exec-oob":"guest-ping"}',
            {"error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}},
        ),
        (b"[1,2]", {"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}),
        (
            b'{"execute":"guest-ping","arguments":null}',
            {"error": {"class": "GenericError", "desc": "QMP input member 'arguments' must be an object"}},
        ),
        (
            b'{"execute":"guest-nonexistent"}',
            {
                "error": {
                    "class": "CommandNotFound",
                    "desc": "The command guest-nonexistent has not been found",
                }
            },
        ),
        (
            b'{"execute":"query-status","id":5}',
            {
                "id": 5,
                "error": {"class": "CommandNotFound", "desc": "The command query-status has not been found"},
            },
        ),
        (
            b'{"execute":"guest-sync"}',
            {"error": {"class": "GenericError", "desc": "Parameter 'id' is missing"}},
        ),
        (
            b'{"execute":"guest-sync","arguments":{"id":18446744073709551615}}',
            {
                "error": {
                    "class": "GenericError",
                    "desc": "Invalid parameter type for 'id', expected: integer",
                }
            },
        ),
        (
            b'{"execute":"guest-ping","arguments":{"x":1}}',
            {"error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}},
        ),
        (
            b'{"execute":"guest-set-vcpus","arguments":{}}',
            {"error": {"class": "GenericError", "desc": "Parameter 'vcpus' is missing"}},
        ),
        (
            b'{"execute":"guest-set-vcpus","arguments":{"vcpus":{}}}',
            {
                "error": {
                    "class": "GenericError",
                    "desc": "Invalid parameter type for 'vcpus', expected: array",
                }
            },
        ),
        (
            b'{"execute":"guest-set-vcpus","arguments":{"vcpus":[{"logical-id":1}]}}',
            {"error": {"class": "GenericError", "desc": "Parameter 'vcpus[0].online' is missing"}},
        ),
        (
            b'{"execute":"guest-set-vcpus","arguments":{"vcpus":[{"logical-id":"1","online":true}]}}',
            {
                "error": {
                    "class": "GenericError",
                    "desc": "Invalid parameter type for 'vcpus[0].logical-id', expected: integer",
                }
            },
        ),
        (
            b'{"execute":"guest-shutdown","arguments":{"mode":"off"}}',
            {
                "error": {
                    "class": "GenericError",
                    "desc": "mode is invalid (valid values are: halt|powerdown|reboot",
                }
            },
        ),
    ],
)
async def test_requests_refused_with_qemu_gas_words(
    peers: Callable[..., Peer], request_bytes: bytes, reply: dict[str, Any]
) -> None:
    vmd = start(peers)
    async with agent_client(vmd.workdir) as agent:
        await agent.send(request_bytes + b"\n")
        line = await agent.line()
        assert json.loads(line) == reply
        assert line == json.dumps(reply).encode() + b"\n"  # qemu-ga's separators, members in its order
        assert await agent.call({"execute": "guest-ping"}) == {"return": {}}  # and it goes on


async def test_ping_info_osinfo_time_host_name_and_timezone(peers: Callable[..., Peer]) -> None:
    vmd = start(peers, "-name", "guest=demo")
    async with agent_client(vmd.workdir) as agent:
        assert await agent.call({"execute": "guest-ping"}) == {"return": {}}
        info = (await agent.call({"execute": "guest-info"}))["return"]
        assert info["version"] == "7.2.0"
        commands = {c["name"]: (c["enabled"], c["success-response"]) for c in info["supported_commands"]}
        assert commands == {
            "guest-get-osinfo": (True, True),
            "guest-get-timezone": (True, True),
            "guest-get-host-name": (True, True),
            "guest-set-vcpus": (True, True),
            "guest-get-vcpus": (True, True),
            "guest-shutdown": (True, False),
            "guest-info": (True, True),
            "guest-get-time": (True, True),
            "guest-ping": (True, True),
            "guest-sync": (True, True),
            "guest-sync-delimited": (True, True),
        }
        await agent.send(b'{"execute":"guest-get-osinfo"}\n')
        assert await agent.line() == (
            b'{"return": {"name": "vmd guest model", "kernel-release": "vmd-0.1.0", "version": "0.1.0", '
            b'"pretty-name": "vmd guest model (Linux-like)", "version-id": "0.1.0", '
            b'"kernel-version": "#1 SMP vmd guest model", "machine": "x86_64", "id": "vmd"}}\n'
        )
        before = time.time_ns()
        now = (await agent.call({"execute": "guest-get-time"}))["return"]
        assert before <= now <= time.time_ns()
        assert await agent.call({"execute": "guest-get-host-name"}) == {"return": {"host-name": "demo"}}
        assert await agent.call({"execute": "guest-get-timezone"}) == {"return": {"zone": "UTC", "offset": 0}}


# -- vCPUs ------------------------------------------------------------------------------------------


async def test_get_vcpus_lists_the_present_cpus_in_sysfs_order(peers: Callable[..., Peer]) -> None:
    vmd = start(peers, "-smp", "4")
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        for _ in range(200):  # the vCPUs confirm their boot-time online state
            if (await guest_cpus(qmp))["online"] == "0-3":
                break
            await asyncio.sleep(0.01)
        await agent.send(b'{"execute":"guest-get-vcpus"}\n')
        # kernfs lists cpuN by its name hash: cpu3, cpu1, cpu2, cpu0; x86 cpu0 has no `online` file.
        assert await agent.line() == (
            b'{"return": [{"online": true, "can-offline": true, "logical-id": 3}, '
            b'{"online": true, "can-offline": true, "logical-id": 1}, '
            b'{"online": true, "can-offline": true, "logical-id": 2}, '
            b'{"online": true, "can-offline": false, "logical-id": 0}]}\n'
        )


async def test_set_vcpus_stops_at_the_first_failure_and_counts_what_it_did(
    peers: Callable[..., Peer],
) -> None:
    vmd = start(peers, "-smp", "4")
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:

        async def set_vcpus(*entries: tuple[int, bool]) -> Any:
            vcpus = [{"logical-id": cpu, "online": online} for cpu, online in entries]
            return await agent.call({"execute": "guest-set-vcpus", "arguments": {"vcpus": vcpus}})

        for _ in range(200):
            if (await guest_cpus(qmp))["online"] == "0-3":
                break
            await asyncio.sleep(0.01)
        assert await set_vcpus() == {"return": 0}
        assert await set_vcpus((3, False), (0, False), (1, False)) == {"return": 1}  # cpu3 off; stops at cpu0
        assert (await guest_cpus(qmp))["online"] == "0-2"
        assert await set_vcpus((0, False)) == {
            "error": {"class": "GenericError", "desc": "logical processor #0 can't be offlined"}
        }
        assert await set_vcpus((9, True)) == {
            "error": {
                "class": "GenericError",
                "desc": 'open("/sys/devices/system/cpu/cpu9/"): No such file or directory',
            }
        }
        assert await set_vcpus((-1, True)) == {
            "error": {
                "class": "GenericError",
                "desc": 'open("/sys/devices/system/cpu/cpu-1/"): No such file or directory',
            }
        }
        assert await set_vcpus((0, True), (2, False), (2, True), (3, True)) == {"return": 4}
        assert (await guest_cpus(qmp))["online"] == "0-3"
        # As ACPI hotplug sees it: the agent's offlining is the guest OS's own.
        assert await set_vcpus((1, False), (2, False)) == {"return": 2}
        cpus = await guest_cpus(qmp)
        assert (cpus["present"], cpus["online"]) == ("0-3", "0,3")


async def test_the_last_online_cpu_is_busy_and_cpu0_offlinable_with_cpu0_hotplug(
    peers: Callable[..., Peer],
) -> None:
    vmd = start(peers, "-smp", "2", "-vmd-guest", "cpu0-hotplug=on")
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        for _ in range(200):
            if (await guest_cpus(qmp))["online"] == "0-1":
                break
            await asyncio.sleep(0.01)
        got = await agent.call({"execute": "guest-get-vcpus"})
        assert got == {
            "return": [
                {"online": True, "can-offline": True, "logical-id": 1},
                {"online": True, "can-offline": True, "logical-id": 0},
            ]
        }
        vcpus = [{"logical-id": 0, "online": False}, {"logical-id": 1, "online": False}]
        reply = await agent.call({"execute": "guest-set-vcpus", "arguments": {"vcpus": vcpus}})
        assert reply == {"return": 1}  # the error of the second one is dropped: partial success
        reply = await agent.call({"execute": "guest-set-vcpus", "arguments": {"vcpus": vcpus[1:]}})
        assert reply == {
            "error": {
                "class": "GenericError",
                "desc": 'pwrite("/sys/devices/system/cpu/cpu1//online"): Device or resource busy',
            }
        }
        assert (await guest_cpus(qmp))["online"] == "1"


async def test_hot_added_cpus_appear_to_the_agent_and_ejected_ones_vanish(peers: Callable[..., Peer]) -> None:
    vmd = start(peers, "-smp", "1,maxcpus=4", "-vmd-guest", "auto-online=off")
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        with qmp.listener() as listener:
            await qmp.execute(
                "device_add",
                {"driver": "qemu64-x86_64-cpu", "id": "cpu2", "socket-id": 0, "core-id": 2, "thread-id": 0},
            )
            event = await asyncio.wait_for(listener.get(), TIMEOUT)
            # The agent's port opening as the guest boots (VSERPORT_CHANGE) can come first: the
            # guest may still be booting when the client connects on a loaded host.
            while event["event"] == "VSERPORT_CHANGE":
                event = await asyncio.wait_for(listener.get(), TIMEOUT)
            assert event["event"] == "ACPI_DEVICE_OST"
        got = await agent.call({"execute": "guest-get-vcpus"})
        assert got == {
            "return": [
                {"online": False, "can-offline": True, "logical-id": 2},
                {"online": True, "can-offline": False, "logical-id": 0},
            ]
        }
        vcpus = [{"logical-id": 2, "online": True}]
        assert await agent.call({"execute": "guest-set-vcpus", "arguments": {"vcpus": vcpus}}) == {
            "return": 1
        }
        assert (await guest_cpus(qmp))["online"] == "0,2"
        await qmp.execute("device_del", {"id": "cpu2"})
        deleted = as_event(await wait_event(qmp, "DEVICE_DELETED", timeout=TIMEOUT))
        while deleted["data"].get("device") != "cpu2":
            deleted = as_event(await wait_event(qmp, "DEVICE_DELETED", timeout=TIMEOUT))
        got = await agent.call({"execute": "guest-get-vcpus"})
        assert got == {"return": [{"online": True, "can-offline": False, "logical-id": 0}]}


# -- shutdown ---------------------------------------------------------------------------------------


async def test_guest_shutdown_powers_the_guest_off_without_a_reply(peers: Callable[..., Peer]) -> None:
    vmd = start(peers, "-S", "-no-shutdown")
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        with qmp.listener() as listener:
            await qmp.execute("cont")
            await agent.send(b'{"execute":"guest-shutdown"}\n')
            seen: list[dict[str, Any]] = []
            changes: list[dict[str, Any]] = []
            while len(changes) < 2 or "STOP" not in [e["event"] for e in seen]:
                event = as_event(await asyncio.wait_for(listener.get(), TIMEOUT))
                if event["event"] == "VSERPORT_CHANGE":
                    changes.append(event["data"])
                else:
                    seen.append(event)
        assert [(e["event"], e.get("data")) for e in seen] == [
            ("RESUME", None),
            ("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"}),
            ("STOP", None),
        ]
        # The agent stopped with the OS: its port closes (a second after the boot's open: throttled).
        assert changes == [{"open": True, "id": "channel0"}, {"open": False, "id": "channel0"}]
        assert (await chardev(qmp))["frontend-open"] is False
        assert await agent.nothing_within(0.2)  # no reply, and nothing reads the port now


async def test_guest_shutdown_reboot_resets_the_machine(peers: Callable[..., Peer]) -> None:
    vmd = start(peers)
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        assert await agent.call({"execute": "guest-ping"}) == {"return": {}}
        with qmp.listener() as listener:
            await agent.send(b'{"execute":"guest-shutdown","arguments":{"mode":"reboot"}}\n')
            event = await asyncio.wait_for(listener.get(), TIMEOUT)
            while event["event"] != "RESET":
                event = await asyncio.wait_for(listener.get(), TIMEOUT)
        assert event["data"] == {"guest": True, "reason": "guest-reset"}
        assert await agent.call({"execute": "guest-sync", "arguments": {"id": 3}}) == {"return": 3}
    assert vmd.alive()


# -- policies ---------------------------------------------------------------------------------------


async def test_agent_off_never_opens_the_port_until_the_policy_changes(peers: Callable[..., Peer]) -> None:
    vmd = start(peers, "-vmd-guest", "agent=off")
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        await agent.send(b'{"execute":"guest-sync", "arguments":{"id":5}}\n')
        assert await agent.nothing_within(0.2)
        assert (await chardev(qmp))["frontend-open"] is False
        assert (await guest_cpus(qmp))["policy"]["agent"] == "off"
        with qmp.listener() as listener:
            await qmp.execute("__com.vmd_set-guest-policy", {"agent": "on"})
            event = await asyncio.wait_for(listener.get(), TIMEOUT)
        assert (event["event"], event["data"]) == ("VSERPORT_CHANGE", {"open": True, "id": "channel0"})
        assert await agent.line() == b'{"return": 5}\n'  # the waiting bytes are read at last


async def test_a_silent_agent_reads_and_answers_nothing_and_vmd_goes_on(peers: Callable[..., Peer]) -> None:
    vmd = start(peers, "-vmd-guest", "agent=silent")
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        await until_port_open(qmp)  # a silent agent still opens its port when the guest boots
        for _ in range(50):
            await agent.send(b'{"execute":"guest-sync", "arguments":{"id":1}}\n' * 100)  # never backs up
        assert await agent.nothing_within(0.2)
        assert as_dict(await qmp.execute("query-status"))["status"] == "running"
        await qmp.execute("__com.vmd_set-guest-policy", {"agent": "on"})
        assert await agent.call({"execute": "guest-sync", "arguments": {"id": 2}}) == {"return": 2}


async def test_a_slow_agent_answers_late_in_order_and_a_reset_abandons_its_work(
    peers: Callable[..., Peer],
) -> None:
    vmd = start(peers, "-vmd-guest", "agent=slow,agent-delay-ms=20")
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        await agent.send(
            b'{"execute":"guest-sync","arguments":{"id":1}}{"execute":"guest-sync","arguments":{"id":2}}'
        )
        assert [await agent.line(), await agent.line()] == [b'{"return": 1}\n', b'{"return": 2}\n']
        await qmp.execute("__com.vmd_set-guest-policy", {"agent-delay-ms": 600000})
        await agent.send(b'{"execute":"guest-ping"}\n')
        assert as_dict(await qmp.execute("query-status"))["status"] == "running"  # the monitor is not held up
        assert await agent.nothing_within(0.2)
        await qmp.execute("__com.vmd_set-guest-policy", {"agent": "on"})
        await qmp.execute("system_reset")  # the agent restarts: the pending ping is lost with it
        assert await agent.call({"execute": "guest-sync", "arguments": {"id": 3}}) == {"return": 3}


async def test_a_paused_guests_agent_answers_once_it_runs(peers: Callable[..., Peer]) -> None:
    vmd = start(peers)
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        assert await agent.call({"execute": "guest-ping"}) == {"return": {}}
        await qmp.execute("stop")
        await agent.send(b'{"execute":"guest-sync","arguments":{"id":9}}\n')
        assert await agent.nothing_within(0.2)
        await qmp.execute("cont")
        assert await agent.line() == b'{"return": 9}\n'


async def test_the_vcpu_map_shows_the_agents_view_beside_the_hypervisors(peers: Callable[..., Peer]) -> None:
    """__com.vmd_query-vcpu-map's `agent` member: what guest-get-vcpus answers, per vCPU, while an
    agent answers; absent for a vCPU the guest does not have and while the agent is silent."""
    vmd = start(peers, "-smp", "2,maxcpus=4")
    async with qmp_client(vmd.socket) as qmp, agent_client(vmd.workdir) as agent:
        for _ in range(500):  # the vCPUs confirm their boot-time online state
            if (await guest_cpus(qmp))["online"] == "0-1":
                break
            await asyncio.sleep(0.01)
        assert await agent.call({"execute": "guest-set-vcpus", "arguments": {"vcpus": [
            {"logical-id": 1, "online": False}]}}) == {"return": 1}  # fmt: skip
        listed = await qmp.execute("__com.vmd_query-vcpu-map")
        assert isinstance(listed, list)
        views = {entry["cpu-index"]: entry.get("agent") for entry in listed}
        assert views == {
            0: {"online": True, "can-offline": False},  # x86 cpu0 has no `online` file
            1: {"online": False, "can-offline": True},
            2: None,
            3: None,
        }
        reply = await agent.call({"execute": "guest-get-vcpus"})
        by_id = {
            cpu["logical-id"]: {"online": cpu["online"], "can-offline": cpu["can-offline"]}
            for cpu in reply["return"]
        }
        assert by_id == {index: view for index, view in views.items() if view is not None}
        await qmp.execute("__com.vmd_set-guest-policy", {"agent": "silent"})
        listed = await qmp.execute("__com.vmd_query-vcpu-map")
        assert isinstance(listed, list)
        assert all("agent" not in entry for entry in listed)
