"""How the guest model behaves towards CPU hotplug: set by -vmd-guest, changed at run time by
__com.vmd_set-guest-policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

from vmd.records import dataclass
from vmd.syntax import BadValue, parse_bool

UnplugPolicy = Literal["accept", "refuse", "ignore"]
UNPLUG_POLICIES: tuple[UnplugPolicy, ...] = ("accept", "refuse", "ignore")
PowerdownPolicy = Literal["shutdown", "ignore"]
POWERDOWN_POLICIES: tuple[PowerdownPolicy, ...] = ("shutdown", "ignore")
# The guest agent (qemu-ga): running and answering; not installed; answering each command only
# after agent_delay_ms; running with the port open but never answering (hung).
AgentPolicy = Literal["on", "off", "slow", "silent"]
AGENT_POLICIES: tuple[AgentPolicy, ...] = ("on", "off", "slow", "silent")


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
    # How busy its online CPUs are, in percent of the time: 0 rests in HLT as an idle kernel does
    # (a test double should cost nothing), 100 works all the time, anything between is a duty
    # cycle (load tests, autoscalers).
    load_percent: int = 0
    # The guest agent, where the machine has its channel (-device virtserialport,
    # name=org.qemu.guest_agent.0): it opens the port once the guest booted.
    agent: AgentPolicy = "on"
    agent_delay_ms: int = 1000  # how long a slow agent takes to answer each command

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


LOAD_WORDS = {"idle": 0, "busy": 100}


def _load(text: str) -> int:
    """`load=idle|busy|N`: N is a duty cycle in percent, 0 to 100."""
    if text in LOAD_WORDS:
        return LOAD_WORDS[text]
    if text.isascii() and text.isdigit() and int(text) <= 100:
        return int(text)
    raise PolicyError(f"-vmd-guest load={text}: expected idle, busy or a percentage from 0 to 100")


def parse_policy(options: Mapping[str, str]) -> GuestPolicy:
    """-vmd-guest auto-online=on|off,unplug=accept|refuse|ignore,delay-ms=MS,cpu0-hotplug=on|off,
    maxcpus=N,powerdown=shutdown|ignore,load=idle|busy|PERCENT,agent=on|off|slow|silent,
    agent-delay-ms=MS (`delay` is the older name of `delay-ms`)."""
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
        elif key == "agent":
            if text not in AGENT_POLICIES:
                raise PolicyError(f"-vmd-guest agent={text}: expected one of {', '.join(AGENT_POLICIES)}")
            policy = policy.replace(agent=text)
        elif key == "agent-delay-ms":
            policy = policy.replace(agent_delay_ms=_uint32(key, text))
        elif key in ("delay-ms", "delay"):
            policy = policy.replace(delay_ms=_uint32(key, text))
        elif key == "load":
            policy = policy.replace(load_percent=_load(text))
        elif key == "maxcpus":
            maxcpus = _uint32(key, text)
            if maxcpus < 1:
                raise PolicyError(f"-vmd-guest maxcpus={text}: expected a positive number")
            policy = policy.replace(maxcpus=maxcpus)
        else:
            raise PolicyError(
                f"-vmd-guest: unknown key '{key}' (auto-online, unplug, delay-ms, cpu0-hotplug, "
                "maxcpus, powerdown, load, agent, agent-delay-ms)"
            )
    return policy
