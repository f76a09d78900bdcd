"""Every command handler, by command name: importing the handler modules registers them."""

from __future__ import annotations

from vmd.handlers import (  # noqa: F401 - imported for their @handles registrations
    acpi,
    block,
    control,
    cpu_models,
    cpus,
    hmp,
    host,
    machine,
    migration,
    qdev,
    qom,
    run_state,
    stats,
    vcpus_layer2,
    vmd_guest,
    yank,
)
from vmd.handlers.bind import HANDLERS, Handler


def all_handlers() -> dict[str, Handler]:
    return HANDLERS
