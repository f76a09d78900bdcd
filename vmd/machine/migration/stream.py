"""vmd's migration stream: records, and the header the target checks before any RAM is sent.

    magic "VMDM", u32 version
    records: u8 kind, u32 length (little-endian), payload

The source sends HEADER (JSON) first, naming the state sections it will send with their versions
(vmd.machine.migration.sections); PASS (u32) starts each RAM pass; RAM holds page records
(vmd.vcpu.PageEncoder; the target decodes them as they arrive, vmd.vcpu.PageDecoder); STATE
(JSON) is the machine's state once the vCPUs stopped, the sections' among it; END closes it.
Over a socket the target answers on the same connection (the return path): ACCEPT or REFUSE
(why) after the header, DONE or FAILED (why) after END, and the source reports `completed` only
after DONE: a target that cannot take the guest never leaves the source without it.
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import field
from typing import Any

from vmd.machine.migration import sections as parts
from vmd.machine.migration.channel import Channel
from vmd.records import dataclass

MAGIC = b"VMDM"
VERSION = 1
PREAMBLE = struct.Struct("<4sI")
RECORD = struct.Struct("<BI")
MAX_RECORD = 64 << 20


class Kind(enum.IntEnum):
    HEADER = 1
    PASS = 2
    RAM = 3
    STATE = 4
    END = 5
    # target -> source
    ACCEPT = 16
    REFUSE = 17
    DONE = 18
    FAILED = 19


class StreamError(Exception):
    """The stream is not one this vmd can load (the message says why, for the log and the source)."""


def record(kind: Kind, payload: bytes | bytearray | memoryview = b"") -> bytes:
    return RECORD.pack(kind, len(payload))


def json_record(kind: Kind, value: Any) -> bytes:
    payload = json.dumps(value, separators=(",", ":")).encode()
    return record(kind, payload) + payload


async def send_preamble(channel: Channel) -> None:
    await channel.write(PREAMBLE.pack(MAGIC, VERSION))


async def read_preamble(channel: Channel) -> None:
    magic, version = PREAMBLE.unpack(await channel.read_exactly(PREAMBLE.size))
    if magic != MAGIC:
        raise StreamError("this is not a vmd migration stream")
    if version != VERSION:
        raise StreamError(f"the migration stream is version {version}, this vmd reads version {VERSION}")


async def read_head(channel: Channel) -> tuple[Kind, int]:
    """A record's kind and length; its payload is next on the channel."""
    kind, length = RECORD.unpack(await channel.read_exactly(RECORD.size))
    if length > MAX_RECORD:
        raise StreamError(f"a record of {length} bytes is beyond any this vmd writes")
    try:
        which = Kind(kind)
    except ValueError:
        raise StreamError(f"unknown record type {kind} in the migration stream") from None
    return which, length


async def read_record(channel: Channel) -> tuple[Kind, bytes]:
    which, length = await read_head(channel)
    return which, await channel.read_exactly(length) if length else b""


# -- the header -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Header:
    """What must match between the two VMs.  `slots`: every possible slot's props (the layout);
    `present`: the slots with a CPU (indexes into `slots`) and the id it has on the source;
    `sections`: the state sections the source sends, their versions and facts
    (vmd.machine.migration.sections)."""

    board: str
    target: str
    ram_bytes: int
    cpu_type: str
    slots: tuple[str, ...]
    present: tuple[tuple[int, str | None], ...]
    uuid: str | None = None
    sections: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "board": self.board,
            "target": self.target,
            "ram-bytes": self.ram_bytes,
            "cpu-type": self.cpu_type,
            "slots": list(self.slots),
            "present": [[slot, device_id] for slot, device_id in self.present],
            "uuid": self.uuid,
            "sections": self.sections,
        }

    @classmethod
    def from_json(cls, value: Any) -> Header:
        try:
            return cls(
                board=str(value["board"]),
                target=str(value["target"]),
                ram_bytes=int(value["ram-bytes"]),
                cpu_type=str(value["cpu-type"]),
                slots=tuple(str(s) for s in value["slots"]),
                present=tuple((int(s), None if i is None else str(i)) for s, i in value["present"]),
                uuid=None if value.get("uuid") is None else str(value["uuid"]),
                sections={
                    str(name): {"version": int(part["version"]), "facts": dict(part["facts"])}
                    for name, part in value.get("sections", {}).items()
                },
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StreamError(f"the migration stream's header is malformed ({error})") from None


def _mib(size: int) -> str:
    return f"{size // (1 << 20)} MiB" if size % (1 << 20) == 0 else f"{size} bytes"


def _cpu(header: Header, slot: int, device_id: str | None) -> str:
    where = f"slot {slot} ({header.slots[slot]})" if slot < len(header.slots) else f"slot {slot}"
    return f"{where}, id {device_id}" if device_id else where


def differences(source: Header, local: Header) -> list[str]:
    """What keeps the source's guest from running here, each named, in the order checked."""
    found = []
    if source.target != local.target:
        found.append(f"the source is a {source.target} VM, this one {local.target}")
    if source.board != local.board:
        found.append(f"the source's machine type is '{source.board}', this VM's is '{local.board}'")
    if source.ram_bytes != local.ram_bytes:
        found.append(f"the source has {_mib(source.ram_bytes)} of RAM, this VM {_mib(local.ram_bytes)}")
    if source.cpu_type != local.cpu_type:
        found.append(f"the source's CPU type is '{source.cpu_type}', this VM's is '{local.cpu_type}'")
    if source.uuid is not None and source.uuid != local.uuid:
        found.append(f"the source's UUID is {source.uuid}, this VM's is {local.uuid} (validate-uuid)")
    if source.slots != local.slots:
        if len(source.slots) != len(local.slots):
            found.append(
                f"the source has {len(source.slots)} CPU slots (maxcpus), this VM {len(local.slots)}"
            )
        else:
            slot = next(i for i, (a, b) in enumerate(zip(source.slots, local.slots, strict=True)) if a != b)
            found.append(
                f"the CPU topology differs: the source's slot {slot} is {source.slots[slot]}, "
                f"this VM's is {local.slots[slot]}"
            )
        return found + parts.differences(source.sections, local.sections)  # slot by slot: no sense
    theirs, ours = dict(source.present), dict(local.present)
    for slot in sorted(set(theirs) - set(ours)):
        found.append(
            f"the source has a CPU in {_cpu(source, slot, theirs[slot])} that this VM lacks "
            "(start it with the matching -device, or device_add it before migrate-incoming)"
        )
    for slot in sorted(set(ours) - set(theirs)):
        found.append(f"this VM has a CPU in {_cpu(local, slot, ours[slot])} that the source does not have")
    return found + parts.differences(source.sections, local.sections)
