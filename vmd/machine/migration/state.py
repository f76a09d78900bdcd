"""The machine's state at switchover: what the STATE record carries, and loading it on the target.

Taken once every vCPU has parked: each present vCPU's context (keyed by slot and its place in the
slot, never by plug order), the hotplug controller's guest-visible state (sparse), the guest
model (policy, its view of the CPUs, ejects it had accepted), the unplugs still pending, each
device of the VM's `devices` table (serial ports), and the run state the source had before the
migration stopped it (the target runs only if the source did, as QEMU's global state says), and
each section's state (vmd.machine.migration.sections: the resize jobs, the agent channel).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

from vmd.errors import GenericError
from vmd.machine.hotplug.controller import MigratableController
from vmd.machine.migration.stream import StreamError
from vmd.qapi.compiled import RunState

if TYPE_CHECKING:
    from vmd.machine.vm import VirtualMachine


class MigratableDevice(Protocol):
    def migration_state(self) -> dict[str, Any]: ...

    def load_migration_state(self, state: dict[str, Any]) -> None: ...


def _regs(regs: tuple[int, ...]) -> dict[str, int]:
    return {str(i): value for i, value in enumerate(regs) if value}


def capture(vm: VirtualMachine, prior: RunState) -> dict[str, Any]:
    manager = vm.cpu_manager
    engine = vm.vcpus.engine
    vcpus = []
    for slot, device in sorted(vm.slots.devices.items()):
        for place, index in enumerate(device.vcpus):
            regs, pc, irq = engine.save_context(index)
            vcpus.append({"slot": slot, "place": place, "regs": _regs(regs), "pc": pc, "irq": irq})
    controller = _migratable(manager.controller)
    return {
        "runstate": prior.value,
        "vcpus": vcpus,
        "controller": None if controller is None else controller.migration_state(),
        "guest": vm.guest.migration_state(),
        "unplug-requests": sorted(manager.record.unplug_requests),
        "devices": {name: device.migration_state() for name, device in vm.devices.items()},
        "sections": {name: part.capture() for name, part in vm.sections.items()},
    }


def restore(vm: VirtualMachine, state: dict[str, Any]) -> RunState:
    """Load `state` (the header matched already); returns the source's run state."""
    try:
        engine = vm.vcpus.engine
        for entry in state["vcpus"]:
            slot, place = int(entry["slot"]), int(entry["place"])
            device = vm.slots.devices.get(slot)
            if device is None or place >= len(device.vcpus):
                raise StreamError(f"the stream has a vCPU for slot {slot} that this VM does not have")
            regs = [0] * 256
            for i, value in entry["regs"].items():
                regs[int(i)] = int(value)
            engine.restore_context(device.vcpus[place], regs, int(entry["pc"]), int(entry["irq"]))
        controller = _migratable(vm.cpu_manager.controller)
        if controller is not None and state["controller"] is not None:
            controller.load_migration_state(state["controller"])
        for name, device_state in state["devices"].items():
            part = vm.devices.get(name)
            if part is None:
                raise StreamError(f"the stream has state for a device '{name}' this VM does not have")
            part.load_migration_state(device_state)
        now = time.monotonic_ns()
        for slot in state["unplug-requests"]:
            if int(slot) in vm.slots.devices:
                vm.cpu_manager.record.unplug_requests.setdefault(int(slot), now)
        vm.guest.load_migration_state(state["guest"])
        # The header named every section and its version, and this vmd reads them all.
        for name, part_state in state.get("sections", {}).items():
            vm.sections[name].restore(part_state)
        return RunState(state["runstate"])
    except GenericError as error:  # the machine refused a part (a job id in use here)
        raise StreamError(f"the machine state cannot be loaded: {error.desc}") from None
    except (KeyError, TypeError, ValueError) as error:
        raise StreamError(f"the migration stream's machine state is malformed ({error!r})") from None


def _migratable(controller: object) -> MigratableController | None:
    """The controller, if its state migrates (a board's controller may have none to carry)."""
    if hasattr(controller, "migration_state") and hasattr(controller, "load_migration_state"):
        return controller
    return None
