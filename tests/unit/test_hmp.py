"""vmd.hmp: QEMU 7.2's HMP command-line parser, its help, and its output formats.

Every expected text here was taken from qemu-system-x86_64 7.2 through human-monitor-command
(tests/integration/test_hmp_vs_qemu.py compares the two live).
"""

from __future__ import annotations

from typing import Any

import pytest

from vmd.errors import DeviceNotFound
from vmd.handlers.hmp import COMMANDS as IMPLEMENTED
from vmd.hmp import text
from vmd.hmp.parser import DeviceHelp, HmpFailure, Invocation, device_help, help_text, parse, read_string
from vmd.hmp.table import COMMANDS, INFO_COMMANDS, command_paths
from vmd.qapi.compiled import CpuInfoFast, CpuInstanceProperties, HotpluggableCPU, RunState, StatusInfo
from vmd.qapi.compiled import SysEmuTarget as T


def run(line: str) -> tuple[str, dict[str, Any]]:
    invocation = parse(line)
    assert isinstance(invocation, Invocation), line
    return invocation.path, dict(invocation.args)


def failure(line: str) -> str:
    with pytest.raises(HmpFailure) as raised:
        parse(line)
    return raised.value.text


# -- the table -----------------------------------------------------------------------------------


def test_tables_are_sorted_as_qemu_sorts_them() -> None:
    for table in (COMMANDS, INFO_COMMANDS):
        names = [command.name for command in table]
        assert names == sorted(names)


def test_every_command_of_the_table_is_implemented_and_nothing_else() -> None:
    assert sorted(IMPLEMENTED) == sorted(command_paths())


# -- finding the command -------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["", "   ", "\t\n"])
def test_a_blank_line_runs_nothing(line: str) -> None:
    assert parse(line) is None


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("stop", "stop"),
        ("s", "stop"),
        ("cont", "cont"),
        ("c", "cont"),
        ("quit", "quit"),
        ("q", "quit"),
        ("?", "help"),
        ("info", "info"),
        ("info   ", "info"),
        ("  info  cpus  ", "info cpus"),
        ("info\tstatus", "info status"),
        ("info hotpluggable-cpus", "info hotpluggable-cpus"),
    ],
)
def test_names_and_aliases(line: str, path: str) -> None:
    assert run(line)[0] == path


@pytest.mark.parametrize(
    ("line", "printed"),
    [
        ("foo", "unknown command: 'foo'\n"),
        ("  foo bar", "unknown command: '  foo'\n"),  # quoted from the start of the line
        ("info foo", "unknown command: 'info foo'\n"),
        ("info hotpluggable", "unknown command: 'info hotpluggable'\n"),
        ("info /x", "unknown command: 'info '\n"),  # a name ends at '/': here it is empty
        ("info/x", "unknown command: 'info'\n"),
        ("Stop", "unknown command: 'Stop'\n"),
        ("savevm", "unknown command: 'savevm'\n"),  # QEMU's, not vmd's
        ("i", "unknown command: 'i'\n"),
    ],
)
def test_unknown_commands(line: str, printed: str) -> None:
    assert failure(line) == printed


@pytest.mark.parametrize(
    ("line", "printed"),
    [
        ("stop extra", 'stop|s: extraneous characters at the end of line\nTry "help stop" for more'),
        ("  stop extra", 'stop|s: extraneous characters at the end of line\nTry "help   stop" for more'),
        ("stop/x", 'stop|s: extraneous characters at the end of line\nTry "help stop" for more'),
        ("info cpus x", 'cpus: extraneous characters at the end of line\nTry "help info cpus" for more'),
        ("\tinfo   cpus  x", 'cpus: extraneous characters at the end of line\nTry "help \tinfo   cpus" for'),
        ("device_del", 'device_del: string expected\nTry "help device_del" for more'),
        ("device_del a b", 'device_del: extraneous characters at the end of line\nTry "help device_del"'),
        ('device_del "a', 'device_del: string expected\nTry "help device_del" for more'),
        ('device_del "a\\qb"', 'device_del: string expected\nTry "help device_del" for more'),
    ],
)
def test_argument_errors_end_with_the_help_hint(line: str, printed: str) -> None:
    assert failure(line).startswith(printed)
    assert failure(line).endswith(" for more information\n")


# -- strings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "word", "rest"),
    [
        ("abc def", "abc", " def"),
        ("  abc", "abc", ""),
        ('"a b" c', "a b", " c"),
        ('"a\\"b\\\\c\\n\\r\\\'"', "a\"b\\c\n\r'", ""),
        ('"ab"cd', "ab", "cd"),
        ("x" * 2000, "x" * 1023, ""),  # QEMU keeps 1023 characters and reads the rest
    ],
)
def test_read_string(line: str, word: str, rest: str) -> None:
    value, pos = read_string(line, 0)
    assert (value, line[pos:]) == (word, rest)


