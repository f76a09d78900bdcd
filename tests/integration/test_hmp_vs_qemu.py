"""human-monitor-command against qemu-system-x86_64 7.2: the same command lines, the same strings.

Each conversation is sent, as raw JSON, to QEMU 7.2 and to vmd started alike, and everything that
comes back (replies, QMP errors, events) must be the same, thread ids aside (`thread_id=N`).
This covers the parser (names, aliases, whitespace, quotes, expressions, and the texts for
unknown commands and bad arguments), `info cpus` with the monitor's current CPU,
`info hotpluggable-cpus` across topologies, `info status`, stop/cont and their events, quit,
and device_add/device_del with every error the QMP suite knows, typed as HMP text.  The listings
(`help`, `info`, `device_add help`) are QEMU's lines for what vmd has.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.integration.differential import converse
from tests.integration.test_cpu_address_vs_qemu import SCENARIOS as CPU_ADDRESS_SCENARIOS
from tests.peers import Peer, RawQmp, vmd_command
from vmd.hmp.table import COMMANDS

pytestmark = pytest.mark.qemu

CPU = "qemu64-x86_64-cpu"
Q35 = ("-M", "q35", "-S", "-smp", "1,maxcpus=4")


def hmp(line: str, cpu_index: Any = None, **extra: Any) -> bytes:
    arguments: dict[str, Any] = {"command-line": line, **extra}
    if cpu_index is not None:
        arguments["cpu-index"] = cpu_index
    return json.dumps({"execute": "human-monitor-command", "arguments": arguments, "id": line}).encode()


# QEMU warns, into the monitor, of each CPUID feature its TCG cannot give a CPU model (Haswell:
# pcid, x2apic, ...), as it warns on stderr at start-up.  vmd's vCPUs are no x86 CPUs: it warns of
# none, here or at start-up.
_TCG_WARNING = re.compile(r"warning: TCG doesn't support requested feature: [^\r]*\r\n")


def normalized(messages: list[Any]) -> list[Any]:
    """Thread ids (`thread_id=N`) and QEMU's TCG warnings out of every returned string."""
    out = []
    for message in messages:
        returned = message.get("return") if isinstance(message, dict) else None
        if isinstance(returned, str):
            returned = _TCG_WARNING.sub("", re.sub(r"thread_id=\d+", "thread_id=N", returned))
            message = {**message, "return": returned}
        out.append(message)
    return out


async def hmp_output(peer: Peer, line: str) -> str:
    [reply] = await converse(peer.socket, [hmp(line)])
    assert isinstance(reply["return"], str), reply
    return reply["return"]


def opts_text(case: str) -> str | None:
    """A device_add case of the QMP suite (its JSON text) as HMP's QemuOpts text: values as text,
    commas doubled, the word quoted when it holds a space; None for what HMP cannot say (a NUL)."""
    members = json.loads(case)
    parts = []
    for key, value in members.items():
        if isinstance(value, bool):
            value = "on" if value else "off"
        elif value is None or isinstance(value, list | dict):
            continue  # QMP drops them; HMP cannot type them
        parts.append(f"{key}={str(value).replace(',', ',,')}")
    word = ",".join(parts)
    if "\x00" in word:
        return None
    if any(char in word for char in ' \t"\\'):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"device_add {word}"


