"""Facts about the VM and the emulator."""

from __future__ import annotations

from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import KvmInfo, NameInfo, TargetInfo, UuidInfo


@handles("query-name")
def query_name(ctx: CommandContext, args: None) -> NameInfo:
    return NameInfo(name=ctx.vm.identity.name)


@handles("query-uuid")
def query_uuid(ctx: CommandContext, args: None) -> UuidInfo:
    return UuidInfo(uuid=ctx.vm.identity.uuid)


@handles("query-target")
def query_target(ctx: CommandContext, args: None) -> TargetInfo:
    return TargetInfo(arch=ctx.vm.board.target)


@handles("query-kvm")
def query_kvm(ctx: CommandContext, args: None) -> KvmInfo:
    # vmd executes guests in its own interpreter; it has no KVM path at all.
    return KvmInfo(enabled=False, present=False)
