"""The option table of each target against the QEMU 7.2 binary of that target.

Every QEMU binary knows the same option names; each refuses the options whose arch mask
leaves it out, with "Option not supported for this target", when the option loop reaches
them.  NOT_FOR_TARGET records what qemu-system-<target> 7.2 (Debian 1:7.2+dfsg-7+deb12u18)
refuses; `test_vmd_refuses_what_qemu_refuses` holds vmd to it and
`test_qemu_refuses_the_same` checks it again against the binaries installed here.
"""

from __future__ import annotations

import pytest

from tests.unit.cli.common import outcome_of, qemu_first_error
from tests.unit.cli.test_options import QEMU_OPTIONS_WITH_ARG, QEMU_OPTIONS_WITHOUT_ARG
from vmd.cli import TARGETS, CommandLineError, EarlyExit, Target, parse_command_line
from vmd.config import Config

_XEN = ("xen-attach", "xen-domid", "xen-domid-restrict")
NOT_FOR_TARGET: dict[Target, frozenset[str]] = {
    "x86_64": frozenset({"g", "old-param", "prom-env", "semihosting", "semihosting-config", *_XEN}),
    "ppc64": frozenset({
        "acpitable", "no-acpi", "no-fd-bootchk", "no-hpet", "old-param", "semihosting", "semihosting-config",
        "smbios", "win2k-hack", *_XEN,
    }),
    "s390x": frozenset({
        "acpitable", "g", "no-acpi", "no-fd-bootchk", "no-hpet", "old-param", "prom-env", "semihosting",
        "semihosting-config", "smbios", "win2k-hack", *_XEN,
    }),
    "aarch64": frozenset({"acpitable", "g", "no-fd-bootchk", "no-hpet", "prom-env", "win2k-hack", *_XEN}),
}  # fmt: skip

TARGET_SPECIFIC = sorted(frozenset().union(*NOT_FOR_TARGET.values()))
# Options every target has, a few of each kind (handled, sugar, ignored, refused by vmd).
COMMON = ("m", "smp", "machine", "cpu", "device", "object", "S", "nodefaults", "usb", "bios", "rtc", "boot",
          "mem-prealloc", "drive", "s", "async-teardown")  # fmt: skip
SAMPLE = TARGET_SPECIFIC + sorted(COMMON)
_WITH_ARG = frozenset(QEMU_OPTIONS_WITH_ARG)


def parse_for(target: Target, *argv: str) -> Config:
    return parse_command_line(list(argv), target=target)


def _argv(name: str) -> list[str]:
    """The option (with a dummy argument if it takes one), then an option that fails for sure."""
    return [f"-{name}", *(["x"] if name in _WITH_ARG else []), "-m", "12Q"]


def _not_for_target(name: str) -> str:
    return f"-{name}{' x' if name in _WITH_ARG else ''}: Option not supported for this target"


def _vmd_outcome(target: Target, argv: list[str]) -> str:
    try:
        parse_for(target, *argv)
    except CommandLineError as exc:
        return exc.message
    except EarlyExit:
        return "early exit"
    return "ok"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", SAMPLE)
def test_vmd_refuses_what_qemu_refuses(target: Target, name: str) -> None:
    refused = _vmd_outcome(target, _argv(name)) == _not_for_target(name)
    assert refused == (name in NOT_FOR_TARGET[target])


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_knows_every_qemu_option(target: Target) -> None:
    for name in QEMU_OPTIONS_WITH_ARG:
        assert _vmd_outcome(target, [f"-{name}"]) == f"-{name}: requires an argument"
    for name in QEMU_OPTIONS_WITHOUT_ARG:
        outcome = _vmd_outcome(target, [f"-{name}"])
        assert "invalid option" not in outcome
        assert "requires an argument" not in outcome


def test_x86_64_is_the_default_target() -> None:
    assert outcome_of("-prom-env", "x") == "-prom-env x: Option not supported for this target"
    assert parse_command_line(["-no-hpet"]) == parse_for("x86_64", "-no-hpet")


