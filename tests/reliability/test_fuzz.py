"""Fuzzed input from the peer's own query-qmp-schema, and raw byte mutation: after every input the
peer still answers, every message it sends is well formed, and no reply is lost."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from tests.peers import Peer
from tests.reliability.drivers import fuzz, schema_allowed
from tests.reliability.fuzz import RESYNC, SchemaFuzzer, reply_problem

ARGS = ("-M", "q35", "-smp", "1,maxcpus=4", "-S", "-no-shutdown")


async def test_vmd_holds_under_fuzzed_input(peers: Callable[..., Peer]) -> None:
    """Every kind of input, merged and split; the peers fixture also fails the test on any Python
    exception in vmd's log."""
    peer = peers("vmd", *ARGS)
    result = await fuzz(peer, 400, seed=12)
    assert result.problems == []
    assert (result.crashes, result.hangs, result.lost, result.malformed) == (0, 0, 0, 0)
    assert len(result.by_kind) == 11, result.by_kind
    assert peer.alive()


@pytest.mark.qemu
async def test_qemu_holds_under_the_same_fuzzer(peers: Callable[..., Peer]) -> None:
    """The same inputs (only commands vmd has too) keep QEMU 7.2 answering: the fuzzer's
    expectations are QEMU's behaviour, not vmd's."""
    peer = peers("qemu", *ARGS)
    result = await fuzz(peer, 60, seed=12)
    assert result.problems == []
    assert peer.alive()


def test_the_fuzzer_covers_every_kind_and_finds_an_internal_error() -> None:
    """The checker is not blind: a Python exception text in an error reply counts as a defect, a
    reply lacking class or desc as malformed."""
    import json

    from tests.peers import REPO

    schema = json.loads((REPO / "schemas" / "query-qmp-schema.json").read_text())
    fuzzer = SchemaFuzzer(schema, random.Random(1), schema_allowed("vmd"))
    kinds = {fuzzer.input().kind for _ in range(500)}
    assert len(kinds) == 11
    assert "quit" not in {c["name"] for c in fuzzer.commands}
    bad = {"error": {"class": "GenericError", "desc": "internal error in query-status: KeyError: 1"}}
    assert reply_problem(bad, "vmd") is not None
    assert reply_problem({"error": {"class": "GenericError"}}, "qemu") is not None
    assert reply_problem({"return": {}, "id": 1}, "vmd") is None
    assert RESYNC.startswith(b"\x1b")
