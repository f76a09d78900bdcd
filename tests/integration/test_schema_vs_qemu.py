"""vmd's schema against QEMU 7.2's own introspection.

Every command and event vmd shares with QEMU 7.2 must take the same arguments
and return the same shape (member names, optionality, types, enum values), so a
client that introspects (libvirt does) sees the same contract.  Commands and
events QEMU 7.2 does not have must be listed here with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.peers import Peer, qmp_client

pytestmark = pytest.mark.qemu

# vmd names that QEMU 7.2 lacks, and why they are there anyway.
NOT_IN_QEMU_72: dict[str, str] = {
    "cpu-add": "QEMU 1.5-5.1's vCPU hot-add, removed in 5.2; kept (deprecated) for old clients",
    "__com.vmd_set-guest-policy": "vmd's extension: the guest model's policy",
    "__com.vmd_query-guest-cpus": "vmd's extension: the guest's own view of its CPUs",
    "__com.vmd_guest-set-cpu-online": "vmd's extension: online/offline from inside the guest",
    "__com.vmd_guest-set-cpu-configured": "vmd's extension (s390x): chcpu -c/-g from inside the guest",
    "__com.vmd_set-vcpus": "vmd's extension: resize to N vCPUs as a job",
    "__com.vmd_query-vcpu-map": "vmd's extension: every possible vCPU, hypervisor and guest views",
    "__com.vmd_query-guest-vcpus": "vmd's extension: the guest's view per vCPU, with its QOM path",
    "__com.vmd_enable-events": "vmd's extension: a session's opt-in events",
    "__com.vmd_SET_VCPUS_COMPLETED": "vmd's extension: the one outcome of a resize job",
    "__com.vmd_GUEST_CPU_STATE": "vmd's extension: the guest onlined or offlined a vCPU",
}

# Where vmd's declared shape knowingly differs from QEMU 7.2's.
KNOWN_DIFFERENCES: dict[str, str] = {
    "query-block": "vmd has no block layer and answers []; BlockInfo keeps QEMU's members, but its "
    "nested image info leaves out what only a block layer fills (format-specific data, snapshots, "
    "backing images, dirty bitmaps)",
    "query-named-block-nodes": "as query-block: BlockDeviceInfo without QEMU's deepest parts",
    "query-blockstats": "vmd has no block layer and answers []; BlockStats without its "
    "driver-specific, parent and backing members",
}


def canonical(schema: dict[str, dict[str, Any]], name: str, seen: frozenset[str] = frozenset()) -> Any:
    """A structural, name-free description of a type, comparable across two schemas."""
    entity = schema[name]
    meta = entity["meta-type"]
    if meta == "builtin":
        return ("builtin", entity["json-type"])
    if meta == "enum":
        # Downstream extension values ("__com.vmd_engine") are vmd's additions by definition:
        # the rest must be QEMU's.
        return ("enum", tuple(sorted(v for v in entity["values"] if not v.startswith("__"))))
    if meta == "array":
        return ("array", canonical(schema, entity["element-type"], seen))
    if name in seen:
        return ("recursive",)
    seen = seen | {name}
    if meta == "alternate":
        return (
            "alternate",
            tuple(sorted(repr(canonical(schema, m["type"], seen)) for m in entity["members"])),
        )
    members = tuple(
        sorted(
            (m["name"], "default" in m, repr(canonical(schema, m["type"], seen))) for m in entity["members"]
        )
    )
    variants = tuple(
        sorted((v["case"], repr(canonical(schema, v["type"], seen))) for v in entity.get("variants", []))
    )
    return ("object", entity.get("tag"), members, variants)


async def fetch_schema(path: str) -> dict[str, dict[str, Any]]:
    async with qmp_client(path) as qmp:
        entities = await qmp.execute("query-qmp-schema")
    assert isinstance(entities, list)
    return {entity["name"]: entity for entity in entities}


def _element(schema: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    entity = schema[name]
    return schema[entity["element-type"]] if entity["meta-type"] == "array" else entity


def compare_schemas(
    vmd_schema: dict[str, dict[str, Any]], qemu_schema: dict[str, dict[str, Any]]
) -> list[str]:
    """What differs between vmd's commands and events and QEMU's of the same names (a name QEMU
    lacks must be in NOT_IN_QEMU_72)."""
    mismatches = []
    for name, entity in vmd_schema.items():
        if entity["meta-type"] not in ("command", "event"):
            continue
        if name not in qemu_schema:
            assert name in NOT_IN_QEMU_72, (
                f"{name} is not a QEMU 7.2 {entity['meta-type']}: say why in NOT_IN_QEMU_72"
            )
            continue
        theirs = qemu_schema[name]
        if name in KNOWN_DIFFERENCES:
            # Still no member QEMU does not have, at the top of the returned type.
            ours_ret, their_ret = (
                _element(s, e["ret-type"]) for s, e in ((vmd_schema, entity), (qemu_schema, theirs))
            )
            assert {m["name"] for m in ours_ret["members"]} <= {m["name"] for m in their_ret["members"]}
            continue
        for key in ("arg-type", "ret-type"):
            if key in entity and canonical(vmd_schema, entity[key]) != canonical(qemu_schema, theirs[key]):
                mismatches.append(f"{name} {key}")
        if entity.get("allow-oob", False) != theirs.get("allow-oob", False):
            mismatches.append(f"{name} allow-oob")
        if sorted(entity.get("features", [])) != sorted(theirs.get("features", [])):
            mismatches.append(f"{name} features {entity.get('features')} vs {theirs.get('features')}")
    return mismatches


async def test_shared_commands_and_events_have_qemus_shapes(peers: Callable[..., Peer]) -> None:
    qemu_schema = await fetch_schema(peers("qemu", "-M", "q35", "-S").socket)
    vmd_schema = await fetch_schema(peers("vmd", "-M", "q35", "-S").socket)
    mismatches = compare_schemas(vmd_schema, qemu_schema)
    assert not mismatches, mismatches


async def test_s390x_commands_and_events_have_qemus_shapes(peers: Callable[..., Peer]) -> None:
    """vmd-system-s390x's schema against qemu-system-s390x's: its own commands (the CPU model
    queries, no cpu-add) and every shared one with QEMU's shape."""
    qemu_schema = await fetch_schema(peers("qemu", "-S", target="s390x").socket)
    vmd_schema = await fetch_schema(peers("vmd", "-S", target="s390x").socket)
    assert not compare_schemas(vmd_schema, qemu_schema)
    commands = {name for name, entity in vmd_schema.items() if entity["meta-type"] == "command"}
    assert {"query-cpu-model-expansion", "query-cpu-model-comparison", "query-cpu-model-baseline"} <= commands
    assert "cpu-add" not in commands
    async with qmp_client(peers("vmd", "-S", target="s390x").socket) as qmp:
        listed = await qmp.execute("query-commands")
    assert isinstance(listed, list)
    assert {c["name"] for c in listed} == commands


