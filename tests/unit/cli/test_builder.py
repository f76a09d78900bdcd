"""Options of the life cycle, accepted-and-ignored options, and vmd's own (vmd.cli.builder)."""

from __future__ import annotations

import pytest

from tests.unit.cli.common import UUID, parse
from vmd.cli import CommandLineError


def test_uuid_is_stored_in_lower_case() -> None:
    assert parse("-uuid", UUID.upper()).uuid == UUID


def test_incoming_the_last_one_counts() -> None:
    """The URI is checked as QEMU checks it (tests/unit/cli/test_errors_vs_qemu.py), the last one
    given counts, and the VM waits for its stream in inmigrate (tests/qmp/test_migration.py)."""
    assert parse("-incoming", "tcp:0:4444", "-incoming", "defer").incoming == "defer"
    assert parse("-incoming", "unix:/tmp/mig").incoming == "unix:/tmp/mig"
    assert parse().incoming is None


def test_actions() -> None:
    assert parse("-no-reboot").no_reboot
    assert parse("-action", "shutdown=pause").no_shutdown
    config = parse("-no-shutdown", "-action", "shutdown=poweroff,panic=none")
    assert not config.no_shutdown
    assert config.ignored_options == (("-action", "shutdown=poweroff,panic=none"),)


def test_guest_policy() -> None:
    config = parse("-vmd-guest", "unplug=ack,online.delay-ms=10", "-vmd-guest", "unplug=ignore")
    assert config.guest_policy == {"unplug": "ignore", "online.delay-ms": "10"}


def test_log_file_and_limits_are_vmds_own() -> None:
    config = parse(
        "-D", "/tmp/vmd.log", "-vmd-limits", "max-message=64k,max-output=1M", "-vmd-limits", "queue-depth=4"
    )
    assert config.log_file == "/tmp/vmd.log"
    assert config.limits == {"max-message": 65536, "max-output": 1 << 20, "queue-depth": 4}
    assert config.ignored_options == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bogus=1", "-vmd-limits bogus=1: Invalid parameter 'bogus'"),
        ("max-message=big", "-vmd-limits max-message=big: Parameter 'max-message' expects a size"),
        ("queue-depth=0", "-vmd-limits queue-depth=0: Parameter 'queue-depth' must be positive"),
    ],
)
def test_limit_errors(value: str, message: str) -> None:
    with pytest.raises(CommandLineError) as caught:
        parse("-vmd-limits", value)
    assert caught.value.message == message


def test_ignored_options_are_listed_not_dropped() -> None:
    config = parse(
        "-rtc", "base=utc", "-k", "en-us", "-vga", "std", "-vga", "none", "-vnc", ":0",
        "-d", "guest_errors", "-trace", "enable=qmp*", "-seed", "42", "-display", "gtk", "-snapshot",
        "-net", "none", "-parallel", "none",
    )  # fmt: skip
    assert config.ignored_options == (
        ("-rtc", "base=utc"),
        ("-k", "en-us"),
        ("-vga", "std"),
        ("-vnc", ":0"),
        ("-d", "guest_errors"),
        ("-trace", "enable=qmp*"),
        ("-seed", "42"),
        ("-display", "gtk"),
        ("-snapshot", ""),
    )
    assert config.display == "gtk"
