"""The whole declared schema: every domain's commands and events in one registry.

This is the pydantic source of truth, read by tools and tests.  The daemon runs on
`vmd.qapi.compiled.SCHEMA`, generated from it.
"""

from __future__ import annotations

import functools

from vmd.qapi import control, cpus, machine, qom, run_state, stats, yank
from vmd.qapi.registry import Schema


@functools.cache
def declared_schema() -> Schema:
    return Schema.build(
        commands=(
            *control.COMMANDS,
            *run_state.COMMANDS,
            *machine.COMMANDS,
            *cpus.COMMANDS,
            *qom.COMMANDS,
            *stats.COMMANDS,
            *yank.COMMANDS,
        ),
        events=(*run_state.EVENTS,),
    )
