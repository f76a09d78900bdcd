"""s390x CPUs on any board of the s390x target: one slot per CPU, addressed by core-id alone;
their QOM objects (core-id, the model's features as bool properties); query-cpus-fast's
cpu-state; and the device types device_add knows.

cpu-state is what an s390x CPU's SIGP state is: the IPL CPU (core 0) is *operating* from the
start, even before the VM runs (QEMU loads it with the firmware); every other CPU is *stopped*
until the guest starts it, and the guest stops it again when it takes it offline.  vmd's guest
starts a CPU when it brings it online (the vCPU's own report of running guest code), so
cpu-state follows what the guest did.  A reset stops every CPU but the IPL CPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vmd.boards.s390x import cpu_models, model_props
from vmd.boards.s390x.cpu_models import TYPE_SUFFIX, S390Model
from vmd.boards.s390x.pre_plug import S390CpuKind, parse_globals, realize_model
from vmd.errors import GenericError, StartupError
from vmd.machine.board import BoardCpus
from vmd.machine.cpu_catalog import CpuCatalog
from vmd.machine.cpu_qom import CpuObject
from vmd.machine.qdev.bus import EMPTY_BUSES, QdevBus
from vmd.machine.qdev.props import PropertyValue
from vmd.machine.qdev.target import PlugTarget
from vmd.machine.qom import QomObject, QomProperty, QomTree, constant
from vmd.machine.slots import SlotLayout
from vmd.machine.topology import Topology
from vmd.qapi.compiled import CpuInfoS390, CpuInstanceProperties, CpuS390State
from vmd.qapi.runtime import WireStruct

IPL_CPU = 0  # the CPU the machine loads (core-id 0)

# QEMU 7.2's abstract device types on qemu-system-s390x (device_add: "expects a non-abstract
# device type"), those device_add answers differently left out.
_ABSTRACT_DEVICE_TYPE_NAMES = """
    ap-device base-pci-bridge ccw-device cpu cpu-core device emulated-ccw-3270 fw_cfg pci-device
    pci-host-bridge s390-ccw s390-sclp-event-type s390-skeys s390-storage_attributes s390-tod
    s390x-cpu scsi-device scsi-disk-base sys-bus-device vhost-scsi-common vhost-scsi-pci-base
    vhost-user-blk-pci-base vhost-user-fs-pci-base vhost-user-gpio-pci-base vhost-user-i2c-pci-base
    vhost-user-input-pci-base-type vhost-user-rng-pci-base vhost-user-scsi-pci-base
    vhost-user-vsock-pci-base vhost-vsock-common vhost-vsock-pci-base virtio-9p-pci-base
    virtio-balloon-pci-base virtio-blk-pci-base virtio-ccw-device virtio-crypto-pci-base-type
    virtio-device virtio-gpu-base virtio-gpu-pci-base virtio-input-ccw virtio-input-device
    virtio-input-hid-ccw virtio-input-hid-device virtio-input-hid-pci virtio-input-host-pci-base-type
    virtio-input-pci virtio-iommu-pci-base-type virtio-keyboard-pci-base-type
    virtio-mouse-pci-base-type virtio-net-pci-base virtio-pci virtio-rng-pci-base virtio-scsi-common
    virtio-scsi-pci-base virtio-serial-pci-base virtio-serial-port virtio-tablet-pci-base-type
"""
ABSTRACT_DEVICE_TYPES = frozenset(_ABSTRACT_DEVICE_TYPE_NAMES.split())


class S390Slots(SlotLayout):
    """QEMU's s390x possible CPUs: one per core-id, which is also the cpu-index."""

    def __init__(self, topology: Topology, cpu_type: str) -> None:
        super().__init__(topology, cpu_type)

    def props(self, slot: int, node: int | None) -> CpuInstanceProperties:
        return CpuInstanceProperties(core_id=slot)


def _feature_properties(model: S390Model, typename: str) -> dict[str, QomProperty]:
    """The bool property of every feature and group of a CPU of `model`; all are fixed once the
    CPU is realized (QEMU's set_feature refuses)."""

    def refuse(name: str) -> Callable[[Any], None]:
        def setter(value: Any) -> None:
            raise GenericError(f"Attempt to set property '{name}' on '{typename}' after it was realized")

        return setter

    props = {}
    for name, mask in (
        *((name, 1 << bit) for name, bit in cpu_models.FEATURE_BIT.items()),
        *cpu_models.GROUP_MASK.items(),
    ):
        description = model_props.FEATURE_DESCRIPTIONS.get(name) or model_props.GROUP_DESCRIPTIONS[name]
        value = model.features & mask == mask
        props[name] = QomProperty(
            name, "bool", get=constant(value), set=refuse(name), description=description
        )
    return props


def _no_crash() -> Any:
    raise GenericError("No crash occurred")  # vmd's guest never panics


