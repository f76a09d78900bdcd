"""vmd's extensions: the guest model's policy and its view of the CPUs."""

from __future__ import annotations

from vmd.errors import GenericError
from vmd.guest.sysfs import cpu_list
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import (
    GuestAgentPolicy,
    GuestCpus,
    GuestPolicy,
    GuestPowerdownPolicy,
    GuestSetCpuConfiguredArgs,
    GuestSetCpuOnlineArgs,
    GuestUnplugPolicy,
    SetGuestPolicyArgs,
    SysEmuTarget,
)


def _policy_info(ctx: CommandContext) -> GuestPolicy:
    policy = ctx.guest.policy
    return GuestPolicy(
        auto_online=policy.auto_online,
        unplug=GuestUnplugPolicy(policy.unplug),
        delay_ms=policy.delay_ms,
        cpu0_hotplug=policy.cpu0_hotplug,
        powerdown=GuestPowerdownPolicy(policy.powerdown),
        load_percent=policy.load_percent,
        agent=GuestAgentPolicy(policy.agent),
        agent_delay_ms=policy.agent_delay_ms,
        maxcpus=policy.maxcpus,
    )


@handles("__com.vmd_set-guest-policy")
def set_guest_policy(ctx: CommandContext, args: SetGuestPolicyArgs) -> GuestPolicy:
    guest = ctx.guest
    changes: dict[str, object] = {}
    if args.auto_online is not None:
        changes["auto_online"] = args.auto_online
    if args.unplug is not None:
        changes["unplug"] = args.unplug.value
    if args.delay_ms is not None:
        changes["delay_ms"] = args.delay_ms
    if args.powerdown is not None:
        changes["powerdown"] = args.powerdown.value
    if args.cpu0_hotplug is not None:
        changes["cpu0_hotplug"] = args.cpu0_hotplug
    if args.maxcpus is not None:
        if args.maxcpus < 1:
            raise GenericError("Parameter 'maxcpus' expects a positive number (it applies at the next boot)")
        changes["maxcpus"] = args.maxcpus
    if args.load_percent is not None:
        if args.load_percent > 100:
            raise GenericError("Parameter 'load-percent' expects a percentage from 0 to 100")
        changes["load_percent"] = args.load_percent
    if args.agent is not None:
        changes["agent"] = args.agent.value
    if args.agent_delay_ms is not None:
        changes["agent_delay_ms"] = args.agent_delay_ms
    guest.set_policy(guest.policy.replace(**changes))
    return _policy_info(ctx)


def _all(count: int) -> str:
    """cpu_list(range(count)), without walking the range."""
    return "" if count <= 0 else "0" if count == 1 else f"0-{count - 1}"


def _all_but(count: int, cpus: set[int]) -> str:
    """cpu_list(set(range(count)) - cpus), walking only `cpus` (a few, of up to 16384)."""
    ranges: list[str] = []
    start = 0
    for cpu in sorted(cpu for cpu in cpus if 0 <= cpu < count):
        if cpu > start:
            ranges.append(f"{start}" if cpu - 1 == start else f"{start}-{cpu - 1}")
        start = cpu + 1
    if start < count:
        ranges.append(f"{start}" if count - 1 == start else f"{start}-{count - 1}")
    return ",".join(ranges)


@handles("__com.vmd_query-guest-cpus")
def query_guest_cpus(ctx: CommandContext, args: None) -> GuestCpus:
    # Polled in a loop while a client waits for CPUs to come online: the possible CPUs (16384
    # with x-vmd-max-cpus) are a range, so only the present and online ones are walked.
    guest = ctx.guest
    possible = ctx.vm.slots.possible_vcpus
    arm = ctx.vm.board.target is SysEmuTarget.AARCH64
    return GuestCpus(
        possible=_all(possible),
        present=_all(possible) if guest.all_possible_present else cpu_list(guest.present),
        online=cpu_list(guest.online),
        offline=_all_but(possible, guest.online),
        policy=_policy_info(ctx),
        configured=cpu_list(guest.configured) if guest.standby_cpus else None,
        enabled=cpu_list(guest.present) if arm else None,
    )


@handles("__com.vmd_guest-set-cpu-online")
async def guest_set_cpu_online(ctx: CommandContext, args: GuestSetCpuOnlineArgs) -> None:
    try:
        await ctx.guest.set_cpu_online(args.cpu_index, args.online)
    except ValueError as error:
        raise GenericError(str(error)) from None
    except TimeoutError:
        raise GenericError(f"CPU {args.cpu_index} did not confirm the change") from None


@handles("__com.vmd_guest-set-cpu-configured")
async def guest_set_cpu_configured(ctx: CommandContext, args: GuestSetCpuConfiguredArgs) -> None:
    try:
        await ctx.guest.set_cpu_configured(args.cpu_index, args.configured)
    except ValueError as error:
        raise GenericError(str(error)) from None
