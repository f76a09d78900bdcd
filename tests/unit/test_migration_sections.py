"""The header's sections: the target names what it cannot read before it takes any RAM."""

from __future__ import annotations

from vmd.machine.migration.stream import Header, differences


def header(sections: dict[str, object] | None) -> Header:
    value: dict[str, object] = {
        "board": "pc-q35-7.2",
        "target": "x86_64",
        "ram-bytes": 128 << 20,
        "cpu-type": "qemu64-x86_64-cpu",
        "slots": ["socket-id=0,core-id=0,thread-id=0"],
        "present": [[0, None]],
    }
    if sections is not None:
        value["sections"] = sections
    return Header.from_json(value)


OURS = {
    "resize-jobs": {"version": 1, "facts": {}},
    "agent-channel": {"version": 1, "facts": {"chardev": "ga"}},
}


def test_matching_sections_and_an_older_stream_without_any_load() -> None:
    assert differences(header(OURS), header(OURS)) == []
    assert differences(header(None), header(OURS)) == []


def test_a_version_a_section_and_a_fact_are_each_named() -> None:
    theirs = {
        "resize-jobs": {"version": 2, "facts": {}},
        "agent-channel": {"version": 1, "facts": {"chardev": None}},
        "balloon": {"version": 1, "facts": {}},
    }
    assert differences(header(theirs), header(OURS)) == [
        "the source's 'resize-jobs' section is version 2, this vmd reads version 1",
        "the source's agent-channel chardev is none, this VM's is 'ga'",
        "the source sends a 'balloon' section (version 1) this vmd cannot read",
    ]
