"""Guest memory dumps: dump-guest-memory, query-dump and the formats query."""

from __future__ import annotations

from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import DumpGuestMemoryArgs, DumpGuestMemoryCapability, DumpQueryResult


@handles("dump-guest-memory")
async def dump_guest_memory(ctx: CommandContext, args: DumpGuestMemoryArgs) -> None:
    await ctx.vm.dump.dump(
        args.protocol,
        paging=args.paging,  # vmd does not walk guest page tables: physical RAM either way
        detach=bool(args.detach),
        begin=args.begin,
        length=args.length,
        fmt=args.format,
    )


@handles("query-dump")
def query_dump(ctx: CommandContext, args: None) -> DumpQueryResult:
    return ctx.vm.dump.query()


@handles("query-dump-guest-memory-capability")
def query_dump_guest_memory_capability(ctx: CommandContext, args: None) -> DumpGuestMemoryCapability:
    return DumpGuestMemoryCapability(formats=ctx.vm.dump.formats)
