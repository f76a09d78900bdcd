"""Run state: query-status, stop/cont, reset, powerdown, and their events."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec, EventSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct


class RunState(QapiDeclaredEnum):
    DEBUG = "debug"
    INMIGRATE = "inmigrate"
    INTERNAL_ERROR = "internal-error"
    IO_ERROR = "io-error"
    PAUSED = "paused"
    POSTMIGRATE = "postmigrate"
    PRELAUNCH = "prelaunch"
    FINISH_MIGRATE = "finish-migrate"
    RESTORE_VM = "restore-vm"
    RUNNING = "running"
    SAVE_VM = "save-vm"
    SHUTDOWN = "shutdown"
    SUSPENDED = "suspended"
    WATCHDOG = "watchdog"
    GUEST_PANICKED = "guest-panicked"
    COLO = "colo"


class ShutdownCause(QapiDeclaredEnum):
    NONE = "none"
    HOST_ERROR = "host-error"
    HOST_QMP_QUIT = "host-qmp-quit"
    HOST_QMP_SYSTEM_RESET = "host-qmp-system-reset"
    HOST_SIGNAL = "host-signal"
    HOST_UI = "host-ui"
    GUEST_SHUTDOWN = "guest-shutdown"
    GUEST_RESET = "guest-reset"
    GUEST_PANIC = "guest-panic"
    SUBSYSTEM_RESET = "subsystem-reset"
    SNAPSHOT_LOAD = "snapshot-load"


class StatusInfo(QapiStruct):
    # QEMU 7.2 still reports `singlestep` (deprecated in 8.1, removed in 9.0).
    running: bool
    singlestep: bool
    status: RunState


class ShutdownEventData(QapiStruct):
    guest: bool
    reason: ShutdownCause


class ResetEventData(QapiStruct):
    guest: bool
    reason: ShutdownCause


COMMANDS = (
    CommandSpec("query-status", "The VM's run state.", returns=StatusInfo, allow_preconfig=True),
    CommandSpec("stop", "Pause every vCPU; idempotent. STOP is sent only if the VM was running."),
    CommandSpec(
        "cont", "Resume the VM (also leaves prelaunch); idempotent. RESUME only if it was not running."
    ),
    CommandSpec("system_reset", "Reset the VM; a VM that is not running goes back to prelaunch."),
    CommandSpec("system_powerdown", "Press the ACPI power button: the guest decides what happens."),
)

STOP = EventSpec("STOP", "The VM stopped running.")
RESUME = EventSpec("RESUME", "The VM resumed running.")
RESET = EventSpec("RESET", "The VM was reset.", data=ResetEventData)
POWERDOWN = EventSpec("POWERDOWN", "The power button was pressed (a request to the guest).")
SHUTDOWN = EventSpec(
    "SHUTDOWN", "The VM shut down; the daemon exits unless -no-shutdown was given.", data=ShutdownEventData
)

EVENTS = (SHUTDOWN, POWERDOWN, RESET, STOP, RESUME)
