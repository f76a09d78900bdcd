"""Shorthands for tests that check the machine model's pure functions without a daemon."""

from __future__ import annotations

from collections.abc import Sequence

from vmd.machine.board import Board
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.topology import Topology


def plug_target(
    board: Board, topology: Topology, *, slot_nodes: Sequence[int] | None = None, cpu_type: str | None = None
) -> PlugTarget:
    """What `board` lets device_add create with this topology (CPU type: the board's default)."""
    cpu_type = cpu_type or board.default_cpu_type or "qemu64-x86_64-cpu"
    return board.plug_target(cpu_type, board.slot_layout(topology, cpu_type), slot_nodes)
