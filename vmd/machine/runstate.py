"""The VM's run state and the transitions QEMU 7.2 allows between states.

Setting a state that is not reachable from the current one is a bug in vmd, not
a client error, so it raises `InvalidTransition` (QEMU aborts there).
"""

from __future__ import annotations

from vmd.qapi.compiled import RunState as S

_ALLOWED: dict[S, frozenset[S]] = {
    S.PRELAUNCH: frozenset({S.INMIGRATE, S.RUNNING, S.FINISH_MIGRATE}),
    S.DEBUG: frozenset({S.RUNNING, S.FINISH_MIGRATE, S.PRELAUNCH, S.SUSPENDED}),
    S.INMIGRATE: frozenset(
        {
            S.INTERNAL_ERROR,
            S.IO_ERROR,
            S.PAUSED,
            S.RUNNING,
            S.SHUTDOWN,
            S.SUSPENDED,
            S.WATCHDOG,
            S.GUEST_PANICKED,
            S.FINISH_MIGRATE,
            S.PRELAUNCH,
            S.POSTMIGRATE,
            S.COLO,
        }
    ),
    S.INTERNAL_ERROR: frozenset({S.PAUSED, S.FINISH_MIGRATE, S.PRELAUNCH}),
    S.IO_ERROR: frozenset({S.RUNNING, S.FINISH_MIGRATE, S.PRELAUNCH}),
    S.PAUSED: frozenset({S.RUNNING, S.FINISH_MIGRATE, S.POSTMIGRATE, S.PRELAUNCH, S.COLO}),
    S.POSTMIGRATE: frozenset({S.RUNNING, S.FINISH_MIGRATE, S.PRELAUNCH}),
    S.FINISH_MIGRATE: frozenset({S.RUNNING, S.PAUSED, S.POSTMIGRATE, S.PRELAUNCH, S.COLO}),
    S.RESTORE_VM: frozenset({S.RUNNING, S.PRELAUNCH}),
    S.COLO: frozenset({S.RUNNING, S.PRELAUNCH, S.SHUTDOWN}),
    S.RUNNING: frozenset(
        {
            S.DEBUG,
            S.INTERNAL_ERROR,
            S.IO_ERROR,
            S.PAUSED,
            S.FINISH_MIGRATE,
            S.RESTORE_VM,
            S.SAVE_VM,
            S.SHUTDOWN,
            S.WATCHDOG,
            S.GUEST_PANICKED,
            S.COLO,
            S.SUSPENDED,
        }
    ),
    S.SAVE_VM: frozenset({S.RUNNING}),
    S.SHUTDOWN: frozenset({S.PAUSED, S.FINISH_MIGRATE, S.PRELAUNCH, S.COLO}),
    S.SUSPENDED: frozenset({S.RUNNING, S.FINISH_MIGRATE, S.PRELAUNCH, S.COLO}),
    S.WATCHDOG: frozenset({S.RUNNING, S.FINISH_MIGRATE, S.PRELAUNCH, S.COLO}),
    S.GUEST_PANICKED: frozenset({S.RUNNING, S.FINISH_MIGRATE, S.PRELAUNCH}),
}

# States a VM can only leave through a reset (QEMU refuses `cont` there).
NEEDS_RESET = frozenset({S.INTERNAL_ERROR, S.SHUTDOWN})


class InvalidTransition(RuntimeError):
    pass


class RunStateMachine:
    def __init__(self, initial: S = S.PRELAUNCH) -> None:
        self._state = initial

    @property
    def state(self) -> S:
        return self._state

    @property
    def running(self) -> bool:
        return self._state is S.RUNNING

    @property
    def needs_reset(self) -> bool:
        return self._state in NEEDS_RESET

    def can_enter(self, new: S) -> bool:
        return new is self._state or new in _ALLOWED[self._state]

    def enter(self, new: S) -> None:
        if new is self._state:
            return
        if new not in _ALLOWED[self._state]:
            raise InvalidTransition(f"invalid runstate transition: '{self._state}' -> '{new}'")
        self._state = new
