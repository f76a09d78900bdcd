"""The QEMU guest agent's protocol (qemu-ga 7.2, qga/qapi-schema.json): the commands vmd's modelled
agent answers on the guest's virtio-serial port `org.qemu.guest_agent.0`.

This is a schema of its own, as in QEMU: the agent is another QMP-style peer, with no greeting, no
negotiation, no events and no introspection.  Members are declared in the order qemu-ga 7.2 prints
them (its dict order, measured), since that is what a byte-exact reply needs; arguments are
declared in the QAPI schema's order, which decides which missing member an error names.
"""

from __future__ import annotations

from pydantic import Field

from vmd.qapi.registry import CommandSpec, Schema
from vmd.qapi.types import QapiStruct


class GuestSyncArgs(QapiStruct):
    id: int


class GuestAgentCommandInfo(QapiStruct):
    enabled: bool
    name: str
    success_response: bool


class GuestAgentInfo(QapiStruct):
    version: str
    supported_commands: list[GuestAgentCommandInfo] = Field(alias="supported_commands")


class GuestShutdownArgs(QapiStruct):
    mode: str | None = None


class GuestLogicalProcessor(QapiStruct):
    """One entry of guest-get-vcpus' reply."""

    online: bool
    can_offline: bool | None = None
    logical_id: int


class GuestLogicalProcessorArg(QapiStruct):
    """One entry of guest-set-vcpus' argument (the same QAPI type, in its declaration order)."""

    logical_id: int
    online: bool
    can_offline: bool | None = None


class GuestSetVcpusArgs(QapiStruct):
    vcpus: list[GuestLogicalProcessorArg]


class GuestOSInfo(QapiStruct):
    name: str | None = None
    kernel_release: str | None = None
    version: str | None = None
    pretty_name: str | None = None
    version_id: str | None = None
    kernel_version: str | None = None
    machine: str | None = None
    id: str | None = None
    variant: str | None = None
    variant_id: str | None = None


class GuestHostName(QapiStruct):
    host_name: str


class GuestTimezone(QapiStruct):
    zone: str | None = None
    offset: int


COMMANDS = (
    # Newest-registered first, as guest-info lists them.
    CommandSpec("guest-get-osinfo", "Information about the guest's operating system.", returns=GuestOSInfo),
    CommandSpec("guest-get-timezone", "The guest's time zone.", returns=GuestTimezone),
    CommandSpec("guest-get-host-name", "The guest's host name.", returns=GuestHostName),
    CommandSpec(
        "guest-set-vcpus",
        "Online or offline the guest's logical processors, in list order; returns how many succeeded.",
        args=GuestSetVcpusArgs,
        returns=int,
    ),
    CommandSpec(
        "guest-get-vcpus",
        "The guest's logical processors, in its sysfs order.",
        returns=list[GuestLogicalProcessor],
    ),
    CommandSpec(
        "guest-shutdown",
        "Power the guest down (mode powerdown, the default), halt it or reboot it; no reply on success.",
        args=GuestShutdownArgs,
        success_response=False,
    ),
    CommandSpec("guest-info", "The agent's version and commands.", returns=GuestAgentInfo),
    CommandSpec("guest-get-time", "The guest's clock, in nanoseconds since the epoch.", returns=int),
    CommandSpec("guest-ping", "Whether the agent answers."),
    CommandSpec("guest-sync", "Echo `id`: resynchronise the stream.", args=GuestSyncArgs, returns=int),
    CommandSpec(
        "guest-sync-delimited",
        "Echo `id`, the reply preceded by the byte 0xFF: resynchronise the stream.",
        args=GuestSyncArgs,
        returns=int,
    ),
)


def agent_schema() -> Schema:
    return Schema.build(COMMANDS, ())
