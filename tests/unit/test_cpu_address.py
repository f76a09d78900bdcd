"""Where device_add puts an x86 CPU, and which error QEMU 7.2 gives first (vmd.machine.qdev and the
x86 board's pre-plug, vmd.boards.x86).

No QEMU here: the expected strings and orders are what qemu-system-x86_64 7.2 answered (spec §2.3,
§5, §6, and the runs behind tests/integration/test_cpu_address_vs_qemu.py, which sends most of
these same argument dicts to QEMU again).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.machines import plug_target
from vmd.boards.catalog import find_board
from vmd.boards.x86.apic import ApicIds
from vmd.boards.x86.buses import I440FX_BUSES, Q35_BUSES
from vmd.boards.x86.cpu_models import VERSIONED
from vmd.boards.x86.cpu_props import ABSTRACT_DEVICE_TYPES, CPU_PROPERTIES
from vmd.boards.x86.pre_plug import UNASSIGNED_APIC_ID, X86CpuKind
from vmd.errors import DeviceNotFound, GenericError, QmpError
from vmd.machine.qdev.bus import EMPTY_BUSES, find_bus
from vmd.machine.qdev.opts import (
    ArgumentSource,
    DeviceRequest,
    parse_device_request,
    property_order,
    qdict_bucket,
)
from vmd.machine.qdev.props import PropertyKind
from vmd.machine.qdev.target import PlugTarget, ResolvedCpu, resolve_device_add, resolve_slot
from vmd.machine.topology import CpuIds, Topology
from vmd.syntax import BadValue, OutOfRange, qemu_strtoi64, qemu_strtou64
from vmd.syntax import id_wellformed as is_identifier

X86_CPU_TYPES = VERSIONED.typenames()

CPU = "qemu64-x86_64-cpu"
Q35 = find_board("q35")
PC = find_board("pc")

# sockets=2,cores=2,threads=1,maxcpus=4, one boot CPU: the spec's §5.2 examples.
S2C2 = plug_target(Q35, Topology(2, 1, 2, 1, 1, 4))
# -smp 1,maxcpus=4 on q35-7.2: one socket of four cores.
FLAT = plug_target(Q35, Topology(1, 1, 4, 1, 1, 4))
# sockets=2,cores=3,threads=3: thread and core fields of 2 bits each leave holes (3, 7, 11, 12 ...).
HOLES = plug_target(Q35, Topology(2, 1, 3, 3, 2, 18))
# pc, sockets=2,dies=2,cores=2,threads=2: 16 slots, two boot CPUs.
DIES = plug_target(PC, Topology(2, 2, 2, 2, 2, 16))
# -numa node,nodeid=0,cpus=0-1 -numa node,nodeid=1,cpus=2-3 on S2C2's topology.
NUMA = plug_target(Q35, Topology(2, 1, 2, 1, 1, 4), slot_nodes=(0, 0, 1, 1))
NONE = plug_target(find_board("none"), Topology(1, 1, 1, 1, 1, 1))


def topology_of(target: PlugTarget) -> Topology:
    kind = target.devices[CPU]
    assert isinstance(kind, X86CpuKind)
    return kind.topology


def cpu(**props: Any) -> dict[str, Any]:
    """device_add arguments for the machine's CPU type; `_` in a keyword becomes `-`."""
    return {"driver": CPU, **{key.replace("_", "-"): value for key, value in props.items()}}


def outcome(
    arguments: dict[str, Any],
    target: PlugTarget = S2C2,
    *,
    occupied: frozenset[int] = frozenset({0}),
    existing_ids: frozenset[str] = frozenset(),
    source: ArgumentSource = ArgumentSource.QMP,
) -> ResolvedCpu | QmpError:
    try:
        return resolve_device_add(
            arguments, target, existing_ids=existing_ids, occupied=occupied, source=source
        )
    except QmpError as error:
        return error


def error_of(arguments: dict[str, Any], target: PlugTarget = S2C2, **kwargs: Any) -> str:
    result = outcome(arguments, target, **kwargs)
    assert isinstance(result, GenericError), result
    assert result.error_class == "GenericError"
    return result.desc


# --- steps 1-5: id, driver, bus, duplicate id, in that order ------------------------------------

FRONT_ERRORS = [
    ({}, "Parameter 'driver' is missing"),
    ({"driver": None}, "Parameter 'driver' is missing"),
    ({"driver": [CPU]}, "Parameter 'driver' is missing"),
    ({"id": "1bad"}, "Parameter 'id' expects an identifier"),
    # The id is checked first of all, while the arguments become QemuOpts.
    ({"id": "1bad", "foo": 1}, "Parameter 'id' expects an identifier"),
    ({"driver": "nonexist", "id": "1bad"}, "Parameter 'id' expects an identifier"),
    ({"driver": CPU, "bus": "nope", "id": "a/b"}, "Parameter 'id' expects an identifier"),
    ({"driver": CPU, "id": ""}, "Parameter 'id' expects an identifier"),
    ({"driver": CPU, "id": "_a"}, "Parameter 'id' expects an identifier"),
    ({"driver": CPU, "id": "é"}, "Parameter 'id' expects an identifier"),
    ({"driver": "nonexist"}, "'nonexist' is not a valid device model name"),
    ({"driver": ""}, "'' is not a valid device model name"),
    ({"driver": "qemu64"}, "'qemu64' is not a valid device model name"),
    # Scalars become QemuOpts text: 5 -> "5", true -> "on".
    ({"driver": 5}, "'5' is not a valid device model name"),
    ({"driver": True}, "'on' is not a valid device model name"),
    (
        {"driver": "power9_v2.0-spapr-cpu-core"},
        "'power9_v2.0-spapr-cpu-core' is not a valid device model name",
    ),
    ({"driver": "x86_64-cpu"}, "Parameter 'driver' expects a non-abstract device type"),
    ({"driver": "cpu"}, "Parameter 'driver' expects a non-abstract device type"),
    ({"driver": "device", "bus": "nope"}, "Parameter 'driver' expects a non-abstract device type"),
    # bus comes before the properties and before the duplicate id.
    (cpu(bus="pcie.0"), f"Device '{CPU}' can't go on PCIE bus"),
    (cpu(bus="nope", foo=1, socket_id="x"), "Bus 'nope' not found"),
    (cpu(bus="pci.0"), "Bus 'pci.0' not found"),
    (cpu(bus=5), "Bus '5' not found"),
    (cpu(bus=""), "Bus '' not found"),
    ({"driver": "Haswell-x86_64-cpu", "bus": "nope"}, "Bus 'nope' not found"),
]


