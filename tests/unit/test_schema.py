"""One schema: the registry, the handlers and the committed schemas/ files must agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pytest

from vmd.errors import GenericError
from vmd.handlers.table import all_handlers
from vmd.qapi import writer
from vmd.qapi.compiled import SCHEMA, SCHEMA_INFO_JSON
from vmd.qapi.declared import declared_members, members_of
from vmd.qapi.introspect import build_schema_info
from vmd.qapi.registry import DEFAULT_TARGET, TARGETS, CommandSpec, EventSpec, Schema
from vmd.qapi.schema import declared_schema
from vmd.qapi.typeinfo import StructType
from vmd.qapi.types import Int32, OnlyOn, QapiStruct, UInt32
from vmd.qapi.visitor import visit_no_arguments, visit_struct


def test_generated_files_match_the_declarations() -> None:
    for name, text in writer.rendered().items():
        committed = (writer.ROOT / name).read_text()
        assert committed == text, f"{name} drifted from the declarations: run python -m vmd.qapi.writer"


def test_every_command_has_a_handler_and_every_handler_a_command() -> None:
    assert set(all_handlers()) == set(declared_schema().commands) == set(SCHEMA.commands)


def test_runtime_schema_has_the_declared_shapes() -> None:
    declared = declared_schema()
    for name, command in SCHEMA.commands.items():
        source = declared.commands[name]
        for runtime_type, declared_type in ((command.args, source.args),):
            if declared_type is None:
                assert runtime_type is None
                continue
            assert runtime_type is not None
            assert [(m.wire_name, m.optional) for m in members_of(runtime_type)] == [
                (m.wire_name, m.optional) for m in members_of(declared_type)
            ]
        assert (command.allow_oob, command.negotiation, command.features) == (
            source.allow_oob,
            source.negotiation,
            source.features,
        )


def test_daemon_runtime_does_not_import_pydantic() -> None:
    import subprocess
    import sys

    probe = "import sys, vmd.daemon, vmd.__main__; print('pydantic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", "start-up must not pay for pydantic: use vmd.qapi.compiled"


def test_introspection_is_self_consistent() -> None:
    entities = build_schema_info(declared_schema())
    names = [e["name"] for e in entities]
    assert len(names) == len(set(names)), "an entity is described twice"
    known = set(names)
    for entity in entities:
        for key in ("arg-type", "ret-type", "element-type"):
            if key in entity:
                assert entity[key] in known, (entity, key)
        for member in entity.get("members", []):
            if "type" in member:
                assert member["type"] in known, (entity, member)
        for variant in entity.get("variants", []):
            assert variant["type"] in known
    # Masked names are decimal strings; builtins and arrays keep their shape.
    for entity in entities:
        if entity["meta-type"] in ("object", "enum", "alternate"):
            assert entity["name"].isdigit()


def test_masked_and_readable_schemas_have_the_same_shape() -> None:
    masked = build_schema_info(declared_schema(), mask=True)
    readable = build_schema_info(declared_schema(), mask=False)
    assert [e["meta-type"] for e in masked] == [e["meta-type"] for e in readable]
    assert json.dumps(readable).count('"members"') == json.dumps(masked).count('"members"')


class Props(QapiStruct):
    socket_id: Int32 | None = None
    apic_id: UInt32 | None = None
    node_name: str


# The runtime visitor reads a struct's members where generated classes carry them.
type.__setattr__(Props, "__qapi_members__", declared_members(Props))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Parameter 'node-name' is missing"),
        ({"node-name": 1}, "Invalid parameter type for 'node-name', expected: string"),
        ({"node-name": "a", "socket-id": "1"}, "Invalid parameter type for 'socket-id', expected: integer"),
        ({"node-name": "a", "socket-id": True}, "Invalid parameter type for 'socket-id', expected: integer"),
        ({"node-name": "a", "socket-id": 2**31}, "Parameter 'socket-id' expects int32_t"),
        ({"node-name": "a", "apic-id": -1}, "Parameter 'apic-id' expects uint32_t"),
        # QEMU's uint64 visitor says this of any unsigned member's bad value (checked on 7.2).
        ({"node-name": "a", "apic-id": 2**64}, "Parameter 'apic-id' expects uint64"),
        ({"node-name": "a", "apic-id": "1"}, "Parameter 'apic-id' expects uint64"),
        ({"node-name": "a", "x": 1}, "Parameter 'x' is unexpected"),
        ({"x": 1}, "Parameter 'node-name' is missing"),
        ({"node-name": None}, "Invalid parameter type for 'node-name', expected: string"),
    ],
)
def test_visitor_reports_the_first_error_in_qemu_order(data: dict[str, object], message: str) -> None:
    with pytest.raises(GenericError) as caught:
        visit_struct(Props, data)
    assert caught.value.desc == message


def test_visitor_builds_models_with_absent_optionals() -> None:
    props = visit_struct(Props, {"node-name": "n", "socket-id": 1})
    assert props.to_wire() == {"socket-id": 1, "node-name": "n"}


def test_commands_without_arguments_reject_any() -> None:
    visit_no_arguments({})
    with pytest.raises(GenericError, match="Parameter 'x' is unexpected"):
        visit_no_arguments({"x": 1})


def test_every_declared_struct_is_describable() -> None:
    for command in declared_schema().commands.values():
        if command.args is not None:
            assert members_of(command.args) is not None
    assert StructType(Props) == StructType(Props)


class Guest(QapiStruct):
    present: str
    configured: Annotated[str | None, OnlyOn("s390x")] = None


def test_a_target_schema_has_its_own_commands_and_members() -> None:
    """QAPI's 'if': a command, event or member declared for some targets is in their schemas only."""
    schema = Schema.build(
        [
            CommandSpec("everywhere", "", returns=Guest),
            CommandSpec("only-s390x", "", targets=("s390x",)),
        ],
        [EventSpec("ONLY_PPC", "", targets=("ppc64",))],
    )
    x86 = build_schema_info(schema, mask=False, target="x86_64")
    s390x = build_schema_info(schema, mask=False, target="s390x")
    ppc64 = build_schema_info(schema, mask=False, target="ppc64")
    names = [
        [e["name"] for e in info if e["meta-type"] in ("command", "event")] for info in (x86, s390x, ppc64)
    ]
    assert names == [["everywhere"], ["everywhere", "only-s390x"], ["everywhere", "ONLY_PPC"]]

    def members(info: list[dict[str, Any]]) -> list[str]:
        return [m["name"] for m in next(e for e in info if e["name"] == "Guest")["members"]]

    assert members(x86) == members(ppc64) == ["present"]
    assert members(s390x) == ["present", "configured"]


def test_every_target_schema_is_generated_and_x86_64_is_vmds() -> None:
    """schemas/ is x86_64's (plain `vmd`); the daemon of each target serves its own document."""
    files = writer.rendered()
    for target in TARGETS:
        directory = Path("schemas") if target == DEFAULT_TARGET else Path("schemas") / target
        info = json.loads(files[directory / "query-qmp-schema.json"])
        assert info == json.loads(SCHEMA_INFO_JSON[target])
        commands = {e["name"] for e in info if e["meta-type"] == "command"}
        assert commands == set(SCHEMA.for_target(target).commands)
    x86 = set(SCHEMA.for_target("x86_64").commands)
    s390x = set(SCHEMA.for_target("s390x").commands)
    assert "cpu-add" in x86 - s390x  # vmd keeps cpu-add for old x86 clients only
