"""The guest agent's commands (qemu-ga 7.2's), answered by the modelled agent in the guest.

A table of its own, beside QMP's: the agent is another peer with another schema
(vmd.qapi.qga).  Every handler first waits until the agent would answer (the VM runs; a slow
agent took its time); the work itself is the guest model's (vmd.guest.agent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from vmd.guest.agent import GuestAgent
from vmd.qapi.compiled import (
    AGENT_SCHEMA,
    GuestAgentCommandInfo,
    GuestAgentInfo,
    GuestHostName,
    GuestLogicalProcessor,
    GuestOSInfo,
    GuestSetVcpusArgs,
    GuestShutdownArgs,
    GuestSyncArgs,
    GuestTimezone,
)
from vmd.records import dataclass
from vmd.version import QEMU_COMPAT


@dataclass(frozen=True, slots=True)
class AgentContext:
    agent: GuestAgent


AgentHandler = Callable[[AgentContext, Any], Awaitable[Any]]
F = TypeVar("F", bound=AgentHandler)
AGENT_HANDLERS: dict[str, AgentHandler] = {}
AGENT_VERSION = ".".join(str(part) for part in QEMU_COMPAT)


def _handles(name: str) -> Callable[[F], F]:
    def register(fn: F) -> F:
        AGENT_HANDLERS[name] = fn
        return fn

    return register


@_handles("guest-sync-delimited")
async def guest_sync_delimited(ctx: AgentContext, args: GuestSyncArgs) -> int:
    await ctx.agent.ready()
    return args.id


@_handles("guest-sync")
async def guest_sync(ctx: AgentContext, args: GuestSyncArgs) -> int:
    await ctx.agent.ready()
    return args.id


@_handles("guest-ping")
async def guest_ping(ctx: AgentContext, args: None) -> None:
    await ctx.agent.ready()


@_handles("guest-get-time")
async def guest_get_time(ctx: AgentContext, args: None) -> int:
    await ctx.agent.ready()
    return ctx.agent.time_ns()


@_handles("guest-info")
async def guest_info(ctx: AgentContext, args: None) -> GuestAgentInfo:
    await ctx.agent.ready()
    commands = [
        GuestAgentCommandInfo(enabled=True, name=spec.name, success_response=spec.success_response)
        for spec in AGENT_SCHEMA.commands.values()
    ]
    return GuestAgentInfo(version=AGENT_VERSION, supported_commands=commands)


@_handles("guest-shutdown")
async def guest_shutdown(ctx: AgentContext, args: GuestShutdownArgs) -> None:
    await ctx.agent.ready()
    ctx.agent.shutdown(args.mode)


@_handles("guest-get-vcpus")
async def guest_get_vcpus(ctx: AgentContext, args: None) -> list[GuestLogicalProcessor]:
    await ctx.agent.ready()
    return [
        GuestLogicalProcessor(online=cpu.online, can_offline=cpu.can_offline, logical_id=cpu.logical_id)
        for cpu in ctx.agent.get_vcpus()
    ]


@_handles("guest-set-vcpus")
async def guest_set_vcpus(ctx: AgentContext, args: GuestSetVcpusArgs) -> int:
    await ctx.agent.ready()
    return await ctx.agent.set_vcpus([(entry.logical_id, entry.online) for entry in args.vcpus])


@_handles("guest-get-osinfo")
async def guest_get_osinfo(ctx: AgentContext, args: None) -> GuestOSInfo:
    await ctx.agent.ready()
    release = ctx.agent.os_release
    return GuestOSInfo(
        name=release.name,
        kernel_release=release.kernel_release,
        version=release.version,
        pretty_name=release.pretty_name,
        version_id=release.version_id,
        kernel_version=release.kernel_version,
        machine=ctx.agent.machine,
        id=release.id,
    )


@_handles("guest-get-host-name")
async def guest_get_host_name(ctx: AgentContext, args: None) -> GuestHostName:
    await ctx.agent.ready()
    return GuestHostName(host_name=ctx.agent.host_name)


@_handles("guest-get-timezone")
async def guest_get_timezone(ctx: AgentContext, args: None) -> GuestTimezone:
    await ctx.agent.ready()
    return GuestTimezone(zone="UTC", offset=0)
