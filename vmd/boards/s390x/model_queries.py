"""query-cpu-model-expansion, -comparison and -baseline as qemu-system-s390x 7.2 answers them
(target/s390x/cpu_models_sysemu.c), on the models of one machine type.

A model in a query is a name and optional props: the CPU type of that name is created, each prop
set through its setter in the order QEMU's QDict iterates them (vmd.machine.qdev.opts), and its
S390CPUModel taken.  The answers: expansion falls back to the definition's static `-base` model
and lists the features as props (static: only what differs from the base; full: every feature
and group, on or off); comparison weighs the generations and the feature sets; baseline takes
the features both have and the newest definition (of the older generation) whose base they
cover.  Feature lists are QEMU's s390_feat_bitmap_to_ascii: whole groups first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vmd.boards.s390x import model_props
from vmd.boards.s390x.cpu_models import (
    ALL_FEATURES,
    DEFS,
    FEATURE_BIT,
    TYPE_SUFFIX,
    Definition,
    S390Model,
    feature_names,
)
from vmd.errors import GenericError
from vmd.machine.qdev.opts import property_order
from vmd.machine.qdev.props import parse_value
from vmd.records import dataclass

# Base features that do not count when baseline looks for a definition (ignored_base_feat: MSA
# subfunctions some machines lack, and CSSKE, deprecated from generation 15 on).
_IGNORED_BASE_FEATURES = sum(
    1 << FEATURE_BIT[name]
    for name in (
        "kmac-dea", "kmac-tdea-128", "kmac-tdea-192", "kmc-dea", "kmc-tdea-128", "kmc-tdea-192",
        "km-dea", "km-tdea-128", "km-tdea-192", "kimd-sha-1", "klmd-sha-1", "csske",
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """QAPI's CpuModelInfo: a model name and, when there are any, its props."""

    name: str
    props: dict[str, bool] | None = None


def model_from_info(
    models: Mapping[str, S390Model], name: str, props: object, props_given: bool
) -> S390Model:
    """cpu_model_from_info: the model of CPU type `name`, with `props` set (an object of property
    values; `props_given` False when the member was absent)."""
    model = models.get(name)
    if model is None:
        raise GenericError(f"The CPU definition '{name}' is unknown.")
    if not props_given:
        return model
    if not isinstance(props, dict):
        raise GenericError("Invalid parameter type for 'props', expected: dict")
    typename = name + TYPE_SUFFIX
    for key in property_order(props):
        spec = model_props.property_spec(model, key)
        if spec is None:
            raise GenericError(f"Property '{typename}.{key}' not found")
        value = parse_value(typename, key, spec, props[key], keyval=False)
        if model_props.is_feature_property(key):
            assert isinstance(value, bool)
            model = model_props.set_feature(model, key, value)
    return model


def _info(model: S390Model, delta: bool) -> ModelInfo:
    """cpu_info_from_model: the static base model, with the features as props."""
    definition = model.definition
    props: dict[str, bool] = {}
    if delta:
        for name in feature_names(definition.base & ~model.features):
            props[name] = False
        for name in feature_names(model.features & ~definition.base):
            props[name] = True
    else:
        for name in feature_names(model.features):
            props[name] = True
        for name in feature_names(ALL_FEATURES & ~model.features):
            props[name] = False
    return ModelInfo(f"{definition.name}-base", props or None)


def expansion(model: S390Model, kind: str) -> ModelInfo:
    """query-cpu-model-expansion of type `kind` ("static" or "full")."""
    return _info(model, delta=kind == "static")


def comparison(a: S390Model, b: S390Model) -> tuple[str, list[str]]:
    """query-cpu-model-comparison: (result, responsible-properties)."""
    responsible: list[str] = []
    da, db = a.definition, b.definition
    if (da.gen, da.ec_ga) == (db.gen, db.ec_ga):
        gen_result = "identical"
    elif (da.gen, da.ec_ga) < (db.gen, db.ec_ga):
        gen_result = "subset"
    else:
        gen_result = "superset"
    if gen_result != "identical":
        responsible.insert(0, "type")  # QEMU prepends every name to the list
    if a.features == b.features:
        feat_result = "identical"
    else:
        missing, added = a.features & ~b.features, b.features & ~a.features
        for name in (*feature_names(missing), *feature_names(added)):
            responsible.insert(0, name)
        if not missing:
            feat_result = "subset"
        elif not added:
            feat_result = "superset"
        else:
            feat_result = "incompatible"
    if gen_result == feat_result or feat_result == "identical":
        result = gen_result
    elif gen_result == "identical":
        result = feat_result
    else:
        result = "incompatible"
    return result, responsible


def gen_for_cpu_type(cpu_type: int) -> int:
    return next((d.gen for d in DEFS if d.cpu_type == cpu_type), 0)


def find_definition(cpu_type: int, gen: int, ec_ga: int, features: int | None) -> Definition | None:
    """s390_find_cpu_def: the definition of this CPU type and GA level, or the newest one up to
    that generation whose base features `features` cover (preferring the same CPU type)."""
    if not gen:
        ec_ga = 0
    if not gen and cpu_type:
        gen = gen_for_cpu_type(cpu_type)
    last_compatible = matching_type = None
    for definition in DEFS:
        if gen and (definition.gen > gen or (definition.gen == gen and ec_ga and definition.ec_ga > ec_ga)):
            break
        if features is not None and definition.base & ~features & ~_IGNORED_BASE_FEATURES:
            break
        if definition.cpu_type == cpu_type and definition.ec_ga == ec_ga:
            return definition
        if definition.cpu_type == cpu_type:
            matching_type = definition
        last_compatible = definition
    return matching_type if matching_type is not None else last_compatible


def baseline(a: S390Model, b: S390Model) -> ModelInfo:
    """query-cpu-model-baseline: what both models can run, as a static model."""
    features = a.features & b.features
    da, db = a.definition, b.definition
    if da.gen == db.gen:
        cpu_type = da.cpu_type if da.cpu_type == db.cpu_type else 0
        gen, ec_ga = da.gen, min(da.ec_ga, db.ec_ga)
    elif da.gen > db.gen:
        cpu_type, gen, ec_ga = db.cpu_type, db.gen, db.ec_ga
    else:
        cpu_type, gen, ec_ga = da.cpu_type, da.gen, da.ec_ga
    definition = find_definition(cpu_type, gen, ec_ga, features)
    if definition is None:
        raise GenericError("No compatible CPU model could be created as important base features are disabled")
    return _info(S390Model(definition, features & definition.full), delta=True)


def wire(info: ModelInfo) -> dict[str, Any]:
    return {"name": info.name} if info.props is None else {"name": info.name, "props": info.props}
