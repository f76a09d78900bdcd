"""Migration: migrate, migrate-incoming, their control and queries, capabilities, parameters,
the fds clients pass for them; and command-line introspection."""

from __future__ import annotations

import asyncio

from vmd.errors import GenericError
from vmd.firmware import standard as fw
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import (
    AddFdArgs,
    AddfdInfo,
    CommandLineOptionInfo,
    FdsetFdInfo,
    FdsetInfo,
    GetfdArgs,
    GuestRamDigest,
    MigrateArgs,
    MigrateContinueArgs,
    MigrateIncomingArgs,
    MigrateSetCapabilitiesArgs,
    MigrateSetParameters,
    MigrationCapability,
    MigrationCapabilityStatus,
    MigrationInfo,
    MigrationParameters,
    MigrationStatus,
    MultiFDCompression,
    QueryCommandLineOptionsArgs,
    RemoveFdArgs,
)


@handles("migrate")
def migrate(ctx: CommandContext, args: MigrateArgs) -> None:
    # blk and inc (block migration) are accepted with no effect: vmd has no block devices.
    ctx.vm.migration.migrate(args.uri, resume=bool(args.resume))


@handles("migrate-incoming")
def migrate_incoming(ctx: CommandContext, args: MigrateIncomingArgs) -> None:
    ctx.vm.migration.migrate_incoming(args.uri)


@handles("migrate_cancel")
def migrate_cancel(ctx: CommandContext, args: None) -> None:
    ctx.vm.migration.cancel()


@handles("migrate-continue")
def migrate_continue(ctx: CommandContext, args: MigrateContinueArgs) -> None:
    ctx.vm.migration.continue_(MigrationStatus(args.state.value))


@handles("query-migrate")
def query_migrate(ctx: CommandContext, args: None) -> MigrationInfo:
    return ctx.vm.migration.query()


_WIRE_PARAMETERS = {
    "announce-initial", "announce-max", "announce-rounds", "announce-step", "compress-level",
    "compress-threads", "compress-wait-thread", "decompress-threads", "throttle-trigger-threshold",
    "cpu-throttle-initial", "cpu-throttle-increment", "cpu-throttle-tailslow", "tls-creds",
    "tls-hostname", "tls-authz", "max-bandwidth", "downtime-limit", "x-checkpoint-delay",
    "block-incremental", "multifd-channels", "xbzrle-cache-size", "max-postcopy-bandwidth",
    "max-cpu-throttle", "multifd-compression", "multifd-zlib-level", "multifd-zstd-level",
}  # fmt: skip


@handles("query-migrate-parameters")
def query_migrate_parameters(ctx: CommandContext, args: None) -> MigrationParameters:
    values = dict(ctx.vm.migration.settings.parameters)
    values["multifd-compression"] = MultiFDCompression(values["multifd-compression"])
    return MigrationParameters(**{name.replace("-", "_"): values[name] for name in _WIRE_PARAMETERS})


@handles("migrate-set-parameters")
def migrate_set_parameters(ctx: CommandContext, args: MigrateSetParameters) -> None:
    wire = args.to_wire()
    wire.pop("block-bitmap-mapping", None)  # vmd has no block devices: nothing to map
    if "multifd-compression" in wire:
        wire["multifd-compression"] = str(wire["multifd-compression"])
    ctx.vm.migration.settings.set_parameters(wire)


@handles("__com.vmd_query-guest-ram")
async def query_guest_ram(ctx: CommandContext, args: None) -> GuestRamDigest:
    ram = ctx.vm.vcpus.ram
    digest = await asyncio.to_thread(ram.checksum)
    return GuestRamDigest(size=ram.size_bytes, sha256=digest, guest_counter=ram.read_u64(fw.SHARED_COUNTER))


@handles("getfd")
def getfd(ctx: CommandContext, args: GetfdArgs) -> None:
    fd = ctx.session.take_passed_fd()
    if fd is None:
        raise GenericError("No file descriptor supplied via SCM_RIGHTS")
    ctx.vm.migration.fds.put(args.fdname, fd)


@handles("closefd")
def closefd(ctx: CommandContext, args: GetfdArgs) -> None:
    ctx.vm.migration.fds.close(args.fdname)


@handles("add-fd")
def add_fd(ctx: CommandContext, args: AddFdArgs) -> AddfdInfo:
    fd = ctx.session.take_passed_fd()
    if fd is None:
        raise GenericError("No file descriptor supplied via SCM_RIGHTS")
    set_id, number = ctx.vm.migration.fds.add_to_set(fd, args.fdset_id, args.opaque)
    return AddfdInfo(fdset_id=set_id, fd=number)


@handles("remove-fd")
def remove_fd(ctx: CommandContext, args: RemoveFdArgs) -> None:
    ctx.vm.migration.fds.remove(args.fdset_id, args.fd)


@handles("query-fdsets")
def query_fdsets(ctx: CommandContext, args: None) -> list[FdsetInfo]:
    return [
        FdsetInfo(
            fdset_id=set_id, fds=[FdsetFdInfo(fd=fd, opaque=opaque) for fd, opaque in fdset.fds.items()]
        )
        for set_id, fdset in sorted(ctx.vm.migration.fds.sets.items())
    ]


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
