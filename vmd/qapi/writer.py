"""Writes the committed copies of the schema under `schemas/`; a test fails when they drift.

    python -m vmd.qapi.writer          # rewrite schemas/
    python -m vmd.qapi.writer --check  # exit 1 if schemas/ is out of date

`vmd-schema.json` is the readable form (real type names); `query-qmp-schema.json`
is exactly what `query-qmp-schema` returns on the wire (masked names).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vmd.qapi.introspect import build_schema_info
from vmd.qapi.schema import vmd_schema

SCHEMA_DIR = Path(__file__).resolve().parent.parent.parent / "schemas"


def rendered() -> dict[str, str]:
    schema = vmd_schema()
    files = {
        "vmd-schema.json": build_schema_info(schema, mask=False),
        "query-qmp-schema.json": build_schema_info(schema, mask=True),
        "commands.json": sorted(schema.commands),
    }
    return {name: json.dumps(content, indent=2) + "\n" for name, content in files.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only report whether schemas/ is up to date")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR)
    options = parser.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = options.dir / name
        if not path.exists() or path.read_text() != text:
            stale.append(name)
            if not options.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if options.check and stale:
        print(f"schemas/ is out of date ({', '.join(stale)}): run python -m vmd.qapi.writer", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
