"""Questions instead of a VM: -help, -version, `help` values (vmd.cli.help)."""

from __future__ import annotations

import re

import pytest

from tests.unit.cli.common import early_exit, error_of
from vmd.cli.help import GUEST_POLICY_KEYS, LIMIT_KEYS_HELP
from vmd.cli.specs import LIMIT_KEYS
from vmd.firmware.standard import MAX_CPUS as MAX_VCPUS
from vmd.guest.policy import GuestPolicy, PolicyError, parse_policy
from vmd.machine.board import VMD_MAX_CPUS
from vmd.qmp.limits import SessionLimits
from vmd.syntax import qemu_strtosz


def test_version() -> None:
    answer = early_exit("-version")
    assert answer.topic == "version"
    assert answer.text.startswith("QEMU emulator version 7.2.0 (vmd ")


@pytest.mark.parametrize("option", ["-h", "-help", "--help"])
def test_help(option: str) -> None:
    answer = early_exit(option)
    assert answer.topic == "help"
    assert "-qmp unix:PATH" in answer.text


def test_a_bad_option_before_help_still_fails_and_one_after_it_too() -> None:
    assert error_of("-m", "x", "-help") == "-m x: Parameter 'size' expects a non-negative number below 2^64"
    assert error_of("-help", "-foo") == "-foo: invalid option"


@pytest.mark.parametrize(
    ("argv", "topic", "detail"),
    [
        (["-machine", "help"], "machine", None),
        (["-M", "?"], "machine", None),
        (["-machine", "q35,help"], "machine", "q35"),
        (["-accel", "help"], "accel", None),
        (["-accel", "thread=single"], "accel", None),
        (["-cpu", "help"], "cpu", None),
        (["-device", "help"], "device", None),
        (["-device", "virtio-net-pci,help"], "device", "virtio-net-pci"),
        (["-object", "help"], "object", None),
        (["-object", "secret,help"], "object", "secret"),
        (["-display", "help"], "display", None),
        (["-vga", "help"], "vga", None),
        (["-audiodev", "help"], "audiodev", None),
        (["-d", "help"], "log", None),
    ],
)
def test_help_topics_the_caller_renders(argv: list[str], topic: str, detail: str | None) -> None:
    answer = early_exit(*argv)
    assert (answer.topic, answer.detail, answer.text) == (topic, detail, "")


def test_option_key_help_is_rendered_here() -> None:
    answer = early_exit("-m", "1G,help")
    assert answer.topic == "options"
    assert answer.text == "memory options:\n  maxmem=<size>\n  size=<size>\n  slots=<num>\n"
    assert early_exit("-smp", "2,help").text.startswith("smp-opts options:\n  clusters=<num>\n")


def test_cpu_help_waits_for_the_whole_line() -> None:
    # QEMU answers -cpu help only after reading every option
    assert error_of("-cpu", "help", "-m", "x").startswith("-m x: ")


def test_vmd_guest_help_lists_the_guest_policy_keys() -> None:
    for argv in (["-vmd-guest", "help"], ["-vmd-guest", "unplug=refuse,help"]):
        answer = early_exit(*argv)
        assert (answer.topic, answer.detail) == ("options", "vmd-guest")
        assert answer.text == GUEST_HELP


GUEST_HELP = """vmd-guest options:
  agent=<on|off|slow|silent> - the guest agent on its channel: answers, is absent, answers late, or hangs (default: on)
  agent-delay-ms=<MS>    - milliseconds a slow guest agent takes to answer each command (default: 1000)
  auto-online=<on|off>   - a hot-added CPU goes online at once, as a udev rule does (default: on)
  cpu0-hotplug=<on|off>  - CPU 0 may go offline, as in Linux booted with cpu0_hotplug (default: off)
  delay-ms=<MS>          - milliseconds the guest waits before it acts on a hotplug event (default: 0; older name: delay)
  load=<idle|busy|PERCENT> - how busy online CPUs are: idle rests in HLT, busy works all the time, PERCENT a duty cycle (default: idle)
  maxcpus=<N>            - the CPUs present at boot past the first N stay offline, as Linux's maxcpus= (default: all)
  powerdown=<shutdown|ignore> - what the guest does when the ACPI power button is pressed (default: shutdown)
  unplug=<accept|refuse|ignore> - the guest's answer to an eject request: eject, busy, none (default: accept)
"""  # noqa: E501


def test_the_guest_policy_keys_are_those_the_guest_model_reads() -> None:
    """The command line lists the keys without importing the guest model: this keeps them in step."""
    with pytest.raises(PolicyError) as unknown:
        parse_policy({"bogus": "1"})
    named = re.search(r"\((.*)\)", str(unknown.value))
    assert named is not None
    assert [key for key, _, _ in GUEST_POLICY_KEYS] == sorted(named[1].split(", "))
    samples = {"auto-online": "off", "cpu0-hotplug": "on", "delay-ms": "10", "delay": "10", "maxcpus": "2",
               "powerdown": "ignore", "unplug": "refuse", "agent-delay-ms": "50"}  # fmt: skip
    placeholders = {"PERCENT": "40"}
    for key, values, _ in GUEST_POLICY_KEYS:
        for word in values.split("|") if "|" in values else [samples[key]]:
            parse_policy({key: placeholders.get(word, word)})
    parse_policy({"delay": "10"})  # the older name the help mentions
    defaults = GuestPolicy()
    stated = {key: re.findall(r"default: ([^;)]+)", what)[0] for key, _, what in GUEST_POLICY_KEYS}
    assert stated == {
        "agent": defaults.agent,
        "agent-delay-ms": str(defaults.agent_delay_ms),
        "auto-online": "on" if defaults.auto_online else "off",
        "cpu0-hotplug": "on" if defaults.cpu0_hotplug else "off",
        "delay-ms": str(defaults.delay_ms),
        "maxcpus": "all" if defaults.maxcpus is None else str(defaults.maxcpus),
        "powerdown": defaults.powerdown,
        "unplug": defaults.unplug,
        "load": {0: "idle", 100: "busy"}.get(defaults.load_percent, str(defaults.load_percent)),
    }


def test_help_describes_vmds_own_options() -> None:
    text = early_exit("-help").text
    ignored = text[text.index("Accepted and ignored") :]
    assert "-D" not in ignored  # -D is vmd's log file, not an ignored option
    for wanted in (
        "-D FILE   vmd's log (default: stderr)",
        "VMD_LOG_LEVEL",
        "-bios FILE   a raw vmd-ISA image",
        "-serial chardev:ID|file:PATH|null|stdio|pty|none",
        f"-machine ...,{VMD_MAX_CPUS}=N   vmd's own: up to N vCPUs (at most {MAX_VCPUS})",
        "delay-ms=MS (older name: delay)",
        "-vmd-guest help",
        *(f"{key}={values}" for key, values, _ in GUEST_POLICY_KEYS),
        *(f"{key}={default} " for key, _, default in LIMIT_KEYS_HELP),
    ):
        assert wanted in text


def test_help_gives_the_session_limits_vmd_applies() -> None:
    assert [key for key, _, _ in LIMIT_KEYS_HELP] == list(LIMIT_KEYS)
    defaults = SessionLimits()
    for key, _, default in LIMIT_KEYS_HELP:
        assert qemu_strtosz(default) == getattr(defaults, key.replace("-", "_"))