@pytest.mark.parametrize(("arguments", "desc"), FRONT_ERRORS)
def test_errors_before_the_object_exists(arguments: dict[str, Any], desc: str) -> None:
    with pytest.raises(GenericError) as caught:
        parse_device_request(arguments, S2C2, existing_ids={"cpu1"})
    assert caught.value.desc == desc


@pytest.mark.parametrize(
    ("arguments", "desc"),
    [
        (cpu(id="cpu1"), "Duplicate device ID 'cpu1'"),
        # The duplicate id beats property errors and the CPU type check ...
        (cpu(id="cpu1", foo=1), "Duplicate device ID 'cpu1'"),
        (cpu(id="cpu1", socket_id="x"), "Duplicate device ID 'cpu1'"),
        ({"driver": "Haswell-x86_64-cpu", "id": "cpu1"}, "Duplicate device ID 'cpu1'"),
        # ... but not the bus or the driver lookup.
        (cpu(id="cpu1", bus="nope"), "Bus 'nope' not found"),
        ({"driver": "nonexist", "id": "cpu1"}, "'nonexist' is not a valid device model name"),
    ],
)
def test_duplicate_id(arguments: dict[str, Any], desc: str) -> None:
    assert error_of(arguments, existing_ids=frozenset({"cpu1"})) == desc


def test_a_non_string_id_is_ignored() -> None:
    for value in (5, None, True, ["cpu1"], {"a": 1}):
        request = parse_device_request(cpu(id=value), S2C2, existing_ids={"5", "on", "cpu1"})
        assert request.device_id is None
        assert request.properties == ()


@pytest.mark.parametrize("text", ["a", "A", "cpu1", "A.b-c_9", "x" * 300, "a..", "z-"])
def test_identifiers(text: str) -> None:
    assert is_identifier(text)


@pytest.mark.parametrize("text", ["", "1bad", "_a", "-a", ".a", "a/b", "a b", "é", "aé", "\u212a", "a\x00"])
def test_not_identifiers(text: str) -> None:
    assert not is_identifier(text)


def test_the_request_once_the_object_exists() -> None:
    request = parse_device_request(cpu(id="c1", socket_id=1, core_id=0, thread_id=0, junk=[1]), S2C2)
    assert request == DeviceRequest(
        CPU,
        "c1",
        # QDict order (core-id, thread-id, socket-id); the list is dropped; numbers are text.
        (("core-id", "0"), ("thread-id", "0"), ("socket-id", "1")),
        ArgumentSource.QMP,
    )


# --- buses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "path", "bus_type"),
    [
        (Q35_BUSES, "pcie.0", "PCIE"),
        (Q35_BUSES, "/", "System"),
        (Q35_BUSES, "main-system-bus", "System"),
        (Q35_BUSES, "isa.0", "ISA"),
        (Q35_BUSES, "ide.3", "IDE"),
        (Q35_BUSES, "i2c", "i2c-bus"),
        (Q35_BUSES, "/q35-pcihost", "PCIE"),
        (Q35_BUSES, "//q35-pcihost//", "PCIE"),
        (Q35_BUSES, "pcie.0/", "PCIE"),
        (Q35_BUSES, "pcie.0/ICH9-LPC", "ISA"),
        (Q35_BUSES, "/q35-pcihost/pcie.0/ahci/ide.2", "IDE"),
        (Q35_BUSES, "/q35-pcihost/pcie.0/ich9-ahci/ide.0", "IDE"),
        (I440FX_BUSES, "pci.0", "PCI"),
        (I440FX_BUSES, "floppy-bus.0", "floppy-bus"),
        (I440FX_BUSES, "/i440FX-pcihost/pci.0/PIIX3/isa.0/isa-fdc", "floppy-bus"),
        (I440FX_BUSES, "/i440FX-pcihost/pci.0/PIIX4_PM", "i2c-bus"),
        (EMPTY_BUSES, "main-system-bus", "System"),
    ],
)
def test_find_bus(tree: Any, path: str, bus_type: str) -> None:
    assert find_bus(tree, path).type == bus_type


