"""-vmd-guest: the guest model's policy from the command line, every number range-checked."""

from __future__ import annotations

import subprocess

import pytest

from tests.peers import vmd_command
from vmd.guest.policy import GuestPolicy, PolicyError, parse_policy


def test_every_key() -> None:
    policy = parse_policy(
        {
            "auto-online": "off",
            "unplug": "refuse",
            "delay-ms": "25",
            "cpu0-hotplug": "on",
            "maxcpus": "2",
            "powerdown": "ignore",
        }
    )
    assert policy == GuestPolicy(
        auto_online=False, unplug="refuse", delay_ms=25, cpu0_hotplug=True, maxcpus=2, powerdown="ignore"
    )
    assert parse_policy({"delay": "7"}).delay_ms == 7  # the older name of delay-ms
    assert [parse_policy({"load": w}).load_percent for w in ("idle", "busy", "0", "35", "100")] == [
        0,
        100,
        0,
        35,
        100,
    ]
    assert parse_policy({"auto-online": "n", "cpu0-hotplug": "y"}) == GuestPolicy(
        auto_online=False, cpu0_hotplug=True
    )
    assert parse_policy({"delay-ms": "4294967295"}).delay_ms == 4294967295


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"delay": "99999999999999999999999"},
            "-vmd-guest delay=99999999999999999999999: Parameter 'delay' expects uint32_t",
        ),
        ({"delay-ms": "4294967296"}, "-vmd-guest delay-ms=4294967296: Parameter 'delay-ms' expects uint32_t"),
        ({"delay-ms": "-1"}, "-vmd-guest delay-ms=-1: Parameter 'delay-ms' expects uint32_t"),
        ({"delay-ms": "1e3"}, "-vmd-guest delay-ms=1e3: Parameter 'delay-ms' expects uint32_t"),
        ({"delay-ms": "\u0663"}, "-vmd-guest delay-ms=\u0663: Parameter 'delay-ms' expects uint32_t"),
        ({"maxcpus": "0"}, "-vmd-guest maxcpus=0: expected a positive number"),
        ({"load": "101"}, "-vmd-guest load=101: expected idle, busy or a percentage from 0 to 100"),
        ({"load": "half"}, "-vmd-guest load=half: expected idle, busy or a percentage from 0 to 100"),
        ({"maxcpus": "4294967296"}, "-vmd-guest maxcpus=4294967296: Parameter 'maxcpus' expects uint32_t"),
        ({"unplug": "maybe"}, "-vmd-guest unplug=maybe: expected one of accept, refuse, ignore"),
        ({"auto-online": "maybe"}, "-vmd-guest auto-online=maybe: expected on or off"),
        (
            {"colour": "blue"},
            "-vmd-guest: unknown key 'colour' "
            "(auto-online, unplug, delay-ms, cpu0-hotplug, maxcpus, powerdown, load, agent, agent-delay-ms)",
        ),
    ],
)
def test_refusals(options: dict[str, str], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(options)
    assert str(caught.value) == message


def test_the_daemon_refuses_to_start_with_an_out_of_range_number() -> None:
    done = subprocess.run(
        [*vmd_command(), "-vmd-guest", "delay=99999999999999999999999", "-S"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        1,
        "vmd: -vmd-guest delay=99999999999999999999999: Parameter 'delay' expects uint32_t\n",
    )
