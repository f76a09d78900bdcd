"""The human monitor tunnelled through QMP: human-monitor-command (QEMU 7.2's misc.json)."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import QapiStruct


class HumanMonitorCommandArgs(QapiStruct):
    command_line: str
    cpu_index: int | None = None


COMMANDS = (
    CommandSpec(
        "human-monitor-command",
        "Run one HMP command line and return what the monitor printed (vmd answers the CPU and "
        "run-state commands; any other is an unknown command, in QEMU's words).",
        args=HumanMonitorCommandArgs,
        returns=str,
        # QEMU's feature flag: its HMP savevm snapshots only monitor-owned block nodes without
        # parents.  vmd has no savevm and no block nodes, so the promise holds vacuously; the
        # introspection stays QEMU's.
        features=("savevm-monitor-nodes",),
    ),
)