@pytest.mark.parametrize(
    ("tree", "path", "error", "desc"),
    [
        (Q35_BUSES, "pci.0", GenericError, "Bus 'pci.0' not found"),
        (I440FX_BUSES, "pcie.0", GenericError, "Bus 'pcie.0' not found"),
        (Q35_BUSES, "/q35-pcihost/pcie.0/ahci", GenericError, "Device 'ahci' has multiple child buses"),
        (Q35_BUSES, "/hpet", GenericError, "Device 'hpet' has no child bus"),
        (Q35_BUSES, "/nope", DeviceNotFound, "Device 'nope' not found"),
        (Q35_BUSES, "pcie.0/ICH9-LPC/isa.1", GenericError, "Bus 'isa.1' not found"),
        (Q35_BUSES, "/q35-pcihost/pcie.0/ich9-ahci/ide.9", GenericError, "Bus 'ide.9' not found"),
        (
            I440FX_BUSES,
            "/i440FX-pcihost/pci.0/piix3-ide",
            GenericError,
            "Device 'piix3-ide' has multiple child buses",
        ),
        # qbus_find reads at most 127 characters of an element.
        (Q35_BUSES, "a" * 200, GenericError, f"Bus '{'a' * 127}' not found"),
        (Q35_BUSES, "/" + "a" * 200, DeviceNotFound, f"Device '{'a' * 127}' not found"),
    ],
)
def test_find_bus_errors(tree: Any, path: str, error: type[QmpError], desc: str) -> None:
    with pytest.raises(error) as caught:
        find_bus(tree, path)
    assert caught.value.desc == desc
    assert type(caught.value) is error


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        (
            "/q35-pcihost/pcie.0/ahci",
            'child buses at "ich9-ahci": "ide.5", "ide.4", "ide.3", "ide.2", "ide.1", "ide.0"\n',
        ),
        (
            "/nope",
            'devices at "main-system-bus": "ps2-mouse", "ps2-kbd", "hpet", "ioapic", "q35-pcihost",'
            ' "fw_cfg_io", "kvmvapic"\n',
        ),
        ("pcie.0/ICH9-LPC/isa.1", 'child buses at "ICH9-LPC": "isa.0"\n'),
        ("/hpet/x", 'child buses at "hpet":\n'),
        ("/hpet", ""),
        ("pci.0", ""),
    ],
)
def test_find_bus_errors_carry_qemus_hint(path: str, hint: str) -> None:
    """What QEMU's HMP prints after the error (QMP shows only the error)."""
    with pytest.raises(QmpError) as caught:
        find_bus(Q35_BUSES, path)
    assert caught.value.hint == hint


def test_a_device_not_found_on_the_bus_path_is_device_not_found() -> None:
    result = outcome(cpu(bus="/nope"))
    assert isinstance(result, DeviceNotFound)
    assert result.error_class == "DeviceNotFound"


# --- step 6: property values -------------------------------------------------------------------

PROPERTY_ERRORS = [
    (cpu(foo=1), f"Property '{CPU}.foo' not found"),
    (cpu(cluster_id=0), f"Property '{CPU}.cluster-id' not found"),
    (cpu(migratable="on"), f"Property '{CPU}.migratable' not found"),
    ({"driver": "Haswell-x86_64-cpu", "foo": 1}, "Property 'Haswell-x86_64-cpu.foo' not found"),
    (cpu(type="x"), f"Property '{CPU}.type' is not writable"),
    (cpu(hotplugged="on"), f"Property '{CPU}.hotplugged' is not writable"),
    (cpu(filtered_features="on"), f"Property '{CPU}.filtered-features' is not writable"),
    # int32 properties
    (cpu(socket_id="x"), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id=1.5), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id=True), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id=""), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id="1 "), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id="08"), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id="0x"), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id="1\x00"), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id=float("inf")), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id=1e-300), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id=10**400), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id=1 << 63), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id=1 << 64), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id="99999999999999999999"), "Parameter 'socket-id' expects integer"),
    (cpu(socket_id=2147483648), "Parameter 'socket-id' expects int32_t"),
    (cpu(socket_id=-2147483649), "Parameter 'socket-id' expects int32_t"),
    (cpu(node_id="x"), "Parameter 'node-id' expects integer"),
    # uint32: strtoull takes negatives modulo 2**64
    (cpu(apic_id="-1"), "Parameter 'apic-id' expects uint32_t"),
    (cpu(apic_id=-4294967295), "Parameter 'apic-id' expects uint32_t"),
    (cpu(apic_id=4294967296), "Parameter 'apic-id' expects uint32_t"),
    (cpu(apic_id="18446744073709551615"), "Parameter 'apic-id' expects uint32_t"),
    (cpu(apic_id="18446744073709551616"), "Parameter 'apic-id' expects integer"),
    (cpu(apic_id="-18446744073709551616"), "Parameter 'apic-id' expects integer"),
    (cpu(apic_id=False), "Parameter 'apic-id' expects integer"),
    (cpu(host_phys_bits_limit="256"), "Parameter 'host-phys-bits-limit' expects uint8_t"),
    (cpu(hv_version_id_minor="65536"), "Parameter 'hv-version-id-minor' expects uint16_t"),
    (cpu(phys_bits="x"), "Parameter 'phys-bits' expects integer"),
    (cpu(lbr_fmt="64"), "Property value for 'lbr-fmt' has bits outside mask '0x3f'"),
    ({"driver": CPU, "lbr_fmt": "-1"}, "Property value for 'lbr-fmt' has bits outside mask '0x3f'"),
    # int64 with a ranged setter
    (cpu(family="271"), "Property .family doesn't take value 271 (minimum: 0, maximum: 270)"),
    (cpu(family="-1"), "Property .family doesn't take value -1 (minimum: 0, maximum: 270)"),
    (cpu(model="256"), "Property .model doesn't take value 256 (minimum: 0, maximum: 255)"),
    (cpu(stepping="16"), "Property .stepping doesn't take value 16 (minimum: 0, maximum: 15)"),
    (
        cpu(tsc_frequency="-5"),
        "Property .tsc-frequency doesn't take value -5 (minimum: 0, maximum: 9223372036854775807)",
    ),
    (cpu(family="99999999999999999999"), "Parameter 'family' expects integer"),
    # bool, enum, strings, links
    (cpu(start_powered_off="ON"), "Parameter 'start-powered-off' expects 'on' or 'off'"),
    (cpu(start_powered_off="True"), "Parameter 'start-powered-off' expects 'on' or 'off'"),
    (cpu(start_powered_off=1), "Parameter 'start-powered-off' expects 'on' or 'off'"),
    (cpu(realized="x"), "Parameter 'realized' expects 'on' or 'off'"),
    (
        cpu(hv_no_nonarch_coresharing="AUTO"),
        "Parameter 'hv-no-nonarch-coresharing' does not accept value 'AUTO'",
    ),
    (cpu(vendor="abcdefghijklm"), "Property '.vendor' doesn't take value 'abcdefghijklm'"),
    (cpu(vendor="ééééééé"), "Property '.vendor' doesn't take value 'ééééééé'"),
    (cpu(vendor=""), "Property '.vendor' doesn't take value ''"),
]


