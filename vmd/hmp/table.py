"""The HMP commands vmd answers, as QEMU 7.2's hmp-commands.hx and hmp-commands-info.hx declare
them: name (with its aliases after `|`), argument types, and the parameters and help text that
`help` prints.

QEMU sorts both tables by name (strcmp) when the monitor starts, so `help` lists them in that
order; they are kept sorted here.  Argument types are QEMU's letters, those vmd's commands use:
`s` a word or quoted string, `S` the rest of the line, `O` QemuOpts text (`driver,key=val,...`),
`i` an integer expression of 32 bits; `?` after one makes it optional.  Every other HMP command
is unknown to vmd, and answered with QEMU's text for an unknown command.
"""

from __future__ import annotations

from vmd.records import dataclass


@dataclass(frozen=True, slots=True)
class HmpCommand:
    name: str  # "stop|s": the name, then its aliases
    args_type: str  # "id:s", "device:O", ...: key:type, comma separated
    params: str
    help: str
    sub_table: tuple[HmpCommand, ...] | None = None

    def is_called(self, word: str) -> bool:
        """QEMU's hmp_compare_cmd: `word` is one of the names, exactly."""
        return word in self.name.split("|")

    @property
    def primary(self) -> str:
        return self.name.split("|", 1)[0]


INFO_COMMANDS = (
    HmpCommand("cpus", "", "", "show infos for each CPU"),
    HmpCommand("hotpluggable-cpus", "", "", "Show information about hotpluggable CPUs"),
    HmpCommand("status", "", "", "show the current VM status (running|paused)"),
)

COMMANDS = (
    HmpCommand("cont|c", "", "", "resume emulation"),
    HmpCommand("cpu", "index:i", "index", "set the default CPU"),
    HmpCommand(
        "device_add", "device:O", "driver[,prop=value][,...]", "add device, like -device on the command line"
    ),
    HmpCommand("device_del", "id:s", "device", "remove device"),
    HmpCommand("help|?", "name:S?", "[cmd]", "show the help"),
    HmpCommand(
        "info",
        "item:s?",
        "[subcommand]",
        "show various information about the system state",
        sub_table=INFO_COMMANDS,
    ),
    HmpCommand("quit|q", "", "", "quit the emulator"),
    HmpCommand("stop|s", "", "", "stop emulation"),
)


def command_paths() -> list[str]:
    """Every command a line can run, by the name its implementation is known by ("info cpus")."""
    paths = []
    for command in COMMANDS:
        paths.append(command.primary)
        paths += [f"{command.primary} {sub.primary}" for sub in command.sub_table or ()]
    return paths