PARSING = [
    "",
    "   ",
    "foo",
    "  foo bar",
    "info foo",
    "info hotpluggable",
    "info /x",
    "info/x",
    "Stop",
    "stop extra",
    "  stop extra",
    "stop/x",
    "\tinfo   cpus   x",
    "info cpus/x",
    "info  cpus",
    "  info cpus  ",
    "info\tstatus",
    "help cont",
    "help c",
    "? stop",
    "help device_add",
    "help device_del",
    "help cpu",
    "help quit",
    "help q",
    "help info cpus",
    "help info hotpluggable-cpus",
    "help info status",
    "help info cpus extra",
    "help stop extra",
    'help "info" "cpus"',
    'help "info',
    "help info /x",
    "help foo",
    "help info foo",
    "help " + " ".join(["a"] * 17),
    "device_del",
    'device_del "c1',
    'device_del "a\\qb"',
    'device_del "nope\\"x"',
    "device_del " + "x" * 1500,
    "device_del a b",
    "cpu",
    "cpu 0",
    "cpu 1",
    "cpu 5",
    "cpu -1",
    "cpu 0x0",
    "cpu 0x",
    "cpu 017",
    "cpu 08",
    "cpu 1-1",
    "cpu (1 + 2) * 0",
    "cpu -7 / 2 + 3",
    "cpu -7 % 3 + 1",
    "cpu ~0 & 0",
    "cpu 6 & 3 | 8 ^ 8",
    "cpu 4294967296",
    "cpu 99999999999",
    "cpu 99999999999999999999999",
    "cpu 'a'",
    "cpu '",
    "cpu 'ab'",
    "cpu 'é'",
    "cpu (0",
    "cpu x",
    "cpu 1/0",
    "cpu 1 % 0",
    "info status",
    "info cpus",
    "info hotpluggable-cpus",
]

DEVICES = [
    "device_add",
    'device_add ""',
    "device_add nope",
    "device_add x86_64-cpu",
    f"device_add {CPU}",
    f"device_add {CPU},id=c1,socket-id=0,core-id=1,thread-id=0",
    "info cpus",
    "info hotpluggable-cpus",
    f"device_add {CPU},id=c1,socket-id=0,core-id=2,thread-id=0",
    f"device_add {CPU},socket-id=0,core-id=1,thread-id=0",
    f"device_add {CPU},socket-id=0,core-id=2,thread-id=0",
    f'device_add {{"driver":"{CPU}","socket-id":0,"core-id":3,"thread-id":0}}',
    f'device_add {{"driver": "{CPU}"}}',
    f"device_add driver={CPU},socket-id=0,core-id=3,thread-id=0 extra",
    f"device_add {CPU},socket-id=0,core-id=3,thread-id=0,bogus=1",
    f"device_add {CPU},socket-id=x",
    f"device_add {CPU},id=1bad",
    f"device_add {CPU},id=",
    f"device_add {CPU},,x",
    f"device_add {CPU},socket-id=0,core-id=9,thread-id=0",
    f"device_add {CPU},apic-id=9",
    f"device_add {CPU},socket-id=0,core-id=3,thread-id=0,node-id=1",
    f"device_add {CPU},bus=/hpet/x",  # errors with QEMU's hint lines
    f"device_add {CPU},bus=/nope",
    f'device_add "{CPU},id=q1,socket-id=0,core-id=3,thread-id=0"',
    "info cpus",
    "info hotpluggable-cpus",
    f"device_add {CPU},id=a,socket-id=0,core-id=3,thread-id=0",
    "device_add nope,help",
    "device_add cpu,help",
    "device_add x86_64-cpu,help",
    "device_del nope",
    "device_del c1",
    "device_del q1",
    "device_del /machine/unattached/device[0]",
    "device_del /machine/peripheral-anon/device[0]",
    "device_del /machine/peripheral-anon",
    "device_del /machine",
    "device_del c1 c2",
]

CPU_INDEX = [
    hmp("info cpus", 0),
    hmp("info cpus", 1),
    hmp("info cpus", -1),
    hmp("info cpus", "0"),
    hmp("info cpus", 2**63),
    hmp("cpu 1", 0),
    hmp(f"device_add {CPU},id=c1,socket-id=0,core-id=2,thread-id=0"),
    hmp("info cpus", 2),
    hmp("info cpus", 1),
    hmp("cpu 2", 0),
    hmp("cpu 1", 2),
    b'{"execute": "human-monitor-command", "arguments": {"command-line": 5}, "id": 1}',
    b'{"execute": "human-monitor-command", "arguments": {}, "id": 2}',
    b'{"execute": "human-monitor-command", "id": 3}',
    b'{"execute": "human-monitor-command", "arguments": {"command-line": "foo", "bar": 1}, "id": 4}',
    b'{"exec-oob": "human-monitor-command", "arguments": {"command-line": "info status"}, "id": 5}',
]

RUN_STATE = [
    "info status",
    "stop",
    "info status",
    "cont",
    "info status",
    "c",
    "s",
    "info status",
    "stop",
    "cont",
    "stop extra",
    "info status",
]

