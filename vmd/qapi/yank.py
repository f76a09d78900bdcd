"""Yank: forcibly drop a connection that is stuck (the only out-of-band commands of QEMU 7.2 vmd has)."""

from __future__ import annotations

from typing import ClassVar

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct


class YankInstanceType(QapiDeclaredEnum):
    BLOCK_NODE = "block-node"
    CHARDEV = "chardev"
    MIGRATION = "migration"


class YankInstanceBlockNode(QapiStruct):
    node_name: str


class YankInstanceChardev(QapiStruct):
    id: str


class YankInstance(QapiStruct):
    """Something that can be yanked; a flat union on `type` (migration has no members)."""

    qapi_tag: ClassVar[str] = "type"
    qapi_variants: ClassVar[dict[str, type[QapiStruct]]] = {
        "block-node": YankInstanceBlockNode,
        "chardev": YankInstanceChardev,
    }

    type: YankInstanceType


class YankArgs(QapiStruct):
    instances: list[YankInstance]


COMMANDS = (
    CommandSpec(
        "yank",
        "Drop the connections of the listed instances at once (vmd: a monitor chardev's clients).",
        args=YankArgs,
        allow_oob=True,
        allow_preconfig=True,
    ),
    CommandSpec(
        "query-yank",
        "The instances `yank` can act on: one chardev per QMP monitor socket.",
        returns=list[YankInstance],
        allow_oob=True,
        allow_preconfig=True,
    ),
)
