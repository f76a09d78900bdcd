"""Where an s390x CPU goes, and whether it may: QEMU 7.2's s390_cpu_realizefn, in its order.

After its properties are set (step 6; a feature the model's definition lacks is refused there),
the CPU's model is checked as s390_realize_cpu_model does: the feature dependencies are warned
about, a model newer than TCG or with features TCG lacks is refused, and so is any model (its
definition or its features) other than the one the machine's CPUs already have ("Mixed CPU
models").  Then core-id, the only address an s390x CPU has, picks the slot: within maxcpus, and
free.  The same model checks refuse a -cpu at start-up.  Every string here was checked against
qemu-system-s390x 7.2 (tests/integration/test_s390x_vs_qemu.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Mapping, Sequence
from types import MappingProxyType

from vmd.boards.s390x import model_props
from vmd.boards.s390x.cpu_models import (
    FEATURE_BIT,
    REQUIRES,
    TYPE_SUFFIX,
    S390Model,
    feature_names,
    max_model,
)
from vmd.errors import GenericError
from vmd.machine.qdev.opts import DeviceRequest
from vmd.machine.qdev.props import PropertySpec, PropertyValue
from vmd.machine.qdev.target import DeviceKind, ResolvedCpu
from vmd.machine.topology import Topology

log = logging.getLogger(__name__)

MIXED_MODELS = "Mixed CPU models are not supported on s390x."
_REQUIRES = tuple((a, b, 1 << FEATURE_BIT[a], 1 << FEATURE_BIT[b]) for a, b in REQUIRES)


def consistency_warnings(model: S390Model) -> list[str]:
    """check_consistency: each feature on whose required feature is off, in QEMU's order."""
    features = model.features
    return [
        f"'{a}' requires '{b}'."
        for a, b, bit_a, bit_b in _REQUIRES
        if features & bit_a and not features & bit_b
    ]


def check_compatibility(model: S390Model) -> None:
    """check_compatibility against what TCG offers (GenericError with QEMU's text)."""
    limit = max_model()
    ours, theirs = model.definition, limit.definition
    if ours.gen > theirs.gen:
        raise GenericError(
            "Selected CPU generation is too new. Maximum supported model in the configuration: "
            f"'{theirs.name}'"
        )
    if ours.gen == theirs.gen and ours.ec_ga > theirs.ec_ga:
        raise GenericError(
            f"Selected CPU GA level is too new. Maximum supported model in the configuration: '{theirs.name}'"
        )
    missing = model.features & ~limit.features
    if missing:
        # error_prepend of "name " for each feature, on an error that was " ": the names come out
        # in reverse, each followed by a space, and one more space at the end.
        names = "".join(f"{name} " for name in reversed(feature_names(missing)))
        raise GenericError(
            f"Some features requested in the CPU model are not available in the configuration: {names} "
        )


def realize_model(model: S390Model, warn: Callable[[str], None]) -> None:
    """s390_realize_cpu_model up to apply_cpu_model: warnings, then the compatibility check."""
    for warning in consistency_warnings(model):
        warn(warning)
    check_compatibility(model)


def parse_globals(
    model: S390Model, typename: str, options: str
) -> tuple[S390Model, tuple[tuple[str, PropertyValue], ...]]:
    """-cpu's options as QEMU's cpu_common_parse_features registers them (global properties of
    the model's type) and object creation applies them: `model` with them, and their values.
    Raises GenericError with QEMU's start-up text."""
    pairs = []
    for token in options.split(","):
        if not token:
            continue
        name, equals, text = token.partition("=")
        if not equals:
            raise GenericError(f"Expected key=value format, found {token}.")
        pairs.append((name, text))
    values: list[tuple[str, PropertyValue]] = []
    for name, text in pairs:
        try:
            spec = model_props.property_spec(model, name)
            if spec is None:
                raise GenericError(f"Property '{typename}.{name}' not found")
            value = _parse_keyval(typename, name, spec, text)
            if model_props.is_feature_property(name):
                assert isinstance(value, bool)
                model = model_props.set_feature(model, name, value)
        except GenericError as error:
            raise GenericError(f"can't apply global {typename}.{name}={text}: {error.desc}") from None
        values.append((name, value))
    return model, tuple(values)


def _parse_keyval(typename: str, name: str, spec: PropertySpec, text: str) -> PropertyValue:
    from vmd.machine.qdev.props import parse_value

    return parse_value(typename, name, spec, text, keyval=True)


class S390CpuKind(DeviceKind):
    """The s390x CPU types of one VM.  `models` are the types' models on this machine (by
    model name), `machine_model` what its CPUs have (the -cpu model with its options), `globals`
    the -cpu options, which every CPU of `cpu_type` gets before its own properties."""

    def __init__(
        self,
        topology: Topology,
        cpu_type: str,
        models: Mapping[str, S390Model],
        machine_model: S390Model,
        globals_: Sequence[tuple[str, PropertyValue]] = (),
    ) -> None:
        self.topology = topology
        self.cpu_type = cpu_type
        self.models = models
        self.machine_model = machine_model
        self.globals = tuple(globals_)

    def model_of(self, driver: str) -> S390Model:
        """The model a new CPU of type `driver` starts with (the -cpu options included)."""
        model = self.models[driver.removesuffix(TYPE_SUFFIX)]
        return model_props.apply(model, self.globals) if driver == self.cpu_type else model

    def property_spec(self, driver: str, name: str) -> PropertySpec | None:
        return model_props.property_spec(self.model_of(driver), name)

    def pre_plug(
        self, request: DeviceRequest, values: Mapping[str, PropertyValue], occupied: Container[int]
    ) -> ResolvedCpu:
        given = dict(self.globals) if request.driver == self.cpu_type else {}
        given.update(values)
        model = model_props.apply(self.model_of(request.driver), values.items())
        realize_model(model, lambda warning: log.warning("device_add %s: %s", request.driver, warning))
        if model != self.machine_model:
            raise GenericError(MIXED_MODELS)
        core_id = given.get("core-id", 0)
        assert isinstance(core_id, int)
        if core_id >= self.topology.max_cpus:
            raise GenericError(
                f"Unable to add CPU with core-id: {core_id}, maximum core-id: {self.topology.max_cpus - 1}"
            )
        if core_id in occupied:
            raise GenericError(f"Unable to add CPU with core-id: {core_id}, it already exists")
        # Every s390x CPU starts powered off (s390_cpu_initfn) unless told otherwise.
        others: dict[str, PropertyValue] = {"start-powered-off": True}
        for name, value in given.items():
            if name != "core-id" and not model_props.is_feature_property(name):
                others[name] = value
        ids = self.topology.ids(core_id)
        return ResolvedCpu(core_id, ids, None, request.device_id, request.driver, MappingProxyType(others))
