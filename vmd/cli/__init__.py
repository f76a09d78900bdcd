"""The QEMU-compatible command line: `parse_command_line(argv) -> Config`.

libvirt and scripts start vmd exactly as they start qemu-system-x86_64, so vmd accepts
QEMU 7.2's options with QEMU's value syntaxes (QemuOpts `key=val,...`, keyval, JSON) and
reports mistakes with QEMU's words.  Errors are `CommandLineError`: the caller prints
`vmd: <message>` to stderr and exits 1.  Requests for information (-help, -version,
`-machine help`, ...) are `EarlyExit`: the caller prints `text` (or, when `text` is empty,
renders `topic` from its own model) to stdout and exits 0.

Parsing runs like QEMU's: first every option name is looked up (unknown options and
missing arguments win over everything else: `argv`), then each option is parsed in order
(`builder`, with the table of `options`), then the checks QEMU makes only once the whole
line is known (`Builder.finish`).

The package knows options, not boards: the default RAM size, the -machine properties of a
board and the -smp rules are decided by the machine.  Its modules:

    errors        CommandLineError, EarlyExit, HelpTopic, and the internal value error
    argv          the first pass: option names and their arguments, given a table
    options       the option table of each target (x86_64, ppc64, s390x, aarch64)
    specs         the QemuOpts lists of the options (keys, types, implied key)
    qemuopts      QemuOpts key=val,... and keyval (dotted keys)
    json_arg      -device/-object JSON
    builder       the options in order, QEMU's late checks, the frozen Config
    machine_opts  -m, -smp, -machine, -cpu, -numa, -display values
    chardev       -chardev, -qmp, -mon, -serial and their legacy syntax
    devices       -device, -object, -global, -add-fd values
    help          -help and -version
"""

from __future__ import annotations

from vmd.cli.errors import CommandLineError, EarlyExit, HelpTopic, Invalid
from vmd.cli.help import usage_text, version_text

TYPE_CHECKING = False  # not typing's: -version and -help load this package without typing
if TYPE_CHECKING:
    from vmd.cli.builder import ObjectCheck
    from vmd.cli.options import TARGETS as TARGETS
    from vmd.cli.options import Target as Target
    from vmd.config import Config

__all__ = [
    "TARGETS",
    "CommandLineError",
    "EarlyExit",
    "HelpTopic",
    "Target",
    "parse_command_line",
    "usage_text",
    "version_text",
]


def parse_command_line(
    argv: list[str],
    *,
    target: Target = "x86_64",
    check_object: ObjectCheck | None = None,
    object_error: type[Exception] = Exception,
) -> Config:
    """Parse `argv` (without the program name) into a Config, as qemu-system-`target` would.

    Raises CommandLineError for a mistake and EarlyExit for -help, -version and the
    `help` values QEMU accepts.

    `check_object` makes the checks QEMU makes of an -object as it reads the option (its
    type, its properties); the command line knows options, not object types, so the caller
    hands them in (`vmd.machine.user_objects.check_option`).  It refuses an object by raising
    `object_error`, whose text becomes the option's error ("-object foo,id=x: Parameter
    'qom-type' does not accept value 'foo'"); anything else it raises is not caught.
    """
    from vmd.cli.argv import scan
    from vmd.cli.builder import Builder
    from vmd.cli.options import OPTIONS, POSITIONAL, TARGETS

    if target not in OPTIONS:
        raise ValueError(f"unknown target {target!r}; vmd knows {', '.join(TARGETS)}")
    builder = Builder(check_object, object_error)
    for arg in scan(argv, OPTIONS[target], POSITIONAL):
        try:
            arg.option.handle(builder, arg)
        except Invalid as exc:
            raise arg.error(str(exc)) from None
    return builder.finish()


def __getattr__(name: str) -> object:
    # The option tables load on first use: -version and -help (vmd.cli.help) need none of them.
    if name in ("TARGETS", "Target"):
        from vmd.cli import options

        return getattr(options, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
