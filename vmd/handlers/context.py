"""What a command handler may reach: the VM, its own session, and daemon-wide services."""

from __future__ import annotations

from typing import Protocol

from vmd.guest.os_model import GuestOs
from vmd.json.writer import Encoded
from vmd.machine.vm import VirtualMachine
from vmd.records import dataclass


class SessionHandle(Protocol):
    @property
    def negotiating(self) -> bool: ...

    def enable_capabilities(self, capabilities: frozenset[str]) -> None: ...

    def enable_events(self, names: frozenset[str]) -> None: ...

    def take_passed_fd(self) -> int | None:
        """The fd the client passed (SCM_RIGHTS) with the current command, now the caller's."""


class DaemonServices(Protocol):
    def schema_info(self) -> Encoded: ...

    def command_names(self) -> list[str]: ...

    def yankable_chardevs(self) -> list[str]: ...

    def chardevs(self) -> list[tuple[str, str, bool]]: ...

    def yank_chardev(self, chardev_id: str) -> None: ...

    def agent_vcpus(self) -> dict[int, tuple[bool, bool]] | None:
        """What the guest agent would answer to guest-get-vcpus, by logical id: (online,
        can-offline); None while no agent answers (no channel, agent off or silent, port closed)."""


@dataclass(frozen=True, slots=True)
class CommandContext:
    vm: VirtualMachine
    guest: GuestOs
    session: SessionHandle
    daemon: DaemonServices
