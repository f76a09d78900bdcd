"""Character devices, I/O threads, jobs and TPMs against real QEMU 7.2.

vmd has QMP monitors and serial ports and nothing else of this kind: where QEMU lists what it has
and vmd has none (TPM models), vmd's empty answer is the expected difference.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.peers import Peer, RawQmp, qmp_client
from vmd.boards.qom_types import VMD_ONLY_TYPES

pytestmark = pytest.mark.qemu


async def host_view(peer: Peer) -> dict[str, Any]:
    async with qmp_client(peer.socket) as qmp:
        chardevs = await qmp.execute("query-chardev")
        view = {
            name: await qmp.execute(name) for name in ("query-iothreads", "query-jobs", "query-tpm-types")
        }
    assert isinstance(chardevs, list)
    for chardev in chardevs:
        chardev["filename"] = chardev["filename"].replace(peer.socket, "<monitor>")
    view["query-chardev"] = sorted(chardevs, key=lambda c: c["label"])
    return view


async def test_host_side_like_qemu(peers: Callable[..., Peer], workdir: Path) -> None:
    views = []
    for kind in ("qemu", "vmd"):
        args = ("-M", "q35", "-S", "-serial", f"file:{workdir / kind}.serial", "-serial", "null")
        views.append(await host_view(peers(kind, *args)))
    qemu, vmd = views
    # QEMU lists the TPM backends it was built with; vmd has none.
    assert qemu.pop("query-tpm-types") == ["passthrough", "emulator"]
    assert vmd.pop("query-tpm-types") == []
    assert vmd == qemu
    assert [c["label"] for c in vmd["query-chardev"]] == ["compat_monitor0", "serial0", "serial1"]


async def test_what_vmd_has_none_of(peers: Callable[..., Peer]) -> None:
    """QEMU lists its QemuOpts groups; vmd describes none.  The migration capabilities are QEMU's
    list, all off (vmd migrates: see tests/qmp/test_migration.py)."""
    answers = {}
    for kind in ("qemu", "vmd"):
        async with qmp_client(peers(kind, "-M", "q35", "-S").socket) as qmp:
            answers[kind] = [
                await qmp.execute(c) for c in ("query-migrate-capabilities", "query-command-line-options")
            ]
    qemu_caps, qemu_options = answers["qemu"]
    assert isinstance(qemu_caps, list)
    assert {"capability": "events", "state": False} in qemu_caps
    assert isinstance(qemu_options, list)
    assert qemu_options
    assert answers["vmd"] == [qemu_caps, []]


@pytest.mark.parametrize(
    "arguments",
    [{}, {"abstract": True}, {"implements": "x86_64-cpu"}, {"implements": "machine", "abstract": True},
     {"implements": "chardev"}, {"implements": "no-such-type"}],
    ids=["default", "abstract", "x86-cpus", "machines", "chardevs", "unknown"],
)  # fmt: skip
async def test_qom_types_are_a_faithful_subset_of_qemus(
    peers: Callable[..., Peer], arguments: dict[str, Any]
) -> None:
    """Every type vmd lists exists in QEMU 7.2 with the same parent and abstractness; the CPU
    models and the pc/q35 machine types are all there."""
    listed = {}
    for kind in ("qemu", "vmd"):
        async with qmp_client(peers(kind, "-M", "q35", "-S").socket) as qmp:
            types = await qmp.execute("qom-list-types", arguments)
        assert isinstance(types, list)
        listed[kind] = {t["name"]: t for t in types}
    qemu, vmd = listed["qemu"], listed["vmd"]
    # vmd's layer-2 CPU packages are its own types, with names QEMU has not used.
    assert not VMD_ONLY_TYPES & set(qemu)
    vmd = {name: t for name, t in vmd.items() if name not in VMD_ONLY_TYPES}
    assert {name: qemu.get(name) for name in vmd} == vmd
    if arguments.get("implements") == "x86_64-cpu":
        assert set(vmd) == set(qemu)  # every x86 CPU model
    if arguments.get("implements") == "no-such-type":
        assert vmd == qemu == {}


async def test_serial_port_devices_like_qemu(peers: Callable[..., Peer], workdir: Path) -> None:
    """-device isa-serial on a pty (libvirt's <serial type='pty'>) and on a file: the same
    query-chardev (terminal numbers aside) and a QOM device with a subset of QEMU's properties."""
    views = {}
    for kind in ("qemu", "vmd"):
        peer = peers(
            kind, "-M", "q35", "-S",
            "-chardev", "pty,id=charserial0",
            "-device", '{"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":1}',
            "-chardev", f"file,id=charserial1,path={workdir / kind}.log",
            "-device", "isa-serial,chardev=charserial1,id=serial1",
        )  # fmt: skip
        async with qmp_client(peer.socket) as qmp:
            chardevs = await qmp.execute("query-chardev")
            props = await qmp.execute("qom-list", {"path": "/machine/peripheral/serial1"})
            index = await qmp.execute("qom-get", {"path": "/machine/peripheral/serial1", "property": "index"})
        assert isinstance(chardevs, list)
        assert isinstance(props, list)
        pty = next(c for c in chardevs if c["label"] == "charserial0")
        assert re.fullmatch(r"pty:/dev/pts/\d+", pty["filename"])
        pty["filename"] = "pty:<terminal>"
        views[kind] = (
            sorted((c for c in chardevs if c["label"].startswith("charserial")), key=lambda c: c["label"]),
            {p["name"]: p["type"] for p in props if not p["type"].startswith("child<")},
            index,
        )
    vmd_chardevs, vmd_props, vmd_index = views["vmd"]
    qemu_chardevs, qemu_props, qemu_index = views["qemu"]
    assert vmd_index == qemu_index == 0  # QEMU numbers only the ports it was not given an index for
    assert {name: qemu_props.get(name) for name in vmd_props} == vmd_props
    # QEMU names a file chardev's backend "file" too; vmd's view is QEMU's.
    assert vmd_chardevs == qemu_chardevs


async def test_acpi_ospm_status_of_a_machine_without_acpi(peers: Callable[..., Peer]) -> None:
    """`none` has no ACPI device: QEMU refuses the query (vmd once listed a slot)."""
    answers = []
    for kind in ("qemu", "vmd"):
        raw = await RawQmp.connect(peers(kind, "-M", "none", "-S").socket, negotiate=True)
        await raw.send(b'{"execute": "query-acpi-ospm-status", "id": 1}')
        answers.append(await raw.recv())
        await raw.close()
    assert (
        answers[0]
        == answers[1]
        == {
            "id": 1,
            "error": {"class": "GenericError", "desc": "command is not supported, missing ACPI device"},
        }
    )
