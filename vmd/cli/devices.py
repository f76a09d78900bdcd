"""The values of -device, -object, -global and -add-fd.

-device and -object come in two forms: QemuOpts (every value a string) and JSON (typed
values, `from_json=True`).
"""

from __future__ import annotations

import fcntl
import re
from types import MappingProxyType
from typing import cast

from vmd.cli.argv import Arg
from vmd.cli.errors import CommandLineError, EarlyExit, Invalid
from vmd.cli.json_arg import freeze_json, json_members
from vmd.cli.qemuopts import Opts, is_help, parse_opts
from vmd.cli.specs import GLOBAL
from vmd.config import AddFdConfig, DeviceConfig, GlobalConfig, ObjectConfig
from vmd.syntax import id_wellformed, qemu_strtou64

__all__ = ["add_fd", "global_config", "json_device", "json_object", "opts_object"]


def json_device(text: str) -> DeviceConfig:
    members = json_members(text)
    driver = members.get("driver")
    if not isinstance(driver, str):
        raise Invalid("Parameter 'driver' is missing")
    device_id = members.get("id")
    if not isinstance(device_id, str):
        device_id = None  # QEMU quietly treats an id that is not a string as no id
    props = {key: freeze_json(value) for key, value in members.items() if key not in ("driver", "id")}
    return DeviceConfig(driver, device_id, MappingProxyType(props), from_json=True)


def json_object(text: str) -> ObjectConfig:
    members = json_members(text)
    for key in ("qom-type", "id"):
        if key not in members:
            raise Invalid(f"Parameter '{key}' is missing")
        if not isinstance(members[key], str):
            raise Invalid(f"Invalid parameter type for '{key}', expected: string")
    qom_type, object_id = cast(str, members["qom-type"]), cast(str, members["id"])
    if not id_wellformed(object_id):
        raise CommandLineError("Parameter 'id' expects an identifier")  # QEMU says it without a location
    props = {key: freeze_json(value) for key, value in members.items() if key not in ("qom-type", "id")}
    return ObjectConfig(qom_type, object_id, MappingProxyType(props), from_json=True)


def opts_object(opts: Opts) -> ObjectConfig:
    qom_type = opts.get("qom-type")
    if qom_type is None:
        raise Invalid("Parameter 'qom-type' is missing")
    if is_help(qom_type):
        raise EarlyExit("object")
    if opts.get("help") == "on":
        raise EarlyExit("object", detail=qom_type)
    if opts.id is None:
        raise Invalid("Parameter 'id' is missing")
    return ObjectConfig(qom_type, opts.id, MappingProxyType(dict(opts.last_values(skip=("qom-type",)))))


_GLOBAL_SUGAR = re.compile(r"([^.=]{1,63})\.([^=]{1,63})=")


def global_config(text: str, taken: set[str]) -> GlobalConfig:
    """-global DRIVER.PROP=VALUE or driver=,property=,value= (`taken`: the ids -global handed out)."""
    if match := _GLOBAL_SUGAR.match(text):
        return GlobalConfig(match[1], match[2], text[match.end() :])
    opts = parse_opts(GLOBAL, text, abbrev=False, taken=taken)
    driver, prop, value = opts.get("driver"), opts.get("property"), opts.get("value")
    if driver is None or prop is None or value is None:
        raise Invalid("options 'driver', 'property', and 'value' are required")
    return GlobalConfig(driver, prop, value)


def _as_signed(number: int, bits: int) -> int:
    """What C makes of a uint64 stored into a signed `bits`-wide integer."""
    number &= (1 << bits) - 1
    return number - (1 << bits) if number >> (bits - 1) else number


def add_fd(arg: Arg, opts: Opts) -> AddFdConfig:
    """QEMU's checks of -add-fd (it also checks the fd is open; the daemon does that)."""
    fd_text, set_text = opts.get("fd"), opts.get("set")
    fd = -1 if fd_text is None else _as_signed(qemu_strtou64(fd_text), 32)
    if fd < 0:
        raise arg.error("fd option is required and must be non-negative")
    if fd <= 2:
        raise arg.error("fd cannot be a standard I/O stream")
    fdset = -1 if set_text is None else _as_signed(qemu_strtou64(set_text), 64)
    if fdset < 0:
        raise arg.error("set option is required and must be non-negative")
    try:
        fcntl.fcntl(fd, fcntl.F_GETFD)
    except OSError:
        raise arg.error("fd is not valid or already in use") from None
    return AddFdConfig(fd, fdset, opts.get("opaque"))