async def test_ppc64_commands_and_events_have_qemus_shapes(peers: Callable[..., Peer]) -> None:
    """vmd-system-ppc64's schema against qemu-system-ppc64's: no CPU model queries (7.2's ppc64
    has none), no cpu-add, every shared command with QEMU's shape."""
    qemu_schema = await fetch_schema(peers("qemu", "-S", target="ppc64").socket)
    vmd_schema = await fetch_schema(peers("vmd", "-S", target="ppc64").socket)
    assert not compare_schemas(vmd_schema, qemu_schema)
    commands = {name for name, entity in vmd_schema.items() if entity["meta-type"] == "command"}
    assert not {"query-cpu-model-expansion", "cpu-add"} & commands


async def test_aarch64_commands_and_events_have_qemus_shapes(peers: Callable[..., Peer]) -> None:
    """vmd-system-aarch64's schema against qemu-system-aarch64's (which has no default machine):
    every shared command with QEMU's shape, no cpu-add, no s390x CPU model queries."""
    args = ("-M", "virt", "-S")
    qemu_schema = await fetch_schema(peers("qemu", *args, target="aarch64").socket)
    vmd_schema = await fetch_schema(peers("vmd", *args, target="aarch64").socket)
    assert not compare_schemas(vmd_schema, qemu_schema)
    commands = {name for name, entity in vmd_schema.items() if entity["meta-type"] == "command"}
    assert not {"cpu-add", "query-cpu-model-expansion", "__com.vmd_guest-set-cpu-configured"} & commands


async def test_query_commands_lists_exactly_the_schema_commands(vmd: Peer) -> None:
    async with qmp_client(vmd.socket) as qmp:
        commands = await qmp.execute("query-commands")
        schema = await qmp.execute("query-qmp-schema")
    assert isinstance(commands, list)
    assert isinstance(schema, list)
    assert sorted(c["name"] for c in commands) == sorted(
        e["name"] for e in schema if e["meta-type"] == "command"
    )
