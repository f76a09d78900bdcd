"""How the guest model behaves towards CPU hotplug: set by -vmd-guest, changed at run time by
__com.vmd_set-guest-policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from vmd.syntax import BadValue, parse_bool

UnplugPolicy = Literal["accept", "refuse", "ignore"]
UNPLUG_POLICIES: tuple[UnplugPolicy, ...] = ("accept", "refuse", "ignore")
PowerdownPolicy = Literal["shutdown", "ignore"]
POWERDOWN_POLICIES: tuple[PowerdownPolicy, ...] = ("shutdown", "ignore")


@dataclass(frozen=True, slots=True)
class GuestPolicy:
    # Linux leaves a hot-added CPU offline unless a udev rule (or an agent) onlines it; most
    # distributions ship that rule, so the model does it by default.
    auto_online: bool = True
    unplug: UnplugPolicy = "accept"
    delay_ms: int = 0  # before the guest acts on each hotplug notification
    cpu0_hotplug: bool = False  # Linux keeps CPU 0 online unless booted with cpu0_hotplug
    maxcpus: int | None = None  # boot parameter: CPUs past it stay offline after boot
    # What the ACPI power button does: a Linux guest with systemd-logind or acpid powers off.
    powerdown: PowerdownPolicy = "shutdown"

    def replace(self, **changes: object) -> GuestPolicy:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


class PolicyError(ValueError):
    pass


UINT32_MAX = 0xFFFFFFFF


def _uint32(key: str, text: str) -> int:
    """A number as QEMU's keyval visitor reads a uint32 member: decimal digits only (QEMU's
    words when it is not a number, and when it does not fit)."""
    if not text.isascii() or not text.isdigit():
        raise PolicyError(f"-vmd-guest {key}={text}: Parameter '{key}' expects uint32_t")
    number = int(text)
    if number > UINT32_MAX:
        raise PolicyError(f"-vmd-guest {key}={text}: Parameter '{key}' expects uint32_t")
    return number


def parse_policy(options: Mapping[str, str]) -> GuestPolicy:
    """-vmd-guest auto-online=on|off,unplug=accept|refuse|ignore,delay-ms=MS,cpu0-hotplug=on|off,
    maxcpus=N,powerdown=shutdown|ignore (`delay` is the older name of `delay-ms`)."""
    policy = GuestPolicy()
    for key, text in options.items():
        if key in ("auto-online", "cpu0-hotplug"):
            try:
                flag = parse_bool(text)
            except BadValue:
                raise PolicyError(f"-vmd-guest {key}={text}: expected on or off") from None
            policy = policy.replace(**{key.replace("-", "_"): flag})
        elif key == "unplug":
            if text not in UNPLUG_POLICIES:
                raise PolicyError(f"-vmd-guest unplug={text}: expected one of {', '.join(UNPLUG_POLICIES)}")
            policy = policy.replace(unplug=text)
        elif key == "powerdown":
            if text not in POWERDOWN_POLICIES:
                raise PolicyError(
                    f"-vmd-guest powerdown={text}: expected one of {', '.join(POWERDOWN_POLICIES)}"
                )
            policy = policy.replace(powerdown=text)
        elif key in ("delay-ms", "delay"):
            policy = policy.replace(delay_ms=_uint32(key, text))
        elif key == "maxcpus":
            maxcpus = _uint32(key, text)
            if maxcpus < 1:
                raise PolicyError(f"-vmd-guest maxcpus={text}: expected a positive number")
            policy = policy.replace(maxcpus=maxcpus)
        else:
            raise PolicyError(
                f"-vmd-guest: unknown key '{key}' "
                "(auto-online, unplug, delay-ms, cpu0-hotplug, maxcpus, powerdown)"
            )
    return policy
