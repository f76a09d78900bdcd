"""Type introspection tells the truth about vmd's live objects, and -object makes real objects.

qom-list-properties is answered from the type declarations in vmd/boards/qom_types.py, qom-list
from the objects themselves; these tests walk every object of running VMs and require the two
to agree, so a property added to one and not the other fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from qemu.qmp import QMPClient

from tests.peers import Peer, qmp_client
from tests.replies import as_list

# Properties QEMU adds when a device is realized, so its type does not list them.
ADDED_AT_REALIZE = {"PIIX4_PM": {"cpu-hotplug-legacy"}}


async def _walk(qmp: QMPClient, path: str, seen: dict[str, tuple[str, set[str]]]) -> None:
    props = as_list(await qmp.execute("qom-list", {"path": path}))
    type_name = next(p for p in props if p["name"] == "type")
    type_value = await qmp.execute("qom-get", {"path": path, "property": type_name["name"]})
    assert isinstance(type_value, str), (path, type_value)
    own = {p["name"] for p in props if not p["type"].startswith("child<")}
    seen[path] = (type_value, own)
    for prop in props:
        if prop["type"].startswith("child<"):
            await _walk(qmp, f"{path.rstrip('/')}/{prop['name']}", seen)


@pytest.mark.parametrize("board", ["q35", "pc"])
async def test_every_live_object_has_what_its_type_declares(
    peers: Callable[..., Peer], workdir: Path, board: str
) -> None:
    secret = workdir / "key"
    secret.write_bytes(b"0123456789abcdef")
    root_port = '{"driver":"pcie-root-port","port":8,"chassis":1,"id":"pci.1","bus":"pcie.0"}'
    controller_bus = "pci.1" if board == "q35" else "pci.0"
    channel = (
        *(("-device", root_port) if board == "q35" else ()),
        "-device", f'{{"driver":"virtio-serial-pci","id":"virtio-serial0","bus":"{controller_bus}"}}',
        "-chardev", f"socket,id=charchannel0,path={workdir / 'ga.sock'},server=on,wait=off",
        "-device", "virtserialport,chardev=charchannel0,id=channel0,name=org.qemu.guest_agent.0",
    )  # fmt: skip
    vmd = peers(
        "vmd", "-M", f"{board},memory-backend=ram0", "-m", "64", "-smp", "2,maxcpus=4",
        "-object", "memory-backend-ram,id=ram0,size=64M",
        "-object", f'{{"qom-type":"secret","id":"masterKey0","format":"raw","file":"{secret}"}}',
        "-chardev", "null,id=c0", "-device", "isa-serial,chardev=c0,id=serial0", "-device", "isa-serial",
        *channel, "-S",
    )  # fmt: skip
    async with qmp_client(vmd.socket) as qmp:
        await qmp.execute("device_add", {"driver": "qemu64-x86_64-cpu", "id": "vcpu3", "socket-id": 0,
                                         "core-id": 3, "thread-id": 0})  # fmt: skip
        seen: dict[str, tuple[str, set[str]]] = {}
        await _walk(qmp, "/", seen)
        types = {type_name for type_name, _ in seen.values()}
        declared = {}
        for type_name in types:
            listed = as_list(await qmp.execute("qom-list-properties", {"typename": type_name}))
            declared[type_name] = {p["name"] for p in listed}
    for path, (type_name, own) in seen.items():
        assert own == declared[type_name] | ADDED_AT_REALIZE.get(type_name, set()), path
    assert seen["/objects/ram0"][0] == "memory-backend-ram"
    assert seen["/objects/masterKey0"][0] == "secret"
    assert seen["/machine/peripheral/vcpu3"][0] == "qemu64-x86_64-cpu"
    assert seen["/machine/peripheral/serial0"][0] == "isa-serial"
    assert seen["/machine/peripheral-anon/device[0]"][0] == "isa-serial"


async def test_user_objects_show_their_values(peers: Callable[..., Peer], workdir: Path) -> None:
    backing = workdir / "guest-ram"
    vmd = peers(
        "vmd", "-M", "q35,memory-backend=mem", "-m", "8",
        "-object", f"memory-backend-file,id=mem,size=8M,mem-path={backing},share=on",
        "-object", "secret,id=s0,data=aGVsbG8=,format=base64",
    )  # fmt: skip
    async with qmp_client(vmd.socket) as qmp:
        get = {
            name: await qmp.execute("qom-get", {"path": "/objects/mem", "property": name})
            for name in ("size", "share", "mem-path")
        }
        assert get == {"size": 8 << 20, "share": True, "mem-path": str(backing)}
        assert await qmp.execute("qom-get", {"path": "/objects/s0", "property": "format"}) == "base64"
        with pytest.raises(Exception, match="not readable"):
            await qmp.execute("qom-get", {"path": "/objects/s0", "property": "data"})
    # The guest's RAM is that file: the firmware's banner, written into guest memory, is in it.
    assert backing.stat().st_size == 8 << 20
    assert b"vmd firmware" in backing.read_bytes()