@pytest.mark.parametrize(("arguments", "desc"), PROPERTY_ERRORS)
def test_property_errors(arguments: dict[str, Any], desc: str) -> None:
    # No address given: a property error must come before "CPU socket-id is not set".
    assert error_of(arguments) == desc


def test_a_memory_link_to_anything_is_device_not_found() -> None:
    result = outcome(cpu(memory="nope"))
    assert isinstance(result, DeviceNotFound)
    assert result.desc == "Device 'nope' not found"
    assert error_of(cpu(memory="")) == "CPU socket-id is not set"


@pytest.mark.parametrize(
    "arguments",
    [
        cpu(socket_id=[1], core_id={"a": 1}, thread_id=None),  # dropped: as if not given
        cpu(socket_id=-2),  # every negative id is "not set"
        cpu(socket_id=-2147483648),
        cpu(socket_id="-0x2"),
        cpu(apic_id=4294967295),  # the "unassigned" APIC ID itself
        cpu(start_powered_off="y"),
        cpu(start_powered_off="n"),
        cpu(start_powered_off="yes"),
        cpu(start_powered_off=True),
        cpu(hv_no_nonarch_coresharing="auto"),
        cpu(hv_no_nonarch_coresharing=True),
        cpu(vendor="GenuineIntel"),
        cpu(vendor="éééééé"),  # 12 bytes
        cpu(lbr_fmt="63"),
        cpu(ucode_rev="-1"),
        cpu(family="0x10e"),
        cpu(model_id="x" * 100),
        cpu(hv_vendor_id=5),
        cpu(memory=""),
        cpu(realized="off"),
        cpu(legacy_cache="on"),
        cpu(vmx="on", sse4_2="off", **{"sse4.2": "on"}),
    ],
)
def test_properties_that_parse(arguments: dict[str, Any]) -> None:
    assert error_of(arguments) == "CPU socket-id is not set"


@pytest.mark.parametrize(
    ("value", "core"),
    [
        ("1", 1),
        (" 1", 1),
        ("\t\n\v\f\r 1", 1),
        ("+1", 1),
        ("0X1", 1),
        ("0x1", 1),
        ("01", 1),
        (1.0, 1),
        (2e0, 2),
    ],
)
def test_integer_spellings(value: object, core: int) -> None:
    result = outcome(cpu(socket_id=0, core_id=value, thread_id=0), FLAT)
    assert isinstance(result, ResolvedCpu)
    assert result.ids.core == core


def test_minus_zero_is_zero() -> None:
    assert error_of(cpu(socket_id=-0.0)) == "CPU core-id is not set"


def test_host_and_max_have_two_more_properties() -> None:
    target = plug_target(Q35, Topology(1, 1, 4, 1, 1, 4), cpu_type="max-x86_64-cpu")
    result = outcome({"driver": "max-x86_64-cpu", "migratable": "off", "host-cache-info": "on"}, target)
    assert isinstance(result, GenericError)
    assert result.desc == "CPU socket-id is not set"


@pytest.mark.parametrize(
    ("text", "signed", "value"),
    [
        ("0", True, 0),
        ("-0", True, 0),
        ("010", True, 8),
        ("0x1F", True, 31),
        ("-0x2", True, -2),
        (" \t+7", True, 7),
        ("9223372036854775807", True, (1 << 63) - 1),
        ("-9223372036854775808", True, -(1 << 63)),
        ("9223372036854775808", True, None),
        ("-1", False, (1 << 64) - 1),
        ("-18446744073709551615", False, 1),
        ("18446744073709551615", False, (1 << 64) - 1),
        ("18446744073709551616", False, None),
        ("", True, None),
        (" ", True, None),
        ("-", True, None),
        ("+-1", True, None),
        ("- 1", True, None),
        ("0x", True, None),
        ("0x1g", True, None),
        ("00x1", True, None),
        ("08", True, None),
        ("1 ", True, None),
        ("1.0", True, None),
        ("٣", True, None),  # an Arabic-Indic digit is no C digit
    ],
)
def test_parse_c_integer(text: str, signed: bool, value: int | None) -> None:
    """The one C-integer reader (vmd.syntax) as device properties use it."""
    try:
        parsed: int | None = qemu_strtoi64(text) if signed else qemu_strtou64(text)
    except (BadValue, OutOfRange):
        parsed = None
    assert parsed == value


