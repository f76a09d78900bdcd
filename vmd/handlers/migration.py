"""Migration capabilities and command-line introspection."""

from __future__ import annotations

from vmd.errors import GenericError
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import (
    CommandLineOptionInfo,
    MigrateSetCapabilitiesArgs,
    MigrationCapability,
    MigrationCapabilityStatus,
    QueryCommandLineOptionsArgs,
)


@handles("query-migrate-capabilities")
def query_migrate_capabilities(ctx: CommandContext, args: None) -> list[MigrationCapabilityStatus]:
    return [
        MigrationCapabilityStatus(capability=MigrationCapability(name), state=state)
        for name, state in ctx.vm.migration.items()
    ]


@handles("migrate-set-capabilities")
def migrate_set_capabilities(ctx: CommandContext, args: MigrateSetCapabilitiesArgs) -> None:
    ctx.vm.migration.set((cap.capability.value, cap.state) for cap in args.capabilities)


@handles("query-command-line-options")
def query_command_line_options(
    ctx: CommandContext, args: QueryCommandLineOptionsArgs
) -> list[CommandLineOptionInfo]:
    if args.option is not None:
        # QEMU's answer for an option it does not describe.
        raise GenericError(f"invalid option name: {args.option}")
    return []
