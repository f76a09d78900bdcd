"""The guest agent's channel in a migration: the "agent-channel" section of the stream.

What travels is what lives in the guest: whether its agent runs (has the port open: the target's
port opens at the load, with VSERPORT_CHANGE, as QEMU replays a guest's open port), and what the
agent had read from the channel and not answered (vmd.qmp.agent_session.AgentSession's
migration state).  The target's agent answers those requests, in order, once its guest runs, to
the client connected to the target's chardev (or to the first one to connect).  The source
forgets them when the target has confirmed; if the migration fails, the source's agent answers
them itself.  The header names the chardev of the agent's port: a target without that channel
refuses before any RAM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vmd.guest.agent import GuestAgent
from vmd.qmp.agent_session import AgentSession


class AgentChannelSection:
    version = 1

    def __init__(
        self, agent: GuestAgent, chardev_id: str | None, session: Callable[[], AgentSession | None]
    ) -> None:
        self._agent = agent
        self._chardev_id = chardev_id
        self._session = session  # the client connected to the agent's chardev, if one is
        self._carried: dict[str, Any] | None = None  # requests waiting for a client here

    def facts(self) -> dict[str, Any]:
        return {"chardev": self._chardev_id}

    def outgoing_began(self) -> None:
        pass

    def capture(self) -> dict[str, Any]:
        session = self._session()
        return {
            "agent": self._agent.migration_state(),
            "input": None if session is None else session.migration_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._agent.load_migration_state(state["agent"])  # the port opens first: then it is served
        self._carried = state["input"]
        session = self._session()
        if session is not None:
            self.connected(session)

    def connected(self, session: AgentSession) -> None:
        """A client of the agent's chardev (on the target): it gets the carried requests' replies."""
        if self._carried is not None:
            session.adopt(self._carried)
            self._carried = None

    def outgoing_ended(self, completed: bool) -> None:
        session = self._session()
        if completed and session is not None:
            session.hand_over()