# --- step 6: the order properties are set in ------------------------------------------------------


def test_qdict_buckets() -> None:
    # tdb hash modulo 512; socket-id and driver share bucket 239.
    assert [qdict_bucket(k) for k in ("core-id", "thread-id", "apic-id", "node-id", "die-id")] == [
        3,
        90,
        141,
        156,
        219,
    ]
    assert qdict_bucket("socket-id") == qdict_bucket("driver") == 239
    assert len({qdict_bucket(k) for k in ("mce", "mca", "msr")}) == 1


@pytest.mark.parametrize(
    ("keys", "first"),
    [
        # different buckets: the lower bucket first, whatever the order given
        (["foo", "socket-id"], "socket-id"),
        (["socket-id", "foo"], "socket-id"),
        (["phys-bits", "core-id"], "phys-bits"),
        (["aaa", "socket-id"], "aaa"),
        # one bucket: QMP sets the last one given first
        (["mce", "mca", "msr"], "msr"),
        (["msr", "mce", "mca"], "mca"),
        (["vme", "vmx"], "vmx"),
    ],
)
def test_property_order_qmp(keys: list[str], first: str) -> None:
    assert property_order(keys)[0] == first
    arguments = {"driver": CPU, **dict.fromkeys(keys, "zzz")}
    desc = error_of(arguments)
    assert f"'{first}'" in desc or f".{first}'" in desc


@pytest.mark.parametrize("source", [ArgumentSource.CLI, ArgumentSource.CLI_JSON])
def test_property_order_cli(source: ArgumentSource) -> None:
    # -device keeps the order given within a bucket.
    assert property_order(["mce", "mca", "msr"], source) == ["mce", "mca", "msr"]
    assert property_order(["msr", "mce", "mca"], source) == ["msr", "mce", "mca"]
    assert property_order(["foo", "socket-id", "core-id"], source) == ["core-id", "socket-id", "foo"]


# --- step 7: type, address, slot, occupancy, consistency, NUMA ------------------------------------

