"""What the `help` listings show (-machine help, -cpu help, -device help, ...): the machine model's
facts, in QEMU's formats (vmd.cli.listings).

A listing shows what vmd has, exactly as QEMU 7.2 shows the same things, so it is QEMU's listing
without the lines of what vmd lacks (tests/integration/test_listings_vs_qemu.py compares them).
"""

from __future__ import annotations

from dataclasses import dataclass

from vmd.boards.catalog import catalog
from vmd.boards.qom_types import device_models, types_of
from vmd.cli import EarlyExit
from vmd.cli import listings as fmt
from vmd.errors import QmpError
from vmd.machine.board import UnknownMachineError
from vmd.machine.user_objects import USER_CREATABLE
from vmd.qapi.compiled import SysEmuTarget


@dataclass(frozen=True, slots=True)
class Answer:
    """What to print: `text` on stdout, `error` on stderr (QEMU prints some refusals and still
    exits 0), and the exit status."""

    text: str = ""
    error: str | None = None
    status: int = 0


def answer(early: EarlyExit, target: SysEmuTarget = SysEmuTarget.X86_64) -> Answer:
    if early.text:
        return Answer(early.text)
    topic, detail = early.topic, early.detail
    boards = catalog(target)
    if topic == "machine":
        if detail is not None:
            try:
                board = boards.find(detail)
            except UnknownMachineError:
                pass  # QEMU lists every machine instead
            else:
                options = [fmt.PropertyEntry(n, t, d) for n, t, d in board.machine_options()]
                return Answer(fmt.options(f"{board.name}-machine", options))
        return Answer(fmt.machines(_machines(target)))
    if topic == "accel":
        return Answer(fmt.accelerators(["tcg"]))  # vmd's interpreter is what -accel tcg selects
    if topic == "cpu":
        models = boards.default.cpu_models()
        listed = ((model.name, model.description) for model in models.help_order)
        if models.help_style == "s390x":
            return Answer(fmt.s390x_cpus(listed, models.help_sections))
        return Answer(fmt.cpus(models.help_prefix, listed, models.help_flags))
    if topic == "device":
        if detail is None:
            return Answer(fmt.devices(_devices(target)))
        try:
            properties = types_of(target).device_properties(detail)
        except QmpError as error:
            return Answer(error=f"{early.location}: {error.desc}")
        entries = [
            fmt.PropertyEntry(p.name, p.type, p.description, p.default, p.default is not None)
            for p in properties
        ]
        return Answer(fmt.options(detail, entries))
    if topic == "object":
        if detail is None:
            return Answer(fmt.objects(USER_CREATABLE))
        if detail not in USER_CREATABLE:
            refusal = f"Parameter 'qom-type' does not accept value '{detail}'"
            return Answer(error=f"{early.location}: {refusal}", status=1)
        # QEMU lists the properties one can set.
        entries = [
            fmt.PropertyEntry(p.name, p.type, p.description)
            for p in types_of(target).class_properties(detail)
            if p.settable
        ]
        return Answer(fmt.options(detail, entries))
    return Answer("\n")  # a listing vmd does not give yet: as before, an empty line


def _machines(target: SysEmuTarget) -> list[fmt.MachineEntry]:
    return [
        fmt.MachineEntry(board.name, board.description, board.alias, board.is_default, board.deprecated)
        for board in catalog(target).boards.values()
    ]


def _devices(target: SysEmuTarget) -> list[fmt.DeviceEntry]:
    return [
        fmt.DeviceEntry(
            model.category, model.name, bus=model.bus, alias=model.alias, description=model.description
        )
        for model in device_models(target)
    ]
