"""The same byte conversations against real QEMU 7.2 and vmd: the replies must be the same.

Covers the protocol layer: negotiation, framing, every malformed-input case of
the spec (§1.4, §1.5), argument validation, ids, run-state commands and events.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.differential import converse
from tests.peers import Peer

pytestmark = pytest.mark.qemu

# Conversations sent before qmp_capabilities.
NEGOTIATION = {
    "command-before-negotiation": [b'{"execute": "query-status", "id": 1}'],
    "unknown-before-negotiation": [b'{"execute": "no-such-command", "id": 2}'],
    "exec-oob-before-negotiation": [b'{"exec-oob": "query-status", "id": 3}'],
    "bogus-capability": [b'{"execute": "qmp_capabilities", "arguments": {"enable": ["bogus"]}, "id": 4}'],
    "capability-wrong-element": [b'{"execute": "qmp_capabilities", "arguments": {"enable": [1]}, "id": 5}'],
    "capability-not-a-list": [b'{"execute": "qmp_capabilities", "arguments": {"enable": "oob"}, "id": 6}'],
    "capabilities-unexpected-arg": [b'{"execute": "qmp_capabilities", "arguments": {"x": 1}, "id": 7}'],
    "negotiate-then-again": [
        b'{"execute": "qmp_capabilities", "id": 8}',
        b'{"execute": "qmp_capabilities", "id": 9}',
        b'{"execute": "query-status", "id": 10}',
    ],
    "negotiate-oob-then-exec-oob": [
        b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": 11}',
        b'{"exec-oob": "query-status", "id": 12}',
        b'{"exec-oob": "query-status", "execute": "query-status", "id": 13}',
    ],
    # Alone: an exec-oob error overtakes queued in-band replies, in QEMU on thread timing.
    "negotiate-oob-then-bad-exec-oob": [
        b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": 11}',
        b'{"exec-oob": 5, "id": 14}',
    ],
    "garbage-before-negotiation": [b"garbage", b'{"id": 15}'],
    "oob-commands": [
        b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": 1}',
        b'{"exec-oob": "query-yank", "id": 2}',
        b'{"exec-oob": "yank", "arguments": {"instances": []}, "id": 3}',
        b'{"exec-oob": "yank", "arguments": {"instances": [{"type": "chardev", "id": "nope"}]}, "id": 4}',
        b'{"exec-oob": "yank", "arguments": {"instances": [{"type": "migration"}]}, "id": 5}',
        b'{"exec-oob": "yank", "arguments": {"instances": [{"type": "block-node", "node-name": "n"}]},'
        b' "id": 6}',
        b'{"exec-oob": "yank", "arguments": {"instances": [{"type": "chardev"}]}, "id": 7}',
        b'{"exec-oob": "yank", "arguments": {"instances": [{"type": "bogus"}]}, "id": 8}',
        b'{"exec-oob": "yank", "arguments": {"instances": [{"type": "chardev", "id": "x", "y": 1}]},'
        b' "id": 9}',
        b'{"exec-oob": "yank", "arguments": {"instances": [{"id": "x"}]}, "id": 10}',
        b'{"exec-oob": "yank", "arguments": {"instances": [5]}, "id": 11}',
    ],
}

# Conversations sent after qmp_capabilities (no OOB).
COMMAND_MODE = {
    "expecting-value": [b'{ "execute": }'],
    "invalid-keyword": [b"garbage"],
    "trailing-comma": [b'{"execute": "query-status", "id": 26,}'],
    "duplicate-key": [b'{"execute": "query-status", "execute": "query-status"}'],
    "leading-zero": [b'{"execute": "query-status", "id": 01}'],
    "plus-sign": [b'{"execute": "query-status", "id": +1}'],
    "leading-dot": [b'{"execute": "query-status", "id": .5}'],
    "upper-case-true": [b'{"execute": "query-status", "id": TRUE}'],
    "raw-tab-in-string": [b'{"execute": "query-status", "id": "a\tb"}'],
    "invalid-utf8": [b'{"execute": "query-status", "id": "\xc3\x28"}'],
    "lone-surrogate": [b'{"execute": "query-status", "id": "\\ud800"}'],
    "control-byte": [b"\x01"],
    "control-byte-2": [b"\x02"],
    "byte-ff": [b"\xff"],
    "array": [b"[1, 2]"],
    "string": [b'"hello"'],
    "number": [b"42"],
    "null": [b"null"],
    "empty-object": [b"{}"],
    "id-only": [b'{"id": 7}'],
    "execute-not-string": [b'{"execute": 1, "id": 8}'],
    "arguments-list": [b'{"execute": "query-status", "arguments": [], "id": 9}'],
    "arguments-null": [b'{"execute": "query-status", "arguments": null, "id": 10}'],
    "unexpected-member": [b'{"execute": "query-status", "bogus": 1, "id": 11}'],
    "control-member": [b'{"execute": "query-status", "control": {"run-oob": true}, "id": 12}'],
    "exec-oob-not-enabled": [b'{"exec-oob": "query-status", "id": 13}'],
    "unknown-command": [b'{"execute": "no-such-command", "id": 14}'],
    "unexpected-argument": [b'{"execute": "query-status", "arguments": {"x": 1}, "id": 15}'],
    "missing-argument": [b'{"execute": "qom-list", "id": 16}'],
    "missing-argument-empty-args": [b'{"execute": "qom-list", "arguments": {}, "id": 17}'],
    "wrong-argument-type": [b'{"execute": "qom-list", "arguments": {"path": 5}, "id": 18}'],
    "wrong-argument-type-bool": [b'{"execute": "qom-list", "arguments": {"path": true}, "id": 19}'],
    "null-argument": [b'{"execute": "qom-list", "arguments": {"path": null}, "id": 20}'],
    "argument-and-extra": [b'{"execute": "qom-list", "arguments": {"path": "/", "zzz": 1}, "id": 21}'],
    "missing-before-unexpected": [b'{"execute": "qom-list", "arguments": {"zzz": 1}, "id": 22}'],
    "unknown-qom-path": [b'{"execute": "qom-list", "arguments": {"path": "/nonexistent"}, "id": 23}'],
    "in-band-yank": [b'{"execute": "query-yank", "id": 1}', b'{"execute": "yank", "id": 2}'],
    "capabilities-again-with-bad-args": [
        b'{"execute": "qmp_capabilities", "arguments": {"enable": 5}, "id": 24}'
    ],
    # Past 1024 levels QEMU reports the error, then re-lexes the rest as fresh input.
    "nesting-limit-arrays": [b"[" * 1030 + b"]" * 1030],
    "nesting-limit-objects": [b'{"a": ' * 1030 + b"1" + b"}" * 1030],
    "nesting-at-the-limit": [b'{"execute": "query-status", "id": ' + b"[" * 1023 + b"]" * 1023 + b"}"],
    # ids of every JSON type are echoed structurally, numbers re-serialized.
    "id-types": [
        b'{"execute": "query-status", "id": [1, {"a": null}]}',
        b'{"execute": "query-status", "id": null}',
        b'{"execute": "query-status", "id": true}',
        b'{"execute": "query-status", "id": {"b": 1, "a": 2}}',
        b'{"execute": "query-status", "id": 1.5e3}',
        b'{"execute": "query-status", "id": -0}',
        b'{"execute": "query-status", "id": 18446744073709551615}',
        b'{"execute": "query-status", "id": -9223372036854775808}',
        b'{"execute": "query-status", "id": "\\u00e9\\u263a\\ud83d\\ude00"}',
        b'{"execute": "query-status", "id": "\\/"}',
    ],
    "no-id": [b'{"execute": "query-status"}'],
    # Framing: one object over several lines and writes, several in one write, whitespace, quotes.
    "multi-line": [b'{"execute":"query-status",\n "id":\n 17}'],
    "split-writes": [b'{"execute": "query-st', b'atus", "id": 18}'],
    "back-to-back": [b'{"execute": "query-status", "id": 18}{"execute": "query-status", "id": 19}'],
    "whitespace-only": [b"\n\n   \r\n", b'{"execute": "query-status", "id": 20}'],
    "single-quotes": [b"{'execute': 'query-status', 'id': 'sq'}"],
    "single-quote-escape": [b"{'execute': 'query-status', 'id': 'it\\'s'}"],
    "recovery-after-half-object": [
        b'{"execute": "query-status", "id": ',
        b"\x02",
        b'{"execute": "query-status", "id": 2}',
    ],
    "pretty-printed": [b'{\n    "execute": "query-status",\n    "id": "pretty"\n}\n'],
    # Run state and its events (event before reply).
    "run-state": [
        b'{"execute": "query-status", "id": "s0"}',
        b'{"execute": "stop", "id": "s1"}',
        b'{"execute": "query-status", "id": "s2"}',
        b'{"execute": "cont", "id": "s3"}',
        b'{"execute": "query-status", "id": "s4"}',
        b'{"execute": "cont", "id": "s5"}',
        b'{"execute": "stop", "id": "s6"}',
        b'{"execute": "stop", "id": "s7"}',
        b'{"execute": "query-status", "id": "s8"}',
        b'{"execute": "system_reset", "id": "s9"}',
        b'{"execute": "query-status", "id": "s10"}',
        b'{"execute": "system_powerdown", "id": "s11"}',
        b'{"execute": "query-status", "id": "s12"}',
    ],
    # Statistics: validation, and the kvm provider (QEMU under TCG registers none; vmd has no KVM).
    "stats": [
        b'{"execute": "query-stats-schemas", "arguments": {"provider": "kvm"}, "id": 1}',
        b'{"execute": "query-stats", "arguments": {"target": "vcpu", "providers": [{"provider": "kvm"}]},'
        b' "id": 2}',
        b'{"execute": "query-stats", "arguments": {"target": "vm", "providers": [{"provider": "kvm",'
        b' "names": ["exits"]}]}, "id": 3}',
        b'{"execute": "query-stats", "arguments": {"target": "bogus"}, "id": 4}',
        b'{"execute": "query-stats", "arguments": {}, "id": 5}',
        b'{"execute": "query-stats", "id": 6}',
        b'{"execute": "query-stats", "arguments": {"target": 1}, "id": 7}',
        b'{"execute": "query-stats", "arguments": {"target": "vm", "vcpus": ["x"]}, "id": 8}',
        b'{"execute": "query-stats", "arguments": {"target": "vcpu", "extra": 1}, "id": 9}',
        b'{"execute": "query-stats", "arguments": {"target": "vcpu", "vcpus": "x"}, "id": 10}',
        b'{"execute": "query-stats", "arguments": {"target": "vcpu", "vcpus": [1]}, "id": 11}',
        b'{"execute": "query-stats", "arguments": {"target": "vcpu", "providers": [{}]}, "id": 12}',
        b'{"execute": "query-stats", "arguments": {"target": "vcpu", "providers": [{"provider": "bogus"}]},'
        b' "id": 13}',
        b'{"execute": "query-stats", "arguments": {"target": "vcpu", "providers": [{"provider": "kvm",'
        b' "names": "x"}]}, "id": 14}',
        b'{"execute": "query-stats", "arguments": {"target": "vcpu", "providers": [{"provider": "kvm",'
        b' "bogus": 1}]}, "id": 15}',
        b'{"execute": "query-stats", "arguments": {"target": "vcpu", "providers": {"provider": "kvm"}},'
        b' "id": 16}',
        b'{"execute": "query-stats-schemas", "arguments": {"provider": "bogus"}, "id": 17}',
        b'{"execute": "query-stats-schemas", "arguments": {"provider": 1}, "id": 18}',
        b'{"execute": "query-stats-schemas", "arguments": {"extra": 1}, "id": 19}',
    ],
    # Commands whose answer is "none" in vmd and in QEMU alike, and their argument errors.
    "command-line-options": [
        b'{"execute": "query-command-line-options", "arguments": {"option": "bogus"}, "id": 1}',
        b'{"execute": "query-command-line-options", "arguments": {"option": 5}, "id": 2}',
        b'{"execute": "query-iothreads", "id": 3}',
        b'{"execute": "query-jobs", "id": 4}',
    ],
    "facts": [
        b'{"execute": "query-name", "id": 1}',
        b'{"execute": "query-uuid", "id": 2}',
        b'{"execute": "query-target", "id": 3}',
        b'{"execute": "query-version", "id": 4}',
    ],
}


@pytest.fixture
def both(peers: Callable[..., Peer]) -> tuple[Peer, Peer]:
    args = ("-M", "q35", "-S")
    return peers("qemu", *args), peers("vmd", *args)


@pytest.mark.parametrize("writes", NEGOTIATION.values(), ids=NEGOTIATION.keys())
async def test_negotiation_like_qemu(both: tuple[Peer, Peer], writes: list[bytes]) -> None:
    qemu, vmd = both
    expected = await converse(qemu.socket, writes, negotiate=False)
    assert await converse(vmd.socket, writes, negotiate=False) == expected


@pytest.mark.parametrize("writes", COMMAND_MODE.values(), ids=COMMAND_MODE.keys())
async def test_command_mode_like_qemu(both: tuple[Peer, Peer], writes: list[bytes]) -> None:
    qemu, vmd = both
    expected = await converse(qemu.socket, writes)
    assert await converse(vmd.socket, writes) == expected


async def test_named_vm_like_qemu(peers: Callable[..., Peer]) -> None:
    args = ("-M", "q35", "-S", "-name", "demo", "-uuid", "5b8b7c5e-2c1f-4a41-9d4e-1b0a4d2a9f10")
    writes = [b'{"execute": "query-name", "id": 1}', b'{"execute": "query-uuid", "id": 2}']
    qemu, vmd = peers("qemu", *args), peers("vmd", *args)
    assert await converse(vmd.socket, writes) == await converse(qemu.socket, writes)
