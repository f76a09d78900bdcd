"""The migration header's check (vmd.machine.migration.stream): every difference named, in order."""

from __future__ import annotations

import dataclasses

from vmd.machine.migration.stream import Header, differences

SLOTS = tuple(f"socket-id=0,core-id={core},thread-id=0" for core in range(4))
SOURCE = Header(
    board="pc-q35-7.2",
    target="x86_64",
    ram_bytes=128 << 20,
    cpu_type="qemu64-x86_64-cpu",
    slots=SLOTS,
    present=((0, None), (3, "cpu3")),
)


def test_the_same_vm_matches_whatever_the_ids() -> None:
    assert differences(SOURCE, dataclasses.replace(SOURCE, present=((0, None), (3, "vcpu3")))) == []


def test_a_header_survives_its_json() -> None:
    assert Header.from_json(SOURCE.to_json()) == SOURCE


def test_each_difference_is_named() -> None:
    local = dataclasses.replace(
        SOURCE, board="pc-i440fx-7.2", ram_bytes=256 << 20, present=((0, None), (1, "cpu1"))
    )
    assert differences(SOURCE, local) == [
        "the source's machine type is 'pc-q35-7.2', this VM's is 'pc-i440fx-7.2'",
        "the source has 128 MiB of RAM, this VM 256 MiB",
        "the source has a CPU in slot 3 (socket-id=0,core-id=3,thread-id=0), id cpu3 that this VM lacks "
        "(start it with the matching -device, or device_add it before migrate-incoming)",
        "this VM has a CPU in slot 1 (socket-id=0,core-id=1,thread-id=0), id cpu1 "
        "that the source does not have",
    ]


def test_another_layout_is_named_once() -> None:
    more = dataclasses.replace(SOURCE, slots=(*SLOTS, "socket-id=0,core-id=4,thread-id=0"))
    assert differences(SOURCE, more) == ["the source has 4 CPU slots (maxcpus), this VM 5"]
    other = dataclasses.replace(
        SOURCE, slots=tuple(s.replace("socket-id=0,core", "socket-id=1,core") for s in SLOTS)
    )
    assert differences(SOURCE, other) == [
        "the CPU topology differs: the source's slot 0 is socket-id=0,core-id=0,thread-id=0, "
        "this VM's is socket-id=1,core-id=0,thread-id=0"
    ]


def test_uuid_only_with_validate_uuid() -> None:
    assert differences(dataclasses.replace(SOURCE, uuid="a"), dataclasses.replace(SOURCE, uuid="b")) == [
        "the source's UUID is a, this VM's is b (validate-uuid)"
    ]
