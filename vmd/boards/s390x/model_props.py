"""An s390x CPU's properties as QEMU 7.2's setters take them: its features and feature groups,
and the few other properties every s390x CPU type has.

The same setters serve `-cpu MODEL,key=value` (global properties of the model's type),
`device_add`'s properties and the `props` of query-cpu-model-expansion, -comparison and
-baseline (target/s390x/cpu_models.c set_feature and set_feature_group): turning a feature on is
refused when the model's definition does not have it at all ("it was introduced with later
models"); a group turns on when it shares a feature with the definition, and then all of it;
turning off is always allowed.  Properties are set one at a time, in the order given, so a later
one overrides an earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from vmd.boards.s390x.cpu_models import FEATURE_BIT, FEATURES, GROUP_MASK, GROUPS, S390Model
from vmd.errors import GenericError
from vmd.machine.qdev.props import PropertyKind, PropertySpec, PropertyValue

# The properties of every s390x CPU type besides its features and groups (qom-list of a CPU,
# qemu-system-s390x 7.2), with the kind their setter takes.  `realized` is left out: vmd does
# not realize a CPU through a property.
OTHER_PROPERTIES: dict[str, PropertyKind] = {
    "type": PropertyKind.READ_ONLY,
    "parent_bus": PropertyKind.READ_ONLY,
    "hotplugged": PropertyKind.READ_ONLY,
    "hotpluggable": PropertyKind.READ_ONLY,
    "memory": PropertyKind.LINK,
    "start-powered-off": PropertyKind.BOOL,
    "legacy-memory": PropertyKind.READ_ONLY,
    "static": PropertyKind.READ_ONLY,
    "migration-safe": PropertyKind.READ_ONLY,
    "description": PropertyKind.READ_ONLY,
    "core-id": PropertyKind.UINT32,
    "crash-information": PropertyKind.READ_ONLY,
}

FEATURE_DESCRIPTIONS = dict(FEATURES)
GROUP_DESCRIPTIONS = {name: text for name, text, _ in GROUPS}


def is_feature_property(name: str) -> bool:
    """Whether `name` is one of the bool properties a feature or a group has."""
    return name in FEATURE_BIT or name in GROUP_MASK


def property_spec(model: S390Model, name: str) -> PropertySpec | None:
    """The property `name` of a CPU of `model` (None: no such property), its setter's own check
    refusing what the definition cannot turn on."""
    if name in FEATURE_BIT or name in GROUP_MASK:

        def check(prop: str, value: PropertyValue) -> None:
            if value is True:
                set_feature(model, prop, True)

        return PropertySpec(PropertyKind.BOOL, check)
    kind = OTHER_PROPERTIES.get(name)
    return None if kind is None else PropertySpec(kind)


def set_feature(model: S390Model, name: str, value: bool) -> S390Model:
    """`model` with feature or group `name` turned on or off (set_feature, set_feature_group)."""
    definition = model.definition
    bit = FEATURE_BIT.get(name)
    if bit is not None:
        mask = 1 << bit
        if value and not definition.full & mask:
            raise GenericError(
                f"Feature '{name}' is not available for CPU model '{definition.name}', "
                "it was introduced with later models."
            )
    else:
        mask = GROUP_MASK[name]
        if value and not definition.full & mask:
            raise GenericError(
                f"Group '{name}' is not available for CPU model '{definition.name}', "
                "it was introduced with later models."
            )
    features = model.features | mask if value else model.features & ~mask
    return replace(model, features=features)


def apply(model: S390Model, values: Iterable[tuple[str, PropertyValue]]) -> S390Model:
    """`model` after these parsed property values, in order (properties that are not features
    change nothing of the model)."""
    for name, value in values:
        if is_feature_property(name):
            assert isinstance(value, bool)
            model = set_feature(model, name, value)
    return model