PRE_PLUG_ERRORS = [
    # The CPU type is checked after every property, before the address.
    (S2C2, {"driver": "Haswell-x86_64-cpu"}, "Invalid CPU type, expected cpu type: 'qemu64-x86_64-cpu'"),
    (
        S2C2,
        {"driver": "Haswell-x86_64-cpu", "socket-id": 9},
        "Invalid CPU type, expected cpu type: 'qemu64-x86_64-cpu'",
    ),
    (S2C2, cpu(), "CPU socket-id is not set"),
    (S2C2, cpu(core_id=0, thread_id=0), "CPU socket-id is not set"),
    (S2C2, cpu(socket_id=-1, core_id=0, thread_id=0), "CPU socket-id is not set"),
    (S2C2, cpu(socket_id=2), "Invalid CPU socket-id: 2 must be in range 0:1"),
    (S2C2, cpu(socket_id="010"), "Invalid CPU socket-id: 8 must be in range 0:1"),
    (S2C2, cpu(socket_id=0), "CPU core-id is not set"),
    (S2C2, cpu(socket_id=0, core_id=2), "Invalid CPU core-id: 2 must be in range 0:1"),
    (S2C2, cpu(socket_id=0, core_id=1), "CPU thread-id is not set"),
    (S2C2, cpu(socket_id=0, core_id=1, thread_id=1), "Invalid CPU thread-id: 1 must be in range 0:0"),
    (S2C2, cpu(socket_id=0, die_id=1, core_id=1, thread_id=0), "Invalid CPU die-id: 1 must be in range 0:0"),
    (S2C2, cpu(socket_id=0, core_id=0, thread_id=0), "CPU[0] with APIC ID 0 exists"),
    (S2C2, cpu(apic_id=0), "CPU[0] with APIC ID 0 exists"),
    # occupancy comes before the mismatch checks
    (S2C2, cpu(apic_id=0, socket_id=1), "CPU[0] with APIC ID 0 exists"),
    (
        S2C2,
        cpu(apic_id=100),
        "Invalid CPU [socket: 50, die: 0, core: 0, thread: 0] with APIC ID 100, valid index range 0:3",
    ),
    (
        S2C2,
        cpu(apic_id=4294967294),
        "Invalid CPU [socket: 2147483647, die: 0, core: 0, thread: 0] with APIC ID 4294967294, "
        "valid index range 0:3",
    ),
    (
        S2C2,
        cpu(apic_id=2, socket_id=0),
        "property socket-id: 0 doesn't match set apic-id: 0x2 (socket-id: 1)",
    ),
    (
        S2C2,
        cpu(apic_id=2, socket_id=-5),
        "property socket-id: 4294967291 doesn't match set apic-id: 0x2 (socket-id: 1)",
    ),
    (S2C2, cpu(apic_id=2, die_id=1), "property die-id: 1 doesn't match set apic-id: 0x2 (die-id: 0)"),
    (
        S2C2,
        cpu(apic_id=3, core_id=0, thread_id=1),
        "property core-id: 0 doesn't match set apic-id: 0x3 (core-id: 1)",
    ),
    (
        S2C2,
        cpu(apic_id=3, thread_id=1),
        "property thread-id: 1 doesn't match set apic-id: 0x3 (thread-id: 0)",
    ),
    (
        S2C2,
        cpu(apic_id=1, socket_id=1, hv_vpindex="on"),
        "property socket-id: 1 doesn't match set apic-id: 0x1 (socket-id: 0)",
    ),
    # hv-vpindex comes between the consistency checks and the node
    (
        S2C2,
        cpu(socket_id=0, core_id=1, thread_id=0, hv_vpindex="on", node_id=3),
        "kernel doesn't allow setting HyperV VP_INDEX",
    ),
    (S2C2, cpu(socket_id=0, core_id=1, thread_id=0, node_id=1), "invalid node-id, must be 0"),
    (S2C2, cpu(socket_id=0, core_id=1, thread_id=0, node_id=-2), "invalid node-id, must be 0"),
    (NUMA, cpu(socket_id=1, core_id=0, thread_id=0, node_id=0), "invalid node-id, must be 1"),
    (NUMA, cpu(socket_id=1, core_id=0, thread_id=0, node_id=-2), "invalid node-id, must be 1"),
    (NUMA, cpu(apic_id=1, node_id=1), "invalid node-id, must be 0"),
    # -smp 1,maxcpus=4 on q35-7.2 has one socket of four cores
    (FLAT, cpu(socket_id=1, core_id=0, thread_id=0), "Invalid CPU socket-id: 1 must be in range 0:0"),
    (FLAT, cpu(socket_id=0, core_id=4, thread_id=0), "Invalid CPU core-id: 4 must be in range 0:3"),
    (
        FLAT,
        cpu(apic_id=4),
        "Invalid CPU [socket: 1, die: 0, core: 0, thread: 0] with APIC ID 4, valid index range 0:3",
    ),
    # holes in the APIC ID space
    (
        HOLES,
        cpu(apic_id=3),
        "Invalid CPU [socket: 0, die: 0, core: 0, thread: 3] with APIC ID 3, valid index range 0:17",
    ),
    (
        HOLES,
        cpu(apic_id=12),
        "Invalid CPU [socket: 0, die: 0, core: 3, thread: 0] with APIC ID 12, valid index range 0:17",
    ),
    (
        HOLES,
        cpu(apic_id=32),
        "Invalid CPU [socket: 2, die: 0, core: 0, thread: 0] with APIC ID 32, valid index range 0:17",
    ),
    (HOLES, cpu(apic_id=1), "CPU[1] with APIC ID 1 exists"),
    (HOLES, cpu(socket_id=1, core_id=2, thread_id=3), "Invalid CPU thread-id: 3 must be in range 0:2"),
    (
        HOLES,
        cpu(apic_id=25, thread_id=2),
        "property thread-id: 2 doesn't match set apic-id: 0x19 (thread-id: 1)",
    ),
    # dies > 1: die-id is required
    (DIES, cpu(socket_id=1, core_id=0, thread_id=0), "CPU die-id is not set"),
    (DIES, cpu(socket_id=1, die_id=-1, core_id=0, thread_id=0), "CPU die-id is not set"),
    (DIES, cpu(socket_id=1, die_id=2, core_id=0, thread_id=0), "Invalid CPU die-id: 2 must be in range 0:1"),
    (
        DIES,
        cpu(socket_id=2, die_id=2, core_id=0, thread_id=0),
        "Invalid CPU socket-id: 2 must be in range 0:1",
    ),
    (
        DIES,
        cpu(apic_id=16, die_id=1),
        "Invalid CPU [socket: 2, die: 0, core: 0, thread: 0] with APIC ID 16, valid index range 0:15",
    ),
    (DIES, cpu(apic_id=13, die_id=0), "property die-id: 0 doesn't match set apic-id: 0xd (die-id: 1)"),
]


@pytest.mark.parametrize(("target", "arguments", "desc"), PRE_PLUG_ERRORS)
def test_pre_plug_errors(target: PlugTarget, arguments: dict[str, Any], desc: str) -> None:
    occupied = frozenset(range(topology_of(target).boot_cpus))
    assert error_of(arguments, target, occupied=occupied) == desc


SUCCESSES = [
    # (target, arguments, index, ids, apic_id, node_id)
    (S2C2, cpu(socket_id=0, core_id=1, thread_id=0), 1, CpuIds(0, 0, 1, 0), 1, None),
    (S2C2, cpu(socket_id="1", core_id="0", thread_id="0"), 2, CpuIds(1, 0, 0, 0), 2, None),
    (S2C2, cpu(socket_id=1.0, core_id=0, thread_id=0), 2, CpuIds(1, 0, 0, 0), 2, None),
    (S2C2, cpu(apic_id=3), 3, CpuIds(1, 0, 1, 0), 3, None),
    (S2C2, cpu(apic_id="-18446744073709551615"), 1, CpuIds(0, 0, 1, 0), 1, None),
    (
        S2C2,
        cpu(apic_id=3, socket_id=1, die_id=0, core_id=1, thread_id="0x0", node_id=-1),
        3,
        CpuIds(1, 0, 1, 0),
        3,
        None,
    ),
    (S2C2, cpu(socket_id=0, core_id=1, thread_id=0, node_id=0), 1, CpuIds(0, 0, 1, 0), 1, 0),
    (NUMA, cpu(socket_id=1, core_id=0, thread_id=0), 2, CpuIds(1, 0, 0, 0), 2, 1),
    (NUMA, cpu(apic_id=3, node_id="1"), 3, CpuIds(1, 0, 1, 0), 3, 1),
    (NUMA, cpu(apic_id=1), 1, CpuIds(0, 0, 1, 0), 1, 0),
    (FLAT, cpu(socket_id=0, core_id=3, thread_id=0), 3, CpuIds(0, 0, 3, 0), 3, None),
    (HOLES, cpu(socket_id=1, core_id=2, thread_id=2), 17, CpuIds(1, 0, 2, 2), 26, None),
    (HOLES, cpu(apic_id=17), 10, CpuIds(1, 0, 0, 1), 17, None),
    (DIES, cpu(socket_id=1, die_id=1, core_id=1, thread_id=1), 15, CpuIds(1, 1, 1, 1), 15, None),
    (DIES, cpu(apic_id=13), 13, CpuIds(1, 1, 0, 1), 13, None),
]


