"""A device_add's arguments as QEMU 7.2 turns them into a device object: steps 1-5 of its order.

QEMU builds a device in steps, and the first step that fails is what the client sees:

1. the arguments become QemuOpts strings (QMP and -device key=value; not -device JSON): a string
   `id` must be an identifier, a non-string `id` is ignored, non-scalar values are dropped,
   numbers and booleans turn into text (`1.0` -> "1", `true` -> "on");
2. `driver` is looked up (missing, abstract, unknown);
3. `bus`, when given, is looked up in the machine's bus tree;
4. the machine must have a hotplug handler for it (`none` has none);
5. the id is registered (`Duplicate device ID`); from here on QEMU has created the object, so an
   anonymous attempt uses up a `/machine/peripheral-anon/device[N]` number even if it fails later;
6. every property is set, in the order QEMU's QDict hash table iterates the keys (not the order
   given), each parsed per its type (`vmd.machine.qdev.props`);
7. the board's pre-plug handlers check the device and resolve its slot (the board's DeviceKind).

Errors are `GenericError` (or `DeviceNotFound` where QEMU uses that class) with QEMU's text; every
string and ordering rule was checked against qemu-system-x86_64 7.2
(tests/integration/test_cpu_address_vs_qemu.py).
"""

from __future__ import annotations

import enum
from collections.abc import Container, Iterable, Mapping
from typing import TYPE_CHECKING

from vmd.errors import GenericError
from vmd.machine.qdev.bus import find_bus
from vmd.records import dataclass
from vmd.syntax import id_wellformed

if TYPE_CHECKING:
    from vmd.machine.qdev.target import PlugTarget

_INT64_MIN = -(1 << 63)
_UINT64_MAX = (1 << 64) - 1
_U32 = 0xFFFFFFFF


class ArgumentSource(enum.Enum):
    """Where the argument dict came from; QEMU 7.2 treats the three differently.

    QMP: `device_add` (QemuOpts round trip, lenient typing).  CLI: `-device driver,key=value`
    (all values strings; QEMU checks the id syntax when it parses the option, before any
    device is created).  CLI_JSON: `-device {...}` (strict JSON typing, no id syntax check).
    """

    QMP = "device_add"
    CLI = "-device key=value"
    CLI_JSON = "-device JSON"

    @property
    def keyval(self) -> bool:
        """True when values are text parsed per property type (QemuOpts), False for typed JSON."""
        return self is not ArgumentSource.CLI_JSON


# --- step 1: QemuOpts --------------------------------------------------------------------------


def _format_double(value: float) -> str:
    # qnum_to_string: printf("%.17g"), which Python's format reproduces (inf, -0, 1e+20 ...).
    return format(value, ".17g")


def _as_opt_string(value: object) -> str | None:
    """A JSON value as QemuOpts text (qemu_opts_from_qdict), None for what QEMU drops."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        # QEMU's JSON parser keeps integers that fit int64 or uint64, the rest become doubles.
        if _INT64_MIN <= value <= _UINT64_MAX:
            return str(value)
        try:
            return _format_double(float(value))
        except OverflowError:
            return "inf" if value > 0 else "-inf"
    if isinstance(value, float):
        return _format_double(value)
    return None  # null, arrays and objects


# --- step 6: QDict order -----------------------------------------------------------------------

_QDICT_BUCKETS = 512


def _key_bytes(key: str) -> bytes:
    # QEMU's JSON parser stores U+0000 as the overlong C0 80 (its strings are C strings).
    return key.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")


def qdict_bucket(key: str) -> int:
    """The QDict hash bucket of `key` (the tdb/gdbm hash QEMU's qdict.c uses, modulo 512)."""
    data = _key_bytes(key)
    value = (0x238F13AF * len(data)) & _U32
    for i, byte in enumerate(data):
        value = (value + (byte << (i * 5 % 24))) & _U32
    return ((1103515243 * value + 12345) & _U32) % _QDICT_BUCKETS


def property_order(keys: Iterable[str], source: ArgumentSource = ArgumentSource.QMP) -> list[str]:
    """The order QEMU 7.2 sets these properties in: by QDict bucket, then, for keys sharing a
    bucket, the reverse of the order given for QMP device_add and the order given for -device
    (as QEMU behaves: each QDict copy on the way reverses a bucket's list)."""
    given = list(keys)
    within = -1 if source is ArgumentSource.QMP else 1
    position = {key: i for i, key in enumerate(given)}
    return sorted(given, key=lambda key: (qdict_bucket(key), within * position[key]))


# --- steps 1-5 ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """A device_add that got as far as QEMU creating the device object.

    `properties` are (name, value) in the order QEMU sets them; values are QemuOpts text for
    keyval sources and the JSON values for CLI_JSON.  When `device_id` is None, QEMU has used up
    one `/machine/peripheral-anon/device[N]` number for this attempt, whatever happens next.
    """

    driver: str
    device_id: str | None
    properties: tuple[tuple[str, object], ...]
    source: ArgumentSource = ArgumentSource.QMP


def parse_device_request(
    arguments: Mapping[str, object],
    target: PlugTarget,
    *,
    existing_ids: Container[str] = frozenset(),
    source: ArgumentSource = ArgumentSource.QMP,
) -> DeviceRequest:
    """Steps 1-5 of the module docstring: id syntax, driver, bus, hotplug support, duplicate id.

    `arguments` is the device_add argument object (or the -device option as a dict, driver and
    id included); `existing_ids` are the ids of the devices under /machine/peripheral.
    """
    device_id: str | None
    if source.keyval:
        raw_id = arguments.get("id")
        device_id = raw_id if isinstance(raw_id, str) else None
        if device_id is not None and not id_wellformed(device_id):
            raise GenericError("Parameter 'id' expects an identifier")
        opts = {
            key: text
            for key, value in arguments.items()
            if key != "id"
            if (text := _as_opt_string(value)) is not None
        }
        driver, bus = opts.pop("driver", None), opts.pop("bus", None)
        properties: list[tuple[str, object]] = list(opts.items())
    else:
        raw_id, raw_driver, raw_bus = (arguments.get(key) for key in ("id", "driver", "bus"))
        device_id = raw_id if isinstance(raw_id, str) else None
        driver = raw_driver if isinstance(raw_driver, str) else None
        bus = raw_bus if isinstance(raw_bus, str) else None
        properties = [(k, v) for k, v in arguments.items() if k not in ("id", "driver", "bus")]

    if driver is None:
        raise GenericError("Parameter 'driver' is missing")
    if driver in target.abstract_types:
        raise GenericError("Parameter 'driver' expects a non-abstract device type")
    if driver in target.fixed_types:
        raise GenericError("Parameter 'driver' expects a pluggable device type")
    if driver not in target.devices:
        # vmd creates no other devices with device_add.
        raise GenericError(f"'{driver}' is not a valid device model name")
    if bus is not None:
        found = find_bus(target.buses, bus)
        raise GenericError(f"Device '{driver}' can't go on {found.type} bus")
    if not target.hotplug_handler:
        raise GenericError(f"Device '{driver}' can not be hotplugged on this machine")
    if device_id is not None and device_id in existing_ids:
        raise GenericError(f"Duplicate device ID '{device_id}'")

    values = dict(properties)
    order = property_order(values, source)
    return DeviceRequest(driver, device_id, tuple((key, values[key]) for key in order), source)