# (command line, conversation); strings are command lines.
SCENARIOS: dict[str, tuple[Sequence[str], Sequence[str | bytes]]] = {
    "parsing": (Q35, PARSING),
    "devices": (Q35, DEVICES),
    "cpu-index": (Q35, CPU_INDEX),
    "run-state": (Q35, RUN_STATE),
    "cold-plugged": (
        (*Q35, "-device", f"{CPU},id=c5,socket-id=0,core-id=1,thread-id=0"),
        [
            "info cpus",
            "info hotpluggable-cpus",
            f"device_add {CPU},id=c5,socket-id=0,core-id=2,thread-id=0",
            f"device_add {CPU},id=a,id=b,socket-id=0,core-id=3,thread-id=0",
            "device_del b",
            "device_del c5",
        ],
    ),
    "machine-none": (
        ("-M", "none", "-S"),
        [
            "info status",
            "info cpus",
            "info hotpluggable-cpus",
            "cpu 0",
            hmp("info cpus", 0),
            f"device_add {CPU},id=x",
            "device_del x",
        ],
    ),
    "dies-and-numa": (
        (
            *("-M", "pc", "-S", "-m", "128", "-smp", "2,maxcpus=8,sockets=2,dies=2,cores=2"),
            *("-object", "memory-backend-ram,id=m0,size=64M", "-object", "memory-backend-ram,id=m1,size=64M"),
            *("-numa", "node,memdev=m0", "-numa", "node,memdev=m1"),
        ),
        [
            "info hotpluggable-cpus",
            "info cpus",
            f"device_add {CPU},socket-id=1,die-id=0,core-id=0,thread-id=0,node-id=0",
            f"device_add {CPU},socket-id=1,die-id=0,core-id=0,thread-id=0,node-id=1,id=n1",
            f"device_add {CPU},socket-id=1,die-id=2,core-id=0,thread-id=0",
            f"device_add {CPU},socket-id=1,core-id=1,thread-id=0",
            "info hotpluggable-cpus",
            "info cpus",
        ],
    ),
    # Every device_add case of the QMP suite, typed as HMP text, on its topology.
    **{
        f"cpu-address-{scenario.name}": (
            ("-M", scenario.machine, "-S", "-smp", scenario.smp, *scenario.extra),
            [line for case in scenario.cases if (line := opts_text(case)) is not None],
        )
        for scenario in CPU_ADDRESS_SCENARIOS
    },
}


@pytest.mark.parametrize(("args", "conversation"), SCENARIOS.values(), ids=SCENARIOS.keys())
async def test_hmp_like_qemu(
    peers: Callable[..., Peer], args: Sequence[str], conversation: Sequence[str | bytes]
) -> None:
    writes = [hmp(item) if isinstance(item, str) else item for item in conversation]
    expected = normalized(await converse(peers("qemu", *args).socket, writes))
    got = normalized(await converse(peers("vmd", *args).socket, writes))
    assert got == expected