@pytest.mark.parametrize(("target", "arguments", "index", "ids", "apic_id", "node_id"), SUCCESSES)
def test_successes(
    target: PlugTarget,
    arguments: dict[str, Any],
    index: int,
    ids: CpuIds,
    apic_id: int,
    node_id: int | None,
) -> None:
    topology = topology_of(target)
    occupied = frozenset(range(topology.boot_cpus))
    result = outcome(arguments, target, occupied=occupied)
    assert isinstance(result, ResolvedCpu), result
    assert (result.slot, result.ids, result.node_id) == (index, ids, node_id)
    assert ApicIds(topology).of_ids(result.ids) == apic_id
    assert result.device_id is None
    assert result.driver == CPU
    assert result.properties == {}
    assert ApicIds(topology).of_index(index) == apic_id


def test_success_carries_id_and_other_properties() -> None:
    result = outcome(
        cpu(id="cpu1", socket_id=0, core_id=1, thread_id=0, start_powered_off=True, vmx="off", family="6")
    )
    assert isinstance(result, ResolvedCpu)
    assert result.device_id == "cpu1"
    assert result.start_powered_off is True
    assert dict(result.properties) == {"start-powered-off": True, "vmx": False, "family": 6}
    assert list(result.properties) == property_order(["start-powered-off", "vmx", "family"])


def test_start_powered_off_defaults_to_false() -> None:
    result = outcome(cpu(socket_id=0, core_id=1, thread_id=0))
    assert isinstance(result, ResolvedCpu)
    assert result.start_powered_off is False


def test_occupancy_and_ids_are_the_callers() -> None:
    arguments = cpu(id="a", socket_id=0, core_id=1, thread_id=0)
    assert isinstance(outcome(arguments), ResolvedCpu)
    assert error_of(arguments, occupied=frozenset({0, 1})) == "CPU[1] with APIC ID 1 exists"
    assert error_of(arguments, existing_ids=frozenset({"a"})) == "Duplicate device ID 'a'"


def test_two_steps() -> None:
    request = parse_device_request(cpu(socket_id=0, core_id=1, thread_id=0), S2C2)
    assert request.device_id is None  # QEMU has used up an anonymous device number
    result = resolve_slot(request, S2C2, occupied={0})
    assert result.slot == 1
    with pytest.raises(GenericError, match=r"^CPU\[1\] with APIC ID 1 exists$"):
        resolve_slot(request, S2C2, occupied={0, 1})


# --- the `none` machine: no CPU hotplug ------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "desc"),
    [
        (cpu(id="x", foo=1), f"Device '{CPU}' can not be hotplugged on this machine"),
        (cpu(bus="pcie.0"), "Bus 'pcie.0' not found"),
        (cpu(bus="main-system-bus"), f"Device '{CPU}' can't go on System bus"),
        ({"driver": "x86_64-cpu"}, "Parameter 'driver' expects a non-abstract device type"),
    ],
)
def test_none_machine(arguments: dict[str, Any], desc: str) -> None:
    assert error_of(arguments, NONE, occupied=frozenset()) == desc


# --- -device -------------------------------------------------------------------------------------