@pytest.mark.parametrize("line", ["", "   ", '"open', '"bad \\x escape"', '"ends in \\'])
def test_read_string_refuses(line: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        read_string(line, 0)


def test_device_del_takes_one_string() -> None:
    assert run('device_del "nope\\"x"') == ("device_del", {"id": 'nope"x'})
    assert run("device_del   c1  ") == ("device_del", {"id": "c1"})


# -- device_add: QemuOpts text -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ("device_add", {}),
        ('device_add ""', {}),
        ("device_add qemu64-x86_64-cpu", {"driver": "qemu64-x86_64-cpu"}),
        (
            "device_add qemu64-x86_64-cpu,socket-id=0,id=c1,core-id=1",
            {"id": "c1", "driver": "qemu64-x86_64-cpu", "socket-id": "0", "core-id": "1"},
        ),
        ("device_add driver=a,driver=b", {"driver": "b"}),  # the last value
        ("device_add a,id=x,id=y", {"id": "x", "driver": "a"}),  # the first id
        ("device_add a,,b", {"driver": "a,b"}),
        ("device_add a,help", {"driver": "a", "help": "on"}),
        ("device_add a,nohelp", {"driver": "a", "help": "off"}),
        ('device_add "a,core-id=1 2"', {"driver": "a", "core-id": "1 2"}),
        # JSON is not HMP's syntax: it is QemuOpts text (a driver, then flags)
        (
            'device_add {"driver":"a","core-id":1}',
            {"driver": '{"driver":"a"', '"core-id":1}': "on"},
        ),
    ],
)
def test_device_add_reads_qemuopts(line: str, args: dict[str, str]) -> None:
    path, parsed = run(line)
    assert path == "device_add"
    assert parsed == args
    assert list(parsed) == list(args)


@pytest.mark.parametrize("line", ["device_add a,id=1bad", "device_add a,id=", 'device_add "a'])
def test_device_add_parse_errors_print_only_the_hint(line: str) -> None:
    """QEMU reports a QemuOpts error on its stderr, not in the monitor."""
    assert failure(line) == 'Try "help device_add" for more information\n'


def test_device_add_json_with_spaces_is_two_words() -> None:
    assert failure('device_add {"driver": "a"}').startswith("device_add: extraneous characters")


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        ({"driver": "help"}, DeviceHelp(None)),
        ({"driver": "?"}, DeviceHelp(None)),
        ({"id": "x", "driver": "help"}, DeviceHelp(None)),
        ({"driver": "a", "help": "on"}, DeviceHelp("a")),
        ({"driver": "a", "help": "off"}, DeviceHelp("a")),  # QEMU looks at the key only
        ({"driver": "a", "?": "on"}, DeviceHelp("a")),
        ({"help": "on"}, None),
        ({"driver": "a", "x": "help"}, None),
        ({}, None),
    ],
)
def test_device_help(args: dict[str, str], wanted: DeviceHelp | None) -> None:
    assert device_help(args) == wanted


# -- cpu: integer expressions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "index"),
    [
        ("cpu 0", 0),
        ("cpu 1", 1),
        ("cpu 0x1f", 31),
        ("cpu 017", 15),
        ("cpu 1-1", 0),
        ("cpu (1 + 2) * 3", 9),
        ("cpu 7 / 2", 3),
        ("cpu -7 / 2 + 10", 7),  # C division truncates
        ("cpu -7 % 3 + 10", 9),
        ("cpu 6 & 3 | 8 ^ 1", 11),
        ("cpu ~0 & 0xff", 255),
        ("cpu 'a'", 97),
        ("cpu +-+5 + 10", 5),
        ("cpu 4294967295", 4294967295),
    ],
)
def test_cpu_index_expressions(line: str, index: int) -> None:
    assert run(line) == ("cpu", {"index": index})


@pytest.mark.parametrize(
    ("line", "printed"),
    [
        ("cpu", "unexpected end of expression\n"),
        ("cpu -1", "'cpu' has failed: integer is for 32-bit values\n"),
        ("cpu 4294967296", "'cpu' has failed: integer is for 32-bit values\n"),
        ("cpu 99999999999999999999999", "number too large\n"),
        ("cpu 08", "cpu: extraneous characters at the end of line\n"),  # octal: 0, then "8"
        ("cpu 0x", "cpu: extraneous characters at the end of line\n"),
        ("cpu (0", "')' expected\n"),
        ("cpu x", "invalid char 'x' in expression\n"),
        ("cpu 1/0", "division by zero\n"),
        ("cpu 1 % 0", "division by zero\n"),
        ("cpu '", "character constant expected\n"),
        ("cpu 'ab'", "missing terminating ' character\n"),
        ("cpu 'é'", "missing terminating ' character\n"),
        ("cpu $eax", "unknown register\n"),  # QEMU reads the register; vmd's vCPUs have none
    ],
)
def test_cpu_index_errors(line: str, printed: str) -> None:
    assert failure(line) == printed + 'Try "help cpu" for more information\n'


# -- help ----------------------------------------------------------------------------------------

