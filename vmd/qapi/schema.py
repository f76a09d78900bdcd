"""The whole declared schema: every domain's commands and events in one registry.

This is the pydantic source of truth, read by tools and tests.  The daemon runs on
`vmd.qapi.compiled.SCHEMA`, generated from it.
"""

from __future__ import annotations

import functools

from vmd.qapi import (
    acpi,
    block,
    control,
    cpus,
    dump,
    hmp,
    host,
    jobs,
    machine,
    migration,
    qdev,
    qga,
    qom,
    run_state,
    stats,
    vcpus_layer2,
    vmd_guest,
    yank,
)
from vmd.qapi.registry import Schema


@functools.cache
def declared_schema() -> Schema:
    return Schema.build(
        commands=(
            *control.COMMANDS,
            *run_state.COMMANDS,
            *machine.COMMANDS,
            *cpus.COMMANDS,
            *qdev.COMMANDS,
            *acpi.COMMANDS,
            *qom.COMMANDS,
            *stats.COMMANDS,
            *host.COMMANDS,
            *block.COMMANDS,
            *migration.COMMANDS,
            *dump.COMMANDS,
            *yank.COMMANDS,
            *hmp.COMMANDS,
            *vmd_guest.COMMANDS,
            *jobs.COMMANDS,
            *vcpus_layer2.COMMANDS,
        ),
        events=(
            *run_state.EVENTS,
            *qdev.EVENTS,
            *acpi.EVENTS,
            *host.EVENTS,
            *jobs.EVENTS,
            *vcpus_layer2.EVENTS,
            *migration.EVENTS,
            *dump.EVENTS,
        ),
    )


@functools.cache
def declared_agent_schema() -> Schema:
    """The guest agent's schema (qemu-ga's), apart from QMP's."""
    return qga.agent_schema()