class S390CpuObjects(BoardCpus):
    """s390x CPU devices: core-id and the model's features, boot CPUs at unattached/device[N]."""

    package_type = "s390x-cpu-package"
    package_ids = ("core-id",)

    boot_powered_off = True  # s390_cpu_initfn: every s390x CPU starts powered off

    def __init__(self, qom: QomTree, layout: SlotLayout, catalog: CpuCatalog, model: S390Model) -> None:
        self.qom = qom
        self.layout = layout
        self.catalog = catalog
        self.model = model
        self._features: dict[str, dict[str, QomProperty]] = {}  # by type: shared by its CPUs
        self._running: set[int] = set()

    def boot_place(self, slot: int) -> tuple[QomObject, str]:
        return self.qom.machine.children["unattached"], f"device[{slot}]"

    def create(
        self,
        slot: int,
        *,
        driver: str,
        node_id: int,
        device_id: str | None,
        hotplugged: bool,
        start_powered_off: bool,
    ) -> CpuObject:
        entry = self.catalog.find(driver.removesuffix(TYPE_SUFFIX))
        assert entry is not None
        obj = CpuObject(
            driver,
            address=(("core-id", "uint32", slot),),
            device_id=device_id,
            hotplugged=hotplugged,
            start_powered_off=start_powered_off,
        )
        state = {"start-powered-off": start_powered_off}

        def set_powered_off(value: Any) -> None:
            if not isinstance(value, bool):
                raise GenericError("Invalid parameter type for 'value', expected: boolean")
            state["start-powered-off"] = value  # settable after realize, and meaningless then

        memory = QomProperty("memory", "link<memory-region>", get=constant("/machine/unattached/system[0]"))
        for prop in (
            memory,
            QomProperty(
                "start-powered-off", "bool", get=lambda: state["start-powered-off"], set=set_powered_off
            ),
            QomProperty("legacy-memory", "str"),  # QEMU: not readable
            QomProperty("static", "bool", get=constant(entry.static)),
            QomProperty("migration-safe", "bool", get=constant(entry.migration_safe)),
            QomProperty("description", "string", get=constant(_description(entry.name, entry.description))),
            QomProperty("crash-information", "GuestPanicInformation", get=_no_crash),
        ):
            obj.add_property(prop)
        features = self._features.get(driver)
        if features is None:
            features = self._features[driver] = _feature_properties(self.model, driver)
        obj.properties.update(features)
        if slot == IPL_CPU:
            self._running.add(slot)
        return obj

    def check_unplug(self, slot: int) -> None:
        raise GenericError("CPU hot unplug not supported on this machine")

    def vcpu_running(self, cpu_index: int, running: bool) -> None:
        if running:
            self._running.add(cpu_index)
        else:
            self._running.discard(cpu_index)

    def reset(self) -> None:
        self._running &= {IPL_CPU}

    def fast_info(self, cpu_index: int) -> WireStruct | None:
        state = CpuS390State.OPERATING if cpu_index in self._running else CpuS390State.STOPPED
        return CpuInfoS390(cpu_state=state)


def _description(name: str, shown: str) -> str:
    """The model's own description (qom-get description), without -cpu help's details column."""
    if name == "qemu":
        return cpu_models.QEMU_DESCRIPTION
    if name == "max":
        return cpu_models.MAX_DESCRIPTION
    return cpu_models.DEF_BY_NAME[name.removesuffix("-base")].description


@dataclasses.dataclass(frozen=True)
class S390Family:
    """What every board of the s390x target shares about CPUs (the `none` board too), on the
    machine of `version`; `options` are -cpu's (global properties of the -cpu model's type)."""

    version: str
    cpu_type: str = cpu_models.DEFAULT_CPU_TYPE
    options: tuple[tuple[str, PropertyValue], ...] = ()
    buses: QdevBus = EMPTY_BUSES
    fixed_types: frozenset[str] = frozenset()

    def models(self, versioned: bool = True) -> CpuCatalog:
        return cpu_models.catalog(self.version)

    def model(self, cpu_type: str) -> S390Model:
        """What the machine's CPUs of `cpu_type` have (with -cpu's options if it is -cpu's type)."""
        model = cpu_models.models(self.version)[cpu_type.removesuffix(TYPE_SUFFIX)]
        return model_props.apply(model, self.options) if cpu_type == self.cpu_type else model

    def query_models(self) -> Mapping[str, S390Model]:
        """Every type's model as a new CPU object of it starts: -cpu's options are global
        properties of -cpu's type (what query-cpu-model-expansion and its siblings start from)."""
        table = cpu_models.models(self.version)
        if not self.options:
            return table
        name = self.cpu_type.removesuffix(TYPE_SUFFIX)
        return {**table, name: model_props.apply(table[name], self.options)}

    def layout(self, topology: Topology, cpu_type: str) -> SlotLayout:
        return S390Slots(topology, cpu_type)

    def plug_target(
        self,
        cpu_type: str,
        layout: SlotLayout,
        slot_nodes: Sequence[int] | None,
        *,
        hotplug_handler: bool = True,
    ) -> PlugTarget:
        table = cpu_models.models(self.version)
        kind = S390CpuKind(
            layout.topology,
            cpu_type,
            table,
            self.model(cpu_type),
            self.options if cpu_type == self.cpu_type else (),
        )
        return PlugTarget(
            devices=dict.fromkeys((name + TYPE_SUFFIX for name in table), kind),
            abstract_types=ABSTRACT_DEVICE_TYPES,
            buses=self.buses,
            hotplug_handler=hotplug_handler,
            fixed_types=self.fixed_types,
        )

    def cpus(self, qom: QomTree, layout: SlotLayout, cpu_type: str) -> BoardCpus:
        return S390CpuObjects(qom, layout, self.models(), self.model(cpu_type))

    def with_cpu_options(self, cpu_type: str, options: str, warn: Callable[[str], None]) -> S390Family:
        """-cpu's options, checked when the machine creates its first CPU: as QEMU applies them
        (its "can't apply global" errors), then as it realizes the CPU (warnings, then the
        compatibility error)."""
        start = cpu_models.models(self.version)[cpu_type.removesuffix(TYPE_SUFFIX)]
        try:
            model, values = parse_globals(start, cpu_type, options)
            realize_model(model, lambda text: warn(f"warning: {text}"))
        except GenericError as error:
            raise StartupError(error.desc) from None
        return dataclasses.replace(self, cpu_type=cpu_type, options=values)
