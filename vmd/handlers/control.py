"""The protocol's own commands."""

from __future__ import annotations

from vmd.errors import CommandNotFound
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.json.writer import Encoded
from vmd.qapi.compiled import CommandInfo, QmpCapabilitiesArgs, ShutdownCause, VersionInfo, VersionTriple
from vmd.version import PACKAGE, QEMU_COMPAT


def version_info() -> VersionInfo:
    major, minor, micro = QEMU_COMPAT
    return VersionInfo(qemu=VersionTriple(major=major, minor=minor, micro=micro), package=PACKAGE)


@handles("qmp_capabilities")
def qmp_capabilities(ctx: CommandContext, args: QmpCapabilitiesArgs) -> None:
    if not ctx.session.negotiating:
        raise CommandNotFound("Capabilities negotiation is already complete, command ignored")
    ctx.session.enable_capabilities(frozenset(cap.value for cap in args.enable or ()))


@handles("query-version")
def query_version(ctx: CommandContext, args: None) -> VersionInfo:
    return version_info()


@handles("query-commands")
def query_commands(ctx: CommandContext, args: None) -> list[CommandInfo]:
    return [CommandInfo(name=name) for name in ctx.daemon.command_names()]


@handles("query-qmp-schema")
def query_qmp_schema(ctx: CommandContext, args: None) -> Encoded:
    return ctx.daemon.schema_info()


@handles("quit")
def quit_(ctx: CommandContext, args: None) -> None:
    ctx.vm.shutdown(ShutdownCause.HOST_QMP_QUIT)
