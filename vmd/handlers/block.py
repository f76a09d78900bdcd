"""Block devices: vmd has none, so both lists are empty."""

from __future__ import annotations

from vmd.handlers.bind import handles
from vmd.handlers.context import CommandContext
from vmd.qapi.compiled import (
    BlockDeviceInfo,
    BlockInfo,
    BlockStats,
    QueryBlockstatsArgs,
    QueryNamedBlockNodesArgs,
)


@handles("query-block")
def query_block(ctx: CommandContext, args: None) -> list[BlockInfo]:
    return []


@handles("query-named-block-nodes")
def query_named_block_nodes(ctx: CommandContext, args: QueryNamedBlockNodesArgs) -> list[BlockDeviceInfo]:
    return []


@handles("query-blockstats")
def query_blockstats(ctx: CommandContext, args: QueryBlockstatsArgs) -> list[BlockStats]:
    return []
