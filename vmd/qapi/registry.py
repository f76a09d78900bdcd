"""Command and event declarations: the one registry everything else is derived from.

Dispatch, argument validation, reply serialization, `query-qmp-schema`,
`query-commands` and the committed files in `schemas/` all come from these
declarations; nothing else lists commands.  The same classes hold the declared
schema (pydantic argument types) and the generated runtime one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import field
from typing import Any

from vmd.records import dataclass

# The targets vmd emulates (its vmd-system-<target> binaries), the first being the one plain `vmd`
# is.  QEMU builds one schema per target: a command, event or member declared with `targets` is
# in those targets' schemas only (QAPI's 'if': 'TARGET_S390X'); without, it is in every one.
TARGETS = ("x86_64", "ppc64", "s390x", "aarch64")
DEFAULT_TARGET = TARGETS[0]


def on_target(targets: tuple[str, ...] | None, target: str) -> bool:
    """Whether something declared for `targets` (None: every target) exists on `target`."""
    return targets is None or target in targets


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One QMP command.

    `returns` is a type annotation (a QapiStruct, `list[...]`, a builtin, or None
    for commands that reply `{}`).  `negotiation` marks the commands available
    before `qmp_capabilities` completes.  `raw_args` is QAPI's `'gen': false`:
    `args` only describes the command to introspection, and the handler gets the
    arguments as the client sent them (device_add, whose other members are
    device properties).  `targets`: the targets whose schema has the command
    (None: all of them).  `success_response` false is QAPI's 'success-response': false: a
    command that succeeds sends no reply (the guest agent's guest-shutdown).
    """

    name: str
    doc: str
    args: type | None = None
    returns: Any = None
    allow_oob: bool = False
    allow_preconfig: bool = False
    negotiation: bool = False
    features: tuple[str, ...] = ()
    raw_args: bool = False
    targets: tuple[str, ...] | None = None
    success_response: bool = True


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    doc: str
    data: type | None = None
    features: tuple[str, ...] = ()
    targets: tuple[str, ...] | None = None


# Sends one event (its spec, its data or None): what the VM model reports through.  The data is
# a generated struct (vmd.qapi.runtime.WireStruct); typed loosely here to keep this module light.
EventSink = Callable[[EventSpec, Any], None]


@dataclass(frozen=True)
class Schema:
    commands: dict[str, CommandSpec] = field(default_factory=dict)
    events: dict[str, EventSpec] = field(default_factory=dict)

    @classmethod
    def build(cls, commands: Iterable[CommandSpec], events: Iterable[EventSpec]) -> Schema:
        schema = cls()
        for command in commands:
            if command.name in schema.commands:
                raise ValueError(f"command {command.name} declared twice")
            schema.commands[command.name] = command
        for event in events:
            if event.name in schema.events:
                raise ValueError(f"event {event.name} declared twice")
            schema.events[event.name] = event
        return schema

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self.commands.values())

    def for_target(self, target: str) -> Schema:
        """The schema of one target: what is declared for it or for every target."""
        return Schema.build(
            (c for c in self.commands.values() if on_target(c.targets, target)),
            (e for e in self.events.values() if on_target(e.targets, target)),
        )
