"""Every machine type of each target, by name and alias, in `-machine help` order.

A target is what a vmd binary emulates (`vmd-system-x86_64`, and `vmd` itself, is x86_64); each
lists its boards as the matching qemu-system binary of 7.2 does, `none` last.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from vmd.boards.none import none_board
from vmd.errors import StartupError
from vmd.machine.board import Board, UnknownMachineError
from vmd.qapi.compiled import SysEmuTarget
from vmd.records import dataclass


class NoDefaultMachine(StartupError):
    """qemu-system-aarch64 without -M: it has no default machine."""

    def __init__(self) -> None:
        super().__init__(
            "No machine specified, and there is no default\nUse -machine help to list supported machines"
        )


class NoBoards(StartupError):
    def __init__(self, target: SysEmuTarget) -> None:
        super().__init__(f"vmd has no {target.value} machines yet")


@dataclass(frozen=True, eq=False)
class Catalog:
    """One target's boards: `boards` by name in `-machine help` order; `default` is what no -M
    selects."""

    target: SysEmuTarget
    boards: Mapping[str, Board]
    default: Board  # on a target without a default machine, the board whose CPU models it lists
    has_default: bool = True

    def find(self, name: str | None) -> Board:
        """The board a -machine type names (a name or an alias, case-sensitive); None: the default.

        Raises UnknownMachineError for anything else, the empty string included, as QEMU does.
        """
        if name is None:
            if not self.has_default:
                raise NoDefaultMachine()
            return self.default
        board = self.boards.get(name) or _aliases(self).get(name)
        if board is None:
            raise UnknownMachineError(name)
        return board


@cache
def _aliases(catalog: Catalog) -> Mapping[str, Board]:
    return MappingProxyType({board.alias: board for board in catalog.boards.values() if board.alias})


def _catalog(target: SysEmuTarget, boards: list[Board], listed: Board | None = None) -> Catalog:
    """`listed`: on a target with no default machine, the board that stands for it in listings."""
    default = listed or next(board for board in boards if board.is_default)
    by_name = MappingProxyType({board.name: board for board in boards})
    return Catalog(target, by_name, default, has_default=listed is None)


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
    if target is SysEmuTarget.AARCH64:
        from vmd.boards.arm.cpus import ArmFamily
        from vmd.boards.arm.virt import virt_boards

        boards = [none_board(target, ArmFamily()), *virt_boards()]
        # QEMU sorts types without a family by name: none-machine first.  No default machine.
        return _catalog(target, boards, listed=next(b for b in boards if b.alias == "virt"))
    raise NoBoards(target)


def find_board(name: str | None, target: SysEmuTarget = SysEmuTarget.X86_64) -> Board:
    return catalog(target).find(name)