def test_an_unknown_target_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown target 'riscv64'"):
        parse_command_line([], target="riscv64")  # type: ignore[arg-type]  # a target outside Target, on purpose


def test_prom_env_on_ppc64_is_accepted_and_counted() -> None:
    config = parse_for("ppc64", "-prom-env", "boot-device=disk", "-prom-env", "auto-boot?=false")
    assert config.ignored_options == (("-prom-env", "boot-device=disk"), ("-prom-env", "auto-boot?=false"))
    too_many = [arg for number in range(129) for arg in ("-prom-env", f"v{number}=1")]
    with pytest.raises(CommandLineError) as caught:
        parse_for("ppc64", *too_many)
    assert caught.value.message == "-prom-env v128=1: too many prom variables"


def test_target_sugar_and_refusals() -> None:
    assert parse_for("aarch64", "-no-acpi").machine_props == {"acpi": "off"}
    assert parse_for("aarch64", "-old-param", "-smbios", "type=0").ignored_options == (
        ("-old-param", ""),
        ("-smbios", "type=0"),
    )
    assert _vmd_outcome("aarch64", ["-semihosting"]) == "-semihosting: not supported by vmd"
    assert _vmd_outcome("ppc64", ["-no-acpi"]) == "-no-acpi: Option not supported for this target"


@pytest.mark.parametrize("target", TARGETS)
def test_help_names_the_target(target: Target) -> None:
    with pytest.raises(EarlyExit) as caught:
        parse_for(target, "-help")
    assert f"vmd accepts qemu-system-{target}'s command line." in caught.value.text


# -g WIDTHxHEIGHT[xDEPTH] on ppc64: what QEMU accepts and what it refuses (checked live below).
GRAPHIC_MODES = {
    "800x600": True, "800x600x32": True, " 800x600": True, "+800x600": True, "800x 600": True,
    "800x600x+16": True, "1x1x1": True, "0800x0600": True, "4294967297x1": True,
    "800x600x3": False, "0x600": False, "800": False, "800x600y": False, "800x-1": False,
    "9999999999999999999x1": False, "800x600x": False, "x600": False, "": False,
}  # fmt: skip


@pytest.mark.parametrize(("mode", "accepted"), GRAPHIC_MODES.items())
def test_ppc64_graphic_modes(mode: str, accepted: bool) -> None:
    outcome = _vmd_outcome("ppc64", ["-g", mode])
    assert outcome == ("ok" if accepted else f"-g {mode}: invalid resolution or depth")


# --------------------------------------------------------------------------------------
# The same questions, asked of QEMU
# --------------------------------------------------------------------------------------


@pytest.mark.qemu
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", SAMPLE)
def test_qemu_refuses_the_same(target: Target, name: str) -> None:
    said = qemu_first_error(_argv(name), target)
    assert said is not None, f"QEMU did not fail at once on {_argv(name)}"
    assert "invalid option" not in said
    assert (said == _not_for_target(name)) == (name in NOT_FOR_TARGET[target])


@pytest.mark.qemu
@pytest.mark.parametrize(("mode", "accepted"), GRAPHIC_MODES.items())
def test_qemu_ppc64_reads_graphic_modes_the_same(mode: str, accepted: bool) -> None:
    said = qemu_first_error(["-g", mode, "-m", "12Q"], "ppc64")
    assert said == ("-m 12Q: Parameter 'size' expects a non-negative number below 2^64" if accepted
                    else f"-g {mode}: invalid resolution or depth")  # fmt: skip


@pytest.mark.qemu
def test_qemu_ppc64_counts_prom_variables_the_same() -> None:
    too_many = [arg for number in range(129) for arg in ("-prom-env", f"v{number}=1")]
    assert qemu_first_error(too_many, "ppc64") == "-prom-env v128=1: too many prom variables"