@pytest.mark.parametrize("line", ["quit", "q", "  quit  "])
async def test_quit_like_qemu(peers: Callable[..., Peer], line: str) -> None:
    """SHUTDOWN (host-qmp-quit), the empty reply, then the monitor closes and the peer exits."""
    for kind in ("qemu", "vmd"):
        peer = peers(kind, *Q35)
        raw = await RawQmp.connect(peer.socket, negotiate=True)
        try:
            await raw.send(hmp(line))
            reply, events = await raw.recv_reply()
            assert reply == {"return": "", "id": line}, kind
            assert [(e["event"], e["data"]) for e in events] == [
                ("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
            ], kind
            with pytest.raises((EOFError, ConnectionResetError)):
                await raw.recv()
        finally:
            await raw.close()
        assert peer.wait_exit(), kind


def _lines(output: str) -> list[str]:
    assert output.endswith("\r\n")
    return output.removesuffix("\r\n").split("\r\n")


@pytest.mark.parametrize(("line", "table"), [("help", COMMANDS), ("?", COMMANDS), ("info", None)])
async def test_help_gives_qemus_lines_for_vmds_commands(
    peers: Callable[..., Peer], line: str, table: Any
) -> None:
    """vmd lists the commands it has, each with QEMU's line, in QEMU's order."""
    theirs = _lines(await hmp_output(peers("qemu", *Q35), line))
    ours = _lines(await hmp_output(peers("vmd", *Q35), line))
    assert ours == [entry for entry in theirs if entry in ours]
    if table is None:
        assert [entry.split()[1] for entry in ours] == ["cpus", "hotpluggable-cpus", "status"]
        assert await hmp_output(peers("vmd", *Q35), "help info") == "\r\n".join(ours) + "\r\n"
    else:
        assert [entry.split()[0] for entry in ours] == [command.name for command in table]


@pytest.mark.parametrize("line", ["device_add help", "device_add ?", "device_add help,id=x"])
async def test_device_add_help_lists_qemus_lines_for_vmds_devices(
    peers: Callable[..., Peer], line: str
) -> None:
    """QEMU's categories, each with the devices vmd has: what vmd's -device help prints."""
    theirs = _lines(await hmp_output(peers("qemu", *Q35), line))
    ours = _lines(await hmp_output(peers("vmd", *Q35), line))
    listed = {entry for entry in ours if entry.startswith("name ")}
    categories: list[tuple[list[str], list[str]]] = []
    blank = False
    for entry in theirs:
        if entry == "":
            blank = True
        elif entry.endswith(" devices:"):
            categories.append(([""] * blank + [entry], []))
            blank = False
        else:
            categories[-1][1].append(entry)
    expected = []
    for header, entries in categories:
        kept = [entry for entry in entries if entry in listed]
        if kept:
            expected += header + kept
    assert listed
    assert ours == expected
    command = [*vmd_command(), "-device", "help"]
    cli = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
    assert ours == cli.stdout.removesuffix("\n").split("\n")


@pytest.mark.parametrize(
    "line",
    [
        f"device_add {CPU},help",
        f"device_add {CPU},?",
        f"device_add {CPU},help=off",
        f"device_add {CPU},id=1,help",
        "device_add max-x86_64-cpu,help",
        "device_add isa-serial,help",
    ],
)
async def test_device_add_driver_help_gives_qemus_lines(peers: Callable[..., Peer], line: str) -> None:
    theirs = _lines(await hmp_output(peers("qemu", *Q35), line))
    ours = _lines(await hmp_output(peers("vmd", *Q35), line))
    if not theirs[0].endswith(" options:"):  # a parse error: the same hint
        assert ours == theirs
        return
    assert ours[0] == theirs[0]
    assert set(ours) <= set(theirs)
    assert ours[1:] == sorted(ours[1:])


QMP_SHELL_SESSION = """info status
info cpus
device_add qemu64-x86_64-cpu,id=c1,socket-id=0,core-id=1,thread-id=0
info cpus
cpu 1
info cpus
cpu 9
cpu x
device_add nope
device_del c1
info hotpluggable-cpus
foo
cont
info status
stop
info status
quit
"""


async def test_qmp_shell_hmp_session_like_qemu(peers: Callable[..., Peer]) -> None:
    """qmp-shell -H prints the same session for both, but for the version QEMU reports."""
    transcripts = []
    for kind in ("qemu", "vmd"):
        peer = peers(kind, *Q35)
        command = [sys.executable, "-m", "qemu.qmp.qmp_shell", "-H", peer.socket]
        done = await asyncio.to_thread(
            subprocess.run, command, input=QMP_SHELL_SESSION, capture_output=True, text=True, timeout=60
        )
        # After quit the peer closes the connection: qmp-shell 0.0.6 may then fail as it leaves,
        # with a traceback ending in EOFError (against QEMU as against vmd, as the race goes).
        assert done.returncode == 0 or done.stderr.endswith("EOFError\n"), done.stderr
        assert peer.wait_exit(), kind
        transcript = re.sub(r"thread_id=\d+", "thread_id=N", done.stdout)
        transcripts.append(re.sub(r"Connected to QEMU 7\.2\.\d+", "Connected to QEMU 7.2", transcript))
    theirs, ours = transcripts
    assert ours == theirs
    assert "(QEMU) Error: 'nope' is not a valid device model name" in ours