JSON_ERRORS = [
    (cpu(socket_id="1"), "Invalid parameter type for 'socket-id', expected: integer"),
    (cpu(socket_id=1.0), "Invalid parameter type for 'socket-id', expected: integer"),
    (cpu(socket_id=None), "Invalid parameter type for 'socket-id', expected: integer"),
    (cpu(socket_id=[1]), "Invalid parameter type for 'socket-id', expected: integer"),
    (cpu(socket_id=True), "Invalid parameter type for 'socket-id', expected: integer"),
    (cpu(socket_id=1 << 63), "Invalid parameter type for 'socket-id', expected: integer"),
    (cpu(socket_id=2147483648), "Parameter 'socket-id' expects int32_t"),
    (cpu(apic_id=-1), "Parameter 'apic-id' expects uint32_t"),
    (cpu(apic_id=(1 << 64) - 1), "Parameter 'apic-id' expects uint32_t"),
    (cpu(apic_id=1.0), "Parameter 'apic-id' expects uint64"),
    (cpu(apic_id="1"), "Parameter 'apic-id' expects uint64"),
    (cpu(apic_id=None), "Parameter 'apic-id' expects uint64"),
    (cpu(apic_id=-(1 << 64) + 1), "Parameter 'apic-id' expects uint64"),
    (cpu(start_powered_off="on"), "Invalid parameter type for 'start-powered-off', expected: boolean"),
    (cpu(model_id=5), "Invalid parameter type for 'model-id', expected: string"),
    (cpu(vendor=5), "Invalid parameter type for 'vendor', expected: string"),
    (cpu(memory=5), "Invalid parameter type for 'memory', expected: string"),
    (
        cpu(hv_no_nonarch_coresharing=True),
        "Invalid parameter type for 'hv-no-nonarch-coresharing', expected: string",
    ),
    (cpu(hv_no_nonarch_coresharing="x"), "Parameter 'hv-no-nonarch-coresharing' does not accept value 'x'"),
    (cpu(family="x"), "Invalid parameter type for 'family', expected: integer"),
    (cpu(family=-1), "Property .family doesn't take value -1 (minimum: 0, maximum: 270)"),
    (cpu(type=5), f"Property '{CPU}.type' is not writable"),
    (cpu(foo=5), f"Property '{CPU}.foo' not found"),
    # no id syntax check, and non-strings for id, driver and bus are ignored
    (cpu(id="1bad"), "CPU socket-id is not set"),
    (cpu(id=5), "CPU socket-id is not set"),
    (cpu(bus=5), "CPU socket-id is not set"),
    ({"driver": 5}, "Parameter 'driver' is missing"),
    (cpu(bus="pcie.0"), f"Device '{CPU}' can't go on PCIE bus"),
    (cpu(ucode_rev=-1), "CPU socket-id is not set"),
    (cpu(mce=1, mca=2, msr=3), "Invalid parameter type for 'mce', expected: boolean"),
    (cpu(msr=3, mce=1, mca=2), "Invalid parameter type for 'msr', expected: boolean"),
    (cpu(socket_id=0, core_id=0, thread_id=0), "CPU[0] with APIC ID 0 exists"),
]


@pytest.mark.parametrize(("arguments", "desc"), JSON_ERRORS)
def test_device_json(arguments: dict[str, Any], desc: str) -> None:
    assert error_of(arguments, FLAT, source=ArgumentSource.CLI_JSON) == desc


def test_device_json_success() -> None:
    result = outcome(
        cpu(id="a/b", socket_id=0, core_id=2, thread_id=0, start_powered_off=True),
        FLAT,
        source=ArgumentSource.CLI_JSON,
    )
    assert isinstance(result, ResolvedCpu)
    assert (result.slot, result.device_id, result.start_powered_off) == (2, "a/b", True)


@pytest.mark.parametrize(
    ("arguments", "desc"),
    [
        (cpu(mce="1", mca="2", msr="3"), "Parameter 'mce' expects 'on' or 'off'"),
        (cpu(msr="3", mce="1", mca="2"), "Parameter 'msr' expects 'on' or 'off'"),
        (cpu(vmx="x", vme="x"), "Parameter 'vmx' expects 'on' or 'off'"),
        (cpu(socket_id="0x0", core_id="010", thread_id="0"), "Invalid CPU core-id: 8 must be in range 0:3"),
        (cpu(id="1bad"), "Parameter 'id' expects an identifier"),
    ],
)
def test_device_keyval(arguments: dict[str, Any], desc: str) -> None:
    assert error_of(arguments, FLAT, source=ArgumentSource.CLI) == desc


# --- the data ----------------------------------------------------------------------------------


def test_property_table() -> None:
    assert len(CPU_PROPERTIES) == 439  # qom-list-properties of qemu64-x86_64-cpu
    kinds = [spec.kind for spec in CPU_PROPERTIES.values()]
    assert kinds.count(PropertyKind.BOOL) == 395
    assert kinds.count(PropertyKind.READ_ONLY) == 9
    for name in ("socket-id", "die-id", "core-id", "thread-id", "node-id"):
        assert CPU_PROPERTIES[name].kind is PropertyKind.INT32
    assert CPU_PROPERTIES["apic-id"].kind is PropertyKind.UINT32
    assert CPU_PROPERTIES["start-powered-off"].kind is PropertyKind.BOOL
    assert "cluster-id" not in CPU_PROPERTIES


def test_types() -> None:
    assert len(X86_CPU_TYPES) == 132
    assert {"qemu64-x86_64-cpu", "Haswell-x86_64-cpu", "host-x86_64-cpu", "max-x86_64-cpu"} <= X86_CPU_TYPES
    assert "x86_64-cpu" in ABSTRACT_DEVICE_TYPES
    assert not X86_CPU_TYPES & ABSTRACT_DEVICE_TYPES


def test_targets_for_boards() -> None:
    topology = Topology(1, 1, 4, 1, 1, 4)
    assert plug_target(Q35, topology).buses is Q35_BUSES
    assert plug_target(find_board("pc-q35-2.4"), topology).buses is Q35_BUSES
    assert plug_target(PC, topology).buses is I440FX_BUSES
    assert plug_target(find_board("pc-i440fx-1.4"), topology).buses is I440FX_BUSES
    kind = plug_target(PC, topology, cpu_type="Haswell-x86_64-cpu").devices[CPU]
    assert isinstance(kind, X86CpuKind)
    assert kind.cpu_type == "Haswell-x86_64-cpu"
    assert set(plug_target(PC, topology).devices) == X86_CPU_TYPES
    none = plug_target(find_board("none"), topology)
    assert (none.hotplug_handler, none.buses) == (False, EMPTY_BUSES)
    with pytest.raises(ValueError, match="one node per slot"):
        plug_target(Q35, topology, slot_nodes=(0, 1))


def test_unassigned_apic_id() -> None:
    assert UNASSIGNED_APIC_ID == 0xFFFFFFFF
