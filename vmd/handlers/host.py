"""Character devices, I/O threads, jobs and TPMs."""

from __future__ import annotations

from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import ChardevInfo, IOThreadInfo, JobInfo, TpmModel, TpmType


@handles("query-chardev")
def query_chardev(ctx: CommandContext, args: None) -> list[ChardevInfo]:
    return [
        ChardevInfo(label=label, filename=filename, frontend_open=is_open)
        for label, filename, is_open in ctx.daemon.chardevs()
    ]


@handles("query-iothreads")
def query_iothreads(ctx: CommandContext, args: None) -> list[IOThreadInfo]:
    return []


@handles("query-jobs")
def query_jobs(ctx: CommandContext, args: None) -> list[JobInfo]:
    return ctx.vm.jobs.query()


@handles("query-tpm-models")
def query_tpm_models(ctx: CommandContext, args: None) -> list[TpmModel]:
    return []


@handles("query-tpm-types")
def query_tpm_types(ctx: CommandContext, args: None) -> list[TpmType]:
    return []
