"""The ppc64 CPU models: what -cpu takes, `-cpu help` lists and query-cpu-definitions reports, and
which of them a pseries machine can build cores of.

The tables are QEMU 7.2's (vmd.boards.ppc64.cpu_data, generated from the binary).  -cpu resolves
a name as ppc_cpu_class_by_name does: case-insensitively, through the alias table, then as a
model; `max` is the newest model pseries builds by default (POWER9).  query-cpu-definitions is
QEMU's verbatim, the empty typenames of its model entries included (QEMU 7.2 reports the model
rows of its alias table with `"typename": ""`; clients read the alias rows, which are right).

A pseries core type exists for 13 models only (QEMU's `<model>-spapr-cpu-core`); a machine whose
-cpu has none fails to start with QEMU's text.  SMT under TCG needs POWER8 or newer (QEMU >= 8.1).
"""

from __future__ import annotations

from functools import cache

from vmd.boards.ppc64.cpu_data import DEFINITIONS, HELP
from vmd.machine.cpu_catalog import CpuCatalog, CpuModel

THREAD_SUFFIX = "-powerpc64-cpu"  # a model's thread (CPU) type
CORE_SUFFIX = "-spapr-cpu-core"  # a model's pseries core type
ABSTRACT_CPU = "powerpc64-cpu"

# The models a pseries machine builds cores of (qom-list-types implements spapr-cpu-core).
CORE_MODELS = (
    "970_v2.2", "970mp_v1.0", "970mp_v1.1", "power5+_v2.1", "power7_v2.3", "power7+_v2.1",
    "power8_v2.0", "power8e_v2.1", "power8nvl_v1.0", "power9_v1.0", "power9_v2.0", "power10_v1.0",
    "power10_v2.0",
)  # fmt: skip
# ISA 2.07 (POWER8) and later: where QEMU's TCG runs more than one thread per core.
SMT_MODELS = frozenset(m for m in CORE_MODELS if m.startswith(("power8", "power9", "power10")))
# The interrupt controller in ic-mode=dual is XIVE-capable only from POWER9 (ISA 3.00) on.
XIVE_MODELS = frozenset(m for m in CORE_MODELS if m.startswith(("power9", "power10")))

_ALIAS_PREFIX = "(alias for "
_MAX = "power9_v2.0"


def _aliases() -> dict[str, str]:
    return {name: text[len(_ALIAS_PREFIX) : -1] for name, text in HELP if text.startswith(_ALIAS_PREFIX)}


def model_name(typename: str) -> str:
    return typename.removesuffix(THREAD_SUFFIX)


def core_type(cpu_type: str) -> str:
    """The pseries core type of a thread type (spapr_get_cpu_core_type)."""
    return model_name(cpu_type) + CORE_SUFFIX


class PpcCatalog(CpuCatalog):
    """QEMU's ppc64 tables, with -cpu's lookup: any case, aliases (one level or more), models."""

    def __init__(self) -> None:
        aliases = _aliases()
        models = [
            CpuModel(
                name=name,
                typename=typename,
                alias_of=None,
                static=False,
                migration_safe=None,
                deprecated=False,
                description="",
                unavailable_features=None,
                qom_parent=ABSTRACT_CPU,
            )
            for name, typename in DEFINITIONS
        ]
        help_rows = [
            CpuModel(name, "", None, False, None, False, text, None, ABSTRACT_CPU) for name, text in HELP
        ]
        super().__init__(models, help_rows, show_aliases=False, help_prefix="PowerPC", help_style="ppc")
        self._aliases = aliases
        self._model_names = frozenset(name for name, text in HELP if not text.startswith(_ALIAS_PREFIX))

    def resolve(self, name: str) -> str | None:
        """The model -cpu `name` selects, or None (ppc_cpu_class_by_name)."""
        wanted = name.lower()
        if wanted == "max":
            return _MAX
        for _ in range(8):  # aliases of aliases; QEMU's table has no loops
            target = self._aliases.get(wanted)
            if target is None:
                break
            wanted = target.lower()
        return wanted if wanted in self._model_names else None

    def find(self, name: str) -> CpuModel | None:
        model = self.resolve(name)
        if model is None:
            return None
        return CpuModel(model, model + THREAD_SUFFIX, None, False, None, False, "", None, ABSTRACT_CPU)

    def model_of_type(self, typename: str) -> str | None:
        model = model_name(typename)
        return model if model in self._model_names else None

    def typenames(self) -> frozenset[str]:
        return frozenset(name + THREAD_SUFFIX for name in self._model_names)


@cache
def catalog() -> PpcCatalog:
    return PpcCatalog()
