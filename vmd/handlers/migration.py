"""Migration capabilities and command-line introspection: vmd has none to report."""

from __future__ import annotations

from vmd.errors import GenericError
from vmd.handlers.context import CommandContext
from vmd.handlers.registry import handles
from vmd.qapi.compiled import CommandLineOptionInfo, MigrationCapabilityStatus, QueryCommandLineOptionsArgs


@handles("query-migrate-capabilities")
def query_migrate_capabilities(ctx: CommandContext, args: None) -> list[MigrationCapabilityStatus]:
    return []


@handles("query-command-line-options")
def query_command_line_options(
    ctx: CommandContext, args: QueryCommandLineOptionsArgs
) -> list[CommandLineOptionInfo]:
    if args.option is not None:
        # QEMU's answer for an option it does not describe.
        raise GenericError(f"invalid option name: {args.option}")
    return []
