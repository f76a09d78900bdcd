"""Every machine type of each target, by name and alias, in `-machine help` order.

A target is what a vmd binary emulates (`vmd-system-x86_64`, and `vmd` itself, is x86_64); each
lists its boards as the matching qemu-system binary of 7.2 does, `none` last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from vmd.boards.none import none_board
from vmd.errors import StartupError
from vmd.machine.board import Board, UnknownMachineError
from vmd.qapi.compiled import SysEmuTarget


class NoBoards(StartupError):
    def __init__(self, target: SysEmuTarget) -> None:
        super().__init__(f"vmd has no {target.value} machines yet")


@dataclass(frozen=True, eq=False)
class Catalog:
    """One target's boards: `boards` by name in `-machine help` order; `default` is what no -M
    selects."""

    target: SysEmuTarget
    boards: Mapping[str, Board]
    default: Board

    def find(self, name: str | None) -> Board:
        """The board a -machine type names (a name or an alias, case-sensitive); None: the default.

        Raises UnknownMachineError for anything else, the empty string included, as QEMU does.
        """
        if name is None:
            return self.default
        board = self.boards.get(name) or _aliases(self).get(name)
        if board is None:
            raise UnknownMachineError(name)
        return board


@cache
def _aliases(catalog: Catalog) -> Mapping[str, Board]:
    return MappingProxyType({board.alias: board for board in catalog.boards.values() if board.alias})


def _catalog(target: SysEmuTarget, boards: list[Board]) -> Catalog:
    default = next(board for board in boards if board.is_default)
    return Catalog(target, MappingProxyType({board.name: board for board in boards}), default)


def catalog(target: SysEmuTarget = SysEmuTarget.X86_64) -> Catalog:
    """The boards of `target` (imported only when asked: each family's tables cost start-up time)."""
    return _catalog_of(target)


@cache
def _catalog_of(target: SysEmuTarget) -> Catalog:
    if target is SysEmuTarget.X86_64:
        from vmd.boards.x86.cpus import X86
        from vmd.boards.x86.pc import pc_boards

        return _catalog(target, [*pc_boards(), none_board(target, X86)])
    if target is SysEmuTarget.S390X:
        from vmd.boards.s390x.ccw import ccw_boards
        from vmd.boards.s390x.cpus import S390Family

        # QEMU sorts types without a family by name: none-machine first.
        return _catalog(target, [none_board(target, S390Family("none")), *ccw_boards()])
    if target is SysEmuTarget.PPC64:
        from vmd.boards.ppc64.cores import SpaprFamily
        from vmd.boards.ppc64.spapr import spapr_boards

        # QEMU sorts types without a family by name: none before pseries-*.
        return _catalog(target, [none_board(target, SpaprFamily(hotpluggable=False)), *spapr_boards()])
    raise NoBoards(target)


def find_board(name: str | None, target: SysEmuTarget = SysEmuTarget.X86_64) -> Board:
    return catalog(target).find(name)
