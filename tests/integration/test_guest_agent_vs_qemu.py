"""The guest agent's channel devices side by side with qemu-system-x86_64 7.2: the same command
lines are refused with the same words, and the port's QOM object and query-chardev entry look the
same (QEMU has no guest OS here, so its port stays closed: so does vmd's under -S)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.peers import Peer, qmp_client, short_tmpdir, startup_error, vmd_command

pytestmark = pytest.mark.qemu

CONTROLLER = ("-device", "virtio-serial-pci,id=virtio-serial0")
ROOT_PORT = '{"driver":"pcie-root-port","port":8,"chassis":1,"id":"pci.1","bus":"pcie.0","addr":"0x1"}'


def _port(chardev: str = "c0", **props: str) -> tuple[str, str]:
    text = ",".join(f"{key}={value}" for key, value in props.items())
    return ("-device", f"virtserialport,chardev={chardev}" + (f",{text}" if text else ""))


def _chardev(directory: str, name: str = "c0") -> tuple[str, str]:
    return ("-chardev", f"socket,id={name},path={directory}/{name}.sock,server=on,wait=off")


REFUSED: list[Callable[[str], tuple[str, ...]]] = [
    lambda d: (*CONTROLLER, *_chardev(d), *_port(nr="1"), *_chardev(d, "c1"), *_port("c1", nr="1")),
    lambda d: (
        *CONTROLLER,
        *_chardev(d),
        *_port(name="org.qemu.guest_agent.0"),
        *_chardev(d, "c1"),
        *_port("c1", name="org.qemu.guest_agent.0"),
    ),
    lambda d: (*CONTROLLER, *_port("nosuch")),
    lambda d: (*CONTROLLER, *_chardev(d), "-device", "virtserialport,chardev=c0,bus=virtio-serial1.0"),
    lambda d: (*CONTROLLER, *_chardev(d), *_port(nr="0")),
    lambda d: (*CONTROLLER, *_chardev(d), *_port(nr="31")),
    lambda d: ("-device", "virtio-serial-pci,id=v0,max_ports=4", *_chardev(d), *_port(nr="4")),
    lambda d: (*CONTROLLER, *_chardev(d), *_port(colour="blue")),
    lambda d: ("-device", "virtio-serial-pci,bus=pci.7"),
]


@pytest.mark.parametrize("argv", REFUSED)
def test_refused_like_qemu(qemu: str, argv: Callable[[str], tuple[str, ...]]) -> None:
    directory = short_tmpdir()
    args = ("-M", "q35", *argv(str(directory)))
    assert startup_error([*vmd_command(), *args], "vmd") == startup_error([qemu, *args], "qemu-system-x86_64")


async def _observe(peer: Peer) -> dict[str, Any]:
    async with qmp_client(peer.socket) as qmp:
        path = "/machine/peripheral/channel0"
        listed = await qmp.execute("qom-list", {"path": path})
        assert isinstance(listed, list)
        values = {
            p["name"]: await qmp.execute("qom-get", {"path": path, "property": p["name"]})
            for p in listed
            if not p["type"].startswith("child<")
        }
        chardevs = await qmp.execute("query-chardev")
        assert isinstance(chardevs, list)
        channel = next(c for c in chardevs if c["label"] == "charchannel0")
        channel["filename"] = channel["filename"].replace(str(peer.workdir), "DIR")
        types = await qmp.execute("qom-list-types", {"implements": "virtserialport"})
        port_props = await qmp.execute("device-list-properties", {"typename": "virtserialport"})
        return {"listed": listed, "values": values, "chardev": channel, "types": types, "props": port_props}


async def test_the_port_looks_the_same(peers: Callable[..., Peer]) -> None:
    seen = []
    for kind in ("qemu", "vmd"):
        workdir = short_tmpdir()
        peer = peers(
            kind, "-M", "q35", "-S",
            "-device", ROOT_PORT,
            "-device", '{"driver":"virtio-serial-pci","id":"virtio-serial0","bus":"pci.1","addr":"0x0"}',
            "-chardev", f"socket,id=charchannel0,path={workdir}/ga.sock,server=on,wait=off",
            "-device", '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":1,"chardev":"charchannel0",'
                       '"id":"channel0","name":"org.qemu.guest_agent.0"}',
            workdir=workdir,
        )  # fmt: skip
        seen.append(await _observe(peer))
    qemu_view, vmd_view = seen
    assert vmd_view["listed"] == qemu_view["listed"]
    assert vmd_view["values"] == qemu_view["values"]
    assert vmd_view["chardev"] == qemu_view["chardev"]
    # vmd has no virtconsole (a console on the virtio-serial bus): the one type QEMU has beside it.
    assert vmd_view["types"] == [t for t in qemu_view["types"] if t["name"] != "virtconsole"]
    # QEMU gives `nr` no description and `chardev` one; vmd's declarations say the same.
    assert vmd_view["props"] == qemu_view["props"]
