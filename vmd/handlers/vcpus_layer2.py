"""Layer 2 over CPU hotplug: resize jobs, the vCPU map, the guest's view per vCPU, opt-in events;
and QEMU's generic job commands for those jobs."""

from __future__ import annotations

from vmd.errors import GenericError
from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.machine.cpu_packages import CONTAINER, package_name
from vmd.machine.resize import ResizeRequest
from vmd.qapi.compiled import (
    EnableEventsArgs,
    GuestVcpu,
    JobIdArgs,
    SetVcpusArgs,
    SetVcpusReturn,
    VcpuAgentView,
    VcpuMapEntry,
    VcpuPlacement,
)


@handles("__com.vmd_set-vcpus")
async def set_vcpus(ctx: CommandContext, args: SetVcpusArgs) -> SetVcpusReturn:
    # A slot whose CPU was just ejected is free once its threads are gone (a moment).
    await ctx.vm.cpu_manager.releases_done()
    # A new job would plug or unplug while the stream's header has the CPUs fixed: refused, as
    # device_add is (a job already running is held until the migration ends).
    if ctx.vm.migration.active or ctx.vm.migration.loading:
        raise GenericError("__com.vmd_set-vcpus not allowed while migrating")
    request = ResizeRequest(
        target=args.target,
        placement=VcpuPlacement.FILL if args.placement is None else args.placement,
        slots=tuple(args.slots or ()),
        deadline_ms=args.deadline_ms,
    )
    job = ctx.vm.resizer.set_vcpus(
        request, job_id=args.job_id, auto_dismiss=True if args.auto_dismiss is None else args.auto_dismiss
    )
    return SetVcpusReturn(job_id=job.id, target=job.request.target)


@handles("job-cancel")
def job_cancel(ctx: CommandContext, args: JobIdArgs) -> None:
    ctx.vm.jobs.cancel(args.id)


@handles("job-pause")
def job_pause(ctx: CommandContext, args: JobIdArgs) -> None:
    ctx.vm.jobs.pause(args.id)


@handles("job-resume")
def job_resume(ctx: CommandContext, args: JobIdArgs) -> None:
    ctx.vm.jobs.resume(args.id)


@handles("job-dismiss")
def job_dismiss(ctx: CommandContext, args: JobIdArgs) -> None:
    ctx.vm.jobs.dismiss(ctx.vm.jobs.find(args.id))


def _offlinable(ctx: CommandContext, index: int) -> bool:
    guest = ctx.guest
    return index in guest.online and (index != 0 or guest.policy.cpu0_hotplug)


@handles("__com.vmd_query-vcpu-map")
def query_vcpu_map(ctx: CommandContext, args: None) -> list[VcpuMapEntry]:
    manager, guest = ctx.vm.cpu_manager, ctx.guest
    layout, devices = manager.layout, manager.slots.devices
    running = guest.running.is_set()
    agent = ctx.daemon.agent_vcpus()  # the agent's view beside the hypervisor's, when one answers
    entries = []
    for slot in range(len(manager.slots)):
        device = devices.get(slot)
        package = f"/machine/{CONTAINER}/{package_name(slot)}"
        for position, index in enumerate(layout.vcpus(slot)):
            online = index in guest.online
            entries.append(
                VcpuMapEntry(
                    cpu_index=index,
                    slot=slot,
                    package=package,
                    present=device is not None,
                    online=online,
                    onlinable=running and not online and index in guest.present and index in guest.configured,
                    offlinable=running and _offlinable(ctx, index),
                    unplug_pending=manager.unplug_pending(slot),
                    qom_path=None if device is None else device.vcpu_paths[position],
                    agent=None
                    if agent is None or index not in agent
                    else VcpuAgentView(online=agent[index][0], can_offline=agent[index][1]),
                )
            )
    return entries


@handles("__com.vmd_query-guest-vcpus")
def query_guest_vcpus(ctx: CommandContext, args: None) -> list[GuestVcpu]:
    manager, guest = ctx.vm.cpu_manager, ctx.guest
    paths = dict(manager.slots.present_vcpus())
    return [
        GuestVcpu(
            cpu_index=index,
            qom_path=paths.get(index, ""),
            online=index in guest.online,
            configured=index in guest.configured,
            can_offline=index != 0 or guest.policy.cpu0_hotplug,
        )
        for index in sorted(guest.present)
    ]


@handles("__com.vmd_enable-events")
def enable_events(ctx: CommandContext, args: EnableEventsArgs) -> None:
    try:
        ctx.session.enable_events(frozenset(args.events))
    except ValueError as error:
        raise GenericError(f"'{error}' is not an event vmd sends on request") from None
