"""The house stays standing: vmd's rooms import each other one way only, and no module imports itself
back through others.

Read with `ast` from the sources, run-time imports only (what `if TYPE_CHECKING:` imports is for
annotations and never loads).  The order, top to bottom:

    __main__, topics -> daemon -> handlers, cli -> boards -> guest -> qmp, machine
    -> qapi, devices -> json, firmware, vcpu, config, syntax, errors, version

hmp, the human monitor's parser and formats, sits between handlers and cli: the handlers run
what it parses, and it reuses cli's QemuOpts and listings; like cli, it knows no machine.  And
testing (vmd.testing, for other projects' tests) stands apart: it imports none of them, none
imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import vmd

VMD = Path(vmd.__file__).parent

# room -> the rooms it must not import (a room is a package under vmd/, or a top-level module)
FORBIDDEN: dict[str, frozenset[str]] = {
    "machine": frozenset({"boards", "guest", "qmp", "handlers", "cli", "daemon", "topics"}),
    "qmp": frozenset({"handlers", "machine", "boards", "guest", "cli", "daemon", "topics"}),
    "handlers": frozenset({"qmp", "cli", "daemon", "topics"}),
    "cli": frozenset({"machine", "boards", "guest", "handlers", "hmp", "qmp", "daemon", "devices", "topics"}),
    "hmp": frozenset({"machine", "boards", "guest", "handlers", "qmp", "daemon", "devices", "topics"}),
    "boards": frozenset({"handlers", "qmp", "cli", "daemon", "topics"}),
    "guest": frozenset({"boards", "qmp", "handlers", "cli", "daemon", "topics"}),
    "qapi": frozenset({"machine", "boards", "guest", "qmp", "handlers", "cli", "daemon", "devices"}),
    "devices": frozenset({"machine", "boards", "guest", "qmp", "handlers", "cli", "daemon"}),
    "daemon": frozenset({"topics"}),
}
LOWEST = (
    "json", "firmware", "vcpu", "config", "syntax", "errors", "version", "pidfile",
    "records", "records_cache",
)  # fmt: skip
for _room in LOWEST:
    FORBIDDEN[_room] = frozenset(
        {"machine", "boards", "guest", "qmp", "handlers", "cli", "daemon", "devices", "topics"}
    )
# The one part of the machine model the guest reaches: the hotplug controllers it speaks to.
GUEST_MAY_REACH = ("vmd.machine.hotplug",)


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(VMD.rglob("*.py")):
        parts = path.relative_to(VMD.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


MODULES = dict(_modules())


def _runtime_imports(path: Path, module: str) -> list[str]:
    """The vmd modules `path` imports when it runs.  `from pkg import sub` names the module `sub`
    (the package's __init__ has run before anything in the package, so it is no edge)."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[str] = []

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    package = module.split(".")
                    if path.name != "__init__.py":
                        package = package[:-1]
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join([*package, *([base] if base else [])])
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    found.append(submodule if submodule in MODULES else base)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child])

    visit(tree.body)
    return [name for name in found if name == "vmd" or name.startswith("vmd.")]


def _existing(name: str) -> str | None:
    """The module an import names (a `from pkg import module` names the module itself)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {_existing(imported) for imported in _runtime_imports(path, name)}
        edges[name] = {target for target in targets if target is not None and target != name}
    return edges


# vmd.testing (the test launcher and pytest plugin) starts vmd as a process of its own: it imports
# nothing of the daemon, and nothing of the daemon imports it.
_ROOMS = {room(name) for name in MODULES} - {"vmd"}
FORBIDDEN["testing"] = frozenset(_ROOMS - {"testing"})
for _room in _ROOMS - {"testing"}:
    FORBIDDEN[_room] = FORBIDDEN.get(_room, frozenset()) | {"testing"}

EDGES = graph()


@pytest.mark.parametrize("module", sorted(EDGES), ids=str)
def test_imports_run_one_way(module: str) -> None:
    own = room(module)
    forbidden = FORBIDDEN.get(own, frozenset())
    strangers = sorted(
        target
        for target in EDGES[module]
        if room(target) in forbidden and not (own == "guest" and target.startswith(GUEST_MAY_REACH))
    )
    assert strangers == [], f"{module} imports {strangers}"


def test_the_guest_reaches_only_the_hotplug_controllers_of_the_machine() -> None:
    for module, targets in EDGES.items():
        if room(module) == "guest":
            reached = [t for t in targets if room(t) == "machine" and not t.startswith(GUEST_MAY_REACH)]
            assert reached == [], module


def test_no_import_cycles() -> None:
    """Depth-first search over the run-time import graph (a package's __init__ counts as a module)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(EDGES.get(module, ())):
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(EDGES):
        if module not in state:
            visit(module)


def test_the_layering_test_sees_the_whole_package() -> None:
    assert {"vmd.machine.vm", "vmd.boards.x86.pc", "vmd.qmp.session", "vmd.guest.os_model"} <= set(EDGES)
    # and a forbidden import is found (a check that cannot fail proves nothing)
    assert "vmd.machine.hotplug.acpi_cpu" in EDGES["vmd.guest.acpi_ospm"]