HELP = (
    "cont|c  -- resume emulation\n"
    "cpu index -- set the default CPU\n"
    "device_add driver[,prop=value][,...] -- add device, like -device on the command line\n"
    "device_del device -- remove device\n"
    "help|? [cmd] -- show the help\n"
    "info [subcommand] -- show various information about the system state\n"
    "quit|q  -- quit the emulator\n"
    "stop|s  -- stop emulation\n"
)
INFO_HELP = (
    "info cpus  -- show infos for each CPU\n"
    "info hotpluggable-cpus  -- Show information about hotpluggable CPUs\n"
    "info status  -- show the current VM status (running|paused)\n"
)


@pytest.mark.parametrize(
    ("name", "printed"),
    [
        (None, HELP),
        ("  ", HELP),
        ("info", INFO_HELP),
        ("cont", "cont|c  -- resume emulation\n"),
        ("c", "cont|c  -- resume emulation\n"),
        ("stop extra", "stop|s  -- stop emulation\n"),
        ("info cpus", "info cpus  -- show infos for each CPU\n"),
        ("info cpus extra", "info cpus  -- show infos for each CPU\n"),
        ('"info" "cpus"', "info cpus  -- show infos for each CPU\n"),
        ("foo", "unknown command: 'foo'\n"),
        ("info foo", "unknown command: 'info foo'\n"),
        ("info /x", "unknown command: 'info /x'\n"),
        ('"info', ""),  # QEMU gives up quietly
        (" ".join(["a"] * 17), ""),  # more than 16 words
    ],
)
def test_help(name: str | None, printed: str) -> None:
    assert help_text(name) == printed


def test_help_and_info_take_the_rest_of_the_line() -> None:
    assert run("help  info  cpus ") == ("help", {"name": "info  cpus "})
    assert run("?") == ("help", {})
    assert run("info") == ("info", {})


# -- output formats ------------------------------------------------------------------------------


def test_monitor_output_ends_lines_in_crlf() -> None:
    assert text.monitor_output("a\nb\n") == "a\r\nb\r\n"
    error = DeviceNotFound("Device 'a\nb' not found", hint='devices at "x":\n')
    assert (
        text.monitor_output(text.error(error)) == "Error: Device 'a\r\nb' not found\r\ndevices at \"x\":\r\n"
    )


def _cpu(index: int, thread: int) -> CpuInfoFast:
    return CpuInfoFast(cpu_index=index, qom_path=f"/machine/x{index}", thread_id=thread, target=T.X86_64)


def test_info_cpus_marks_the_current_cpu() -> None:
    present = [_cpu(0, 1481), _cpu(1, 1558)]
    assert text.cpus(present, 0) == "* CPU #0: thread_id=1481\n  CPU #1: thread_id=1558\n"
    assert text.cpus(present, 1) == "  CPU #0: thread_id=1481\n* CPU #1: thread_id=1558\n"
    assert text.cpus([], -1) == ""


@pytest.mark.parametrize(
    ("state", "printed"),
    [
        (RunState.RUNNING, "VM status: running\n"),
        (RunState.PAUSED, "VM status: paused\n"),
        (RunState.PRELAUNCH, "VM status: paused (prelaunch)\n"),
        (RunState.INMIGRATE, "VM status: paused (inmigrate)\n"),
        (RunState.SHUTDOWN, "VM status: paused (shutdown)\n"),
        (RunState.INTERNAL_ERROR, "VM status: paused (internal-error)\n"),
        (RunState.SUSPENDED, "VM status: paused (suspended)\n"),
        (RunState.GUEST_PANICKED, "VM status: paused (guest-panicked)\n"),
        (RunState.POSTMIGRATE, "VM status: paused (postmigrate)\n"),
        (RunState.FINISH_MIGRATE, "VM status: paused (finish-migrate)\n"),
    ],
)
def test_info_status(state: RunState, printed: str) -> None:
    info = StatusInfo(running=state is RunState.RUNNING, singlestep=False, status=state)
    assert text.status(info) == printed


def test_info_hotpluggable_cpus() -> None:
    slots = [
        HotpluggableCPU(
            type="qemu64-x86_64-cpu",
            vcpus_count=1,
            props=CpuInstanceProperties(node_id=1, socket_id=1, die_id=0, core_id=1, thread_id=0),
        ),
        HotpluggableCPU(
            type="qemu64-x86_64-cpu",
            vcpus_count=1,
            props=CpuInstanceProperties(socket_id=0, core_id=0, thread_id=0),
            qom_path="/machine/unattached/device[0]",
        ),
    ]
    assert text.hotpluggable_cpus(slots) == (
        "Hotpluggable CPUs:\n"
        '  type: "qemu64-x86_64-cpu"\n'
        '  vcpus_count: "1"\n'
        "  CPUInstance Properties:\n"
        '    node-id: "1"\n'
        '    socket-id: "1"\n'
        '    die-id: "0"\n'
        '    core-id: "1"\n'
        '    thread-id: "0"\n'
        '  type: "qemu64-x86_64-cpu"\n'
        '  vcpus_count: "1"\n'
        '  qom_path: "/machine/unattached/device[0]"\n'
        "  CPUInstance Properties:\n"
        '    socket-id: "0"\n'
        '    core-id: "0"\n'
        '    thread-id: "0"\n'
    )
