"""vmd's own commands (downstream extensions, named `__com.vmd_*` as the QMP spec asks): the guest
model's policy, and the guest's own view of its CPUs."""

from __future__ import annotations

from typing import Annotated

from vmd.qapi.registry import CommandSpec
from vmd.qapi.types import OnlyOn, QapiDeclaredEnum, QapiStruct, UInt8, UInt32


class GuestUnplugPolicy(QapiDeclaredEnum):
    ACCEPT = "accept"  # offline the CPU, then eject it (Linux)
    REFUSE = "refuse"  # report the CPU busy (_OST failure) and keep it
    IGNORE = "ignore"  # never answer the eject request


class GuestPowerdownPolicy(QapiDeclaredEnum):
    SHUTDOWN = "shutdown"  # the power button powers the guest off (SHUTDOWN guest-shutdown)
    IGNORE = "ignore"


class GuestAgentPolicy(QapiDeclaredEnum):
    ON = "on"  # the guest agent runs and answers
    OFF = "off"  # no guest agent: its port never opens
    SLOW = "slow"  # it answers each command agent-delay-ms late
    SILENT = "silent"  # it has its port open and never answers (hung)


class GuestPolicy(QapiStruct):
    auto_online: bool  # online hot-added CPUs (a udev rule's job on Linux)
    unplug: GuestUnplugPolicy
    delay_ms: UInt32  # before the guest reacts to each hotplug notification
    cpu0_hotplug: bool  # whether CPU 0 may go offline (Linux's cpu0_hotplug)
    powerdown: GuestPowerdownPolicy
    load_percent: UInt8  # how busy online CPUs are: 0 idle (HLT), 100 busy, between a duty cycle
    agent: GuestAgentPolicy  # the guest agent, where the machine has its channel
    agent_delay_ms: UInt32  # how late a slow agent answers
    maxcpus: UInt32 | None = None  # boot parameter: CPUs beyond it stay offline after boot


class SetGuestPolicyArgs(QapiStruct):
    auto_online: bool | None = None
    unplug: GuestUnplugPolicy | None = None
    delay_ms: UInt32 | None = None
    cpu0_hotplug: bool | None = None
    maxcpus: UInt32 | None = None
    powerdown: GuestPowerdownPolicy | None = None
    load_percent: UInt8 | None = None
    agent: GuestAgentPolicy | None = None
    agent_delay_ms: UInt32 | None = None


class GuestCpus(QapiStruct):
    """CPU lists in Linux sysfs range syntax (`0-3,5`), as /sys/devices/system/cpu shows them.
    `configured`: where CPUs can be present in standby (s390x), the present CPUs configured.
    `enabled` (aarch64): the CPUs the guest may bring online (arm64 Linux's `enabled`); with vCPU
    hotplug every possible CPU is present and hotplug changes which are enabled."""

    possible: str
    present: str
    online: str
    offline: str
    policy: GuestPolicy
    configured: Annotated[str | None, OnlyOn("s390x")] = None
    enabled: Annotated[str | None, OnlyOn("aarch64")] = None


class GuestSetCpuOnlineArgs(QapiStruct):
    cpu_index: int
    online: bool


class GuestSetCpuConfiguredArgs(QapiStruct):
    cpu_index: int
    configured: bool


COMMANDS = (
    CommandSpec(
        "__com.vmd_set-guest-policy",
        "Change how the guest model reacts to CPU hotplug; returns the policy now in force.",
        args=SetGuestPolicyArgs,
        returns=GuestPolicy,
    ),
    CommandSpec(
        "__com.vmd_query-guest-cpus",
        "The guest's view of its CPUs: possible, present, online and offline, and its policy.",
        returns=GuestCpus,
    ),
    CommandSpec(
        "__com.vmd_guest-set-cpu-online",
        "Online or offline a present CPU from inside the guest (as writing sysfs `online` does).",
        args=GuestSetCpuOnlineArgs,
    ),
    CommandSpec(
        "__com.vmd_guest-set-cpu-configured",
        "Configure a present CPU in standby, or deconfigure an offline one, from inside the guest "
        "(as Linux's chcpu -c / -g does on s390x).",
        args=GuestSetCpuConfiguredArgs,
        targets=("s390x",),
    ),
)
