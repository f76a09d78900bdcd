"""Writes the committed copies of the schema under `schemas/`; a test fails when they drift.

    python -m vmd.qapi.writer          # rewrite schemas/
    python -m vmd.qapi.writer --check  # exit 1 if schemas/ is out of date

Outputs: `vmd/qapi/compiled.py`, the runtime form of the schema the daemon
imports; `schemas/vmd-schema.json`, the readable introspection (real type
names); `schemas/query-qmp-schema.json`, exactly what `query-qmp-schema`
returns on the wire (masked names); `schemas/commands.json`.  Those three are
x86_64's (what `vmd` is); each other target's are in `schemas/<target>/`; the guest
agent's commands (its own schema, no introspection) in `schemas/qga/commands.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vmd.qapi.codegen import generate
from vmd.qapi.introspect import build_schema_info
from vmd.qapi.registry import DEFAULT_TARGET, TARGETS
from vmd.qapi.schema import declared_agent_schema, declared_schema

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMA_DIR = ROOT / "schemas"
COMPILED = Path("vmd") / "qapi" / "compiled.py"


def rendered() -> dict[Path, str]:
    """Every generated file, by path relative to the repository root."""
    schema = declared_schema()
    files = {}
    for target in TARGETS:
        directory = Path("schemas") if target == DEFAULT_TARGET else Path("schemas") / target
        documents = {
            "vmd-schema.json": build_schema_info(schema, mask=False, target=target),
            "query-qmp-schema.json": build_schema_info(schema, mask=True, target=target),
            "commands.json": sorted(schema.for_target(target).commands),
        }
        for name, content in documents.items():
            files[directory / name] = json.dumps(content, indent=2) + "\n"
    agent = declared_agent_schema()
    files[Path("schemas") / "qga" / "commands.json"] = json.dumps(list(agent.commands), indent=2) + "\n"
    files[COMPILED] = generate(schema, agent)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report whether schemas/ is up to date")
    parser.add_argument("--root", type=Path, default=ROOT, help="write under this directory")
    options = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = options.root / name
        if not path.exists() or path.read_text() != text:
            stale.append(name)
            if not options.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if options.check and stale:
        names = ", ".join(str(name) for name in stale)
        print(f"generated files are out of date ({names}): run python -m vmd.qapi.writer", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
