"""CPU models as a board offers them: what -cpu takes, `-cpu help` lists and query-cpu-definitions
reports.  The models themselves are the board family's data (vmd/boards/<family>/cpu_models.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from vmd.records import dataclass


@dataclass(frozen=True, slots=True)
class CpuModel:
    """One entry of query-cpu-definitions, plus the text `-cpu help` prints after its name.

    `description` is that text exactly, including QEMU's "(alias configured by machine type)" or
    "(alias of X)" for aliases, and its odd spacing.  `typename` is the model's QOM type.
    """

    name: str
    typename: str
    alias_of: str | None
    static: bool
    migration_safe: bool | None  # None: the target's query-cpu-definitions has no such member (ppc64)
    deprecated: bool
    description: str
    unavailable_features: tuple[str, ...] | None  # None: not reported (ppc64)
    qom_parent: str  # the abstract CPU type of the target (x86_64-cpu), or the model it derives from


class CpuCatalog:
    """The models of one board: by name in query-cpu-definitions order, and in `-cpu help` order.

    `show_aliases`: whether query-cpu-definitions reports alias-of on this board (x86 types from
    4.1 on resolve an unversioned name to its -v1; older ones keep the legacy models).
    `help_style` names the target's `-cpu help` layout (x86: the CPUID flags wrapped after the
    models; s390x: `help_sections`, titled lists of (name, description); arm: the names alone)."""

    def __init__(
        self,
        models: Sequence[CpuModel],
        help_order: Sequence[CpuModel],
        *,
        show_aliases: bool,
        help_prefix: str,
        help_flags: Sequence[str] = (),
        help_style: str = "x86",
        help_sections: Sequence[tuple[str, Sequence[tuple[str, str]]]] = (),
        reports_cpu_features: bool = True,
    ) -> None:
        self.models: Mapping[str, CpuModel] = MappingProxyType({model.name: model for model in models})
        self.help_order = tuple(help_order)
        self.show_aliases = show_aliases
        # `-cpu help`: the architecture word before each model, and the feature flags listed after.
        self.help_prefix = help_prefix
        self.help_flags = tuple(help_flags)
        self.help_style = help_style
        self.help_sections = tuple((title, tuple(lines)) for title, lines in help_sections)
        # Whether query-cpu-definitions has migration-safe and unavailable-features (ARM's has
        # neither in 7.2).
        self.reports_cpu_features = reports_cpu_features
        self._by_type = {model.typename: model for model in models}

    def find(self, name: str) -> CpuModel | None:
        """The model -cpu `name` selects (case-sensitive), or None."""
        return self.models.get(name)

    def model_of_type(self, typename: str) -> str | None:
        model = self._by_type.get(typename)
        return None if model is None else model.name

    def typenames(self) -> frozenset[str]:
        return frozenset(self._by_type)
