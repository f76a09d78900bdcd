"""The command line knows options, not boards: vmd/cli/ imports no part of the VM model.

The checks the machine makes of an -object come in as a callback (`check_object`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vmd.cli

VMD = Path(vmd.cli.__file__).parent.parent
# What vmd/cli/ may import from vmd: itself, the frozen Config, the scalar syntaxes, the
# JSON dialect, the version, the start-up error family, and vmd.records (its dataclass).
ALLOWED = ("vmd.cli", "vmd.config", "vmd.syntax", "vmd.json", "vmd.version", "vmd.errors", "vmd.records")


def _vmd_imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.append(node.module)
    return [name for name in found if name == "vmd" or name.startswith("vmd.")]


@pytest.mark.parametrize("path", sorted((VMD / "cli").glob("*.py")), ids=lambda path: path.name)
def test_cli_imports_only_what_lies_below_it(path: Path) -> None:
    strangers = [name for name in _vmd_imports(path) if not name.startswith(ALLOWED)]
    assert strangers == []


def test_syntax_stands_alone() -> None:
    assert _vmd_imports(VMD / "syntax.py") == []


def test_the_package_exports_the_interface_only() -> None:
    assert sorted(vmd.cli.__all__) == [
        "CommandLineError",
        "EarlyExit",
        "HelpTopic",
        "TARGETS",  # and Target: which command line, for main()
        "Target",
        "parse_command_line",
        "usage_text",
        "version_text",
    ]
