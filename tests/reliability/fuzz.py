"""Inputs for a QMP peer, built from the peer's own `query-qmp-schema`, and what a reply may look like.

`SchemaFuzzer.input()` gives one input: bytes to send, split into the writes to send them in, and
the `id` whose reply must come back (None when the input is not a well-formed request, so that no
reply with an id can be required).  Well-formed requests carry ids "r-N"; mutated ones "u-N", which
a peer may or may not echo.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# What no fuzzer may send: commands that end the peer or write files with made-up names (QEMU has
# many), and HMP, whose random lines could say `quit`.
NEVER = frozenset(
    {
        "quit",
        "system_powerdown",
        "human-monitor-command",
        "migrate",
        "dump-guest-memory",
        "screendump",
        "memsave",
        "pmemsave",
        "x-exit-preconfig",
    }
)

# A lexical error (a control character is one even inside a string) puts QEMU's JSON parser, and
# vmd's, back to the start, whatever state an input left it in.
RESYNC = b"\x1b\n"

HUGE_NUMBERS = (
    b"18446744073709551616",
    b"-9223372036854775809",
    b"99999999999999999999999",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"-0",
    b"1.7976931348623157e308",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"18446744073709551615",
    b"4294967296",
    b"0x10",
    b"1.5",
)

# Long strings: up to past vmd's 1 MiB request limit.  QEMU 7.2 reads its monitor one byte per
# main-loop turn (tens of us each on a loaded machine: a 64 KiB string takes seconds), so its runs
# use LONG_STRINGS_QEMU.
LONG_STRINGS = (1000, 65536, 300_000, 1_100_000)
LONG_STRINGS_QEMU = (1000, 4096, 16384)

INVALID_UTF8 = (
    b"\xc3\x28",
    b"\xa0\xa1",
    b"\xe2\x28\xa1",
    b"\xf0\x28\x8c\xbc",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xff",
)
BYTES_OF_INTEREST = b'{}[]",:\\\x00\xff\xfe\n\r\t \x1b0-eE.u'


@dataclass
class Input:
    kind: str
    chunks: list[bytes]
    expect_id: str | None


class SchemaFuzzer:
    """Random requests for the commands of one schema (its `query-qmp-schema` answer)."""

    def __init__(
        self,
        schema: list[dict[str, Any]],
        rng: random.Random,
        allowed: Callable[[str], bool],
        string_sizes: tuple[int, ...] = (),
    ) -> None:
        self.rng = rng
        self.string_sizes = string_sizes or LONG_STRINGS
        self.types = {entry["name"]: entry for entry in schema if entry["meta-type"] != "command"}
        self.commands = sorted(
            (entry for entry in schema if entry["meta-type"] == "command" and allowed(entry["name"])),
            key=lambda entry: entry["name"],
        )
        self.serial = 0
        self.kinds: list[tuple[str, Callable[[], Input]]] = [
            ("valid", self._valid),
            ("wrong-type", self._wrong_type),
            ("missing-member", self._missing),
            ("extra-member", self._extra),
            ("huge-number", self._huge_number),
            ("deep-nesting", self._deep_nesting),
            ("long-string", self._long_string),
            ("invalid-utf8", self._invalid_utf8),
            ("nul-byte", self._nul),
            ("bad-structure", self._bad_structure),
            ("byte-mutation", self._byte_mutation),
            ("byte-mutation", self._byte_mutation),
            ("byte-mutation", self._byte_mutation),
        ]

    # -- values of a type

    def value(self, type_name: str, depth: int = 0) -> Any:
        entry = self.types.get(type_name)
        if entry is None or depth > 6:
            return None
        meta = entry["meta-type"]
        rng = self.rng
        if meta == "builtin":
            return self._builtin(entry["json-type"])
        if meta == "enum":
            values = entry.get("values") or [m["name"] for m in entry.get("members", [])]
            return rng.choice(values) if values else ""
        if meta == "array":
            return [self.value(entry["element-type"], depth + 1) for _ in range(rng.randrange(3))]
        if meta == "alternate":
            return self.value(rng.choice(entry["members"])["type"], depth + 1)
        if meta == "object":
            return self._object(entry, depth)
        return None

    def _builtin(self, json_type: str) -> Any:
        rng = self.rng
        if json_type == "int":
            return rng.choice([0, 1, -1, 2, 7, 255, rng.randrange(-(2**63), 2**63)])
        if json_type == "number":
            return rng.choice([0.0, 1.5, -2.25, 1e10])
        if json_type == "boolean":
            return rng.random() < 0.5
        if json_type == "null":
            return None
        if json_type == "string":
            return self._word()
        return rng.choice([1, "x", [], {}, None, True])

    def _word(self) -> str:
        rng = self.rng
        choices = [
            "",
            "cpu1",
            "/machine",
            "/machine/peripheral/c1",
            "qemu64-x86_64-cpu",
            "a" * rng.randrange(1, 40),
        ]
        return (
            rng.choice(choices) if rng.random() < 0.7 else "".join(rng.choice("ab/-_.,=0é") for _ in range(8))
        )

    def _object(self, entry: dict[str, Any], depth: int) -> dict[str, Any]:
        rng = self.rng
        out: dict[str, Any] = {}
        for member in entry.get("members", []):
            if "default" in member and rng.random() < 0.5:
                continue
            out[member["name"]] = self.value(member["type"], depth + 1)
        for variant in entry.get("variants", [])[:1] if entry.get("variants") else []:
            tag = entry.get("tag")
            if tag is not None:
                out[tag] = variant["case"]
                variant_type = self.types.get(variant["type"])
                if variant_type is not None:
                    out.update(self._object(variant_type, depth + 1))
        return out

    def _wrong(self, right: Any) -> Any:
        candidates = [1, -5, 1.5, "str", True, None, [], {}, [1, "a"], {"a": 1}]
        return self.rng.choice([c for c in candidates if type(c) is not type(right)])

    # -- requests

    def _command(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        command = self.rng.choice(self.commands)
        arg_type = self.types.get(command["arg-type"], {"members": []})
        args = self._object(arg_type, 0) if arg_type.get("meta-type") == "object" else {}
        return command["name"], args, arg_type

    def _next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def _request(self, kind: str, name: str, args: dict[str, Any] | None) -> Input:
        request_id = self._next_id("r")
        request: dict[str, Any] = {"execute": name, "id": request_id}
        if args is not None:
            request["arguments"] = args
        return Input(kind, [json.dumps(request).encode()], request_id)

    def _valid(self) -> Input:
        name, args, _ = self._command()
        return self._request("valid", name, args if args or self.rng.random() < 0.5 else None)

    def _wrong_type(self) -> Input:
        name, args, _ = self._command()
        if args:
            key = self.rng.choice(list(args))
            args[key] = self._wrong(args[key])
            return self._request("wrong-type", name, args)
        # Arguments that are not an object at all: what this input is about.
        return self._request("wrong-type", name, self.rng.choice([[], 1, "x", None]))  # type: ignore[arg-type]

    def _missing(self) -> Input:
        name, args, _ = self._command()
        if args:
            del args[self.rng.choice(list(args))]
        return self._request("missing-member", name, args)

    def _extra(self) -> Input:
        name, args, _ = self._command()
        args[self.rng.choice(["x", "id", "arguments", "execute", "", "\u00e9", "a" * 300])] = self._word()
        if self.rng.random() < 0.3:
            request_id = self._next_id("r")
            request = {"execute": name, "arguments": args, "id": request_id, "unknown": 1}
            return Input("extra-member", [json.dumps(request).encode()], request_id)
        return self._request("extra-member", name, args)

    def _huge_number(self) -> Input:
        name, args, _ = self._command()
        key = self.rng.choice(list(args)) if args else "n"
        args[key] = "@@NUMBER@@"
        number = self.rng.choice(HUGE_NUMBERS)
        # 0x10 is no JSON: the request is a parse error then, and no id can be asked for.
        valid = number != b"0x10"
        request_id = self._next_id("r" if valid else "u")
        text = json.dumps({"execute": name, "arguments": args, "id": request_id}).encode()
        return Input("huge-number", [text.replace(b'"@@NUMBER@@"', number)], request_id if valid else None)

    def _deep_nesting(self) -> Input:
        depth = self.rng.choice([10, 100, 1000, 1023, 1024, 1025, 1100, 3000])
        opener, closer = self.rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        value = opener * depth + b"1" + closer * depth
        name, _, _ = self._command()
        if self.rng.random() < 0.5:
            request_id = self._next_id("u")
            text = b'{"execute": %s, "arguments": {"x": %s}, "id": "%s"}' % (
                json.dumps(name).encode(),
                value,
                request_id.encode(),
            )
            return Input("deep-nesting", [text], None)
        return Input("deep-nesting", [value], None)

    def _long_string(self) -> Input:
        size = self.rng.choice(self.string_sizes)
        name, args, _ = self._command()
        where = self.rng.random()
        text = "é" * (size // 2) if self.rng.random() < 0.2 else "x" * size
        # Past 1 MiB vmd refuses the request as too big (a parse-level error, so no id); QEMU's
        # limit is 64 MiB: its id may or may not come back.
        request_id = self._next_id("r" if size < 1_000_000 else "u")
        request: dict[str, object]
        if where < 0.4:
            request = {"execute": text, "id": request_id}
        elif where < 0.8:
            key = self.rng.choice(list(args)) if args else "s"
            args[key] = text
            request = {"execute": name, "arguments": args, "id": request_id}
        else:
            request_id = self._next_id("r")
            request = {"execute": name, "id": {"big": text, "n": request_id}}
            encoded = json.dumps(request).encode()
            return Input("long-string", [encoded], None)
        encoded = json.dumps(request).encode()
        return Input("long-string", [encoded], request_id if request_id[0] == "r" else None)

    def _invalid_utf8(self) -> Input:
        name, args, _ = self._command()
        request_id = self._next_id("u")
        bad = self.rng.choice(INVALID_UTF8)
        text = json.dumps({"execute": name, "arguments": {**args, "s": "@@"}, "id": request_id}).encode()
        if self.rng.random() < 0.5:
            text = text.replace(b"@@", b"a" + bad + b"b")
        else:
            text = text.replace(json.dumps(name).encode(), b'"' + bad + b'"', 1)
        return Input("invalid-utf8", [text], None)

    def _nul(self) -> Input:
        name, _, _ = self._command()
        request_id = self._next_id("u")
        variants = [
            b'{"execute": "%s\x00", "id": "%s"}',
            b'{"execute": "%s", "arguments": {"s": "a\\u0000b"}, "id": "%s"}',
            b'{"execute"\x00: "%s", "id": "%s"}',
            b'\x00{"execute": "%s", "id": "%s"}',
        ]
        return Input("nul-byte", [self.rng.choice(variants) % (name.encode(), request_id.encode())], None)

    def _bad_structure(self) -> Input:
        name, args, _ = self._command()
        rng = self.rng
        request_id = self._next_id("r")
        shapes: list[tuple[Any, bool]] = [
            ([], False),
            (1, False),
            ("execute", False),
            (None, False),
            ({"execute": 1, "id": request_id}, True),
            ({"execute": name, "arguments": [], "id": request_id}, True),
            ({"execute": name, "exec-oob": name, "id": request_id}, True),
            ({"exec-oob": name, "id": request_id}, True),
            ({"id": request_id}, True),
            ({"execute": name, "control": {"run-oob": True}, "id": request_id}, True),
            ({"execute": name, "id": {"n": request_id, "deep": [[[1]]]}}, False),
            ({"execute": name, "arguments": args, "id": [request_id, None, 1.5]}, False),
        ]
        shape, has_id = rng.choice(shapes)
        return Input("bad-structure", [json.dumps(shape).encode()], request_id if has_id else None)

    def _byte_mutation(self) -> Input:
        name, args, _ = self._command()
        request_id = self._next_id("u")
        data = bytearray(json.dumps({"execute": name, "arguments": args, "id": request_id}).encode())
        rng = self.rng
        for _ in range(rng.randrange(1, 6)):
            op = rng.randrange(6)
            pos = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
            elif op == 1:
                data.insert(pos, rng.choice(BYTES_OF_INTEREST))
            elif op == 2 and data:
                del data[min(pos, len(data) - 1)]
            elif op == 3:
                end = min(len(data), pos + rng.randrange(1, 16))
                data[pos:pos] = data[pos:end] * rng.randrange(1, 4)
            elif op == 4:
                del data[pos:]
            else:
                data.insert(pos, rng.randrange(256))
        return Input("byte-mutation", [bytes(data)], None)

    # -- the public part

    def input(self) -> Input:
        _, make = self.rng.choice(self.kinds)
        made = make()
        whole = b"".join(made.chunks)
        if len(whole) > 2 and self.rng.random() < 0.25:  # split writes
            cuts = sorted(
                self.rng.sample(range(1, len(whole)), min(len(whole) - 1, self.rng.randrange(1, 4)))
            )
            made.chunks = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
        return made


def reply_problem(message: Any, kind: str) -> str | None:
    """Why `message` is no well-formed QMP server message (None when it is one)."""
    if not isinstance(message, dict):
        return f"not an object: {message!r:.200}"
    if "event" in message:
        if set(message) - {"event", "data", "timestamp"} or not isinstance(message["event"], str):
            return f"malformed event: {message!r:.200}"
        stamp = message.get("timestamp")
        if not isinstance(stamp, dict) or set(stamp) != {"seconds", "microseconds"}:
            return f"event without a timestamp: {message!r:.200}"
        return None
    if set(message) - {"return", "error", "id"} or ("return" in message) == ("error" in message):
        return f"neither a return nor an error: {message!r:.200}"
    if "error" in message:
        error = message["error"]
        if not isinstance(error, dict) or set(error) != {"class", "desc"}:
            return f"malformed error: {message!r:.200}"
        if not isinstance(error["class"], str) or not isinstance(error["desc"], str):
            return f"malformed error: {message!r:.200}"
        # An unexpected exception in a vmd handler: a defect even though it is answered.
        if kind == "vmd" and ("internal error" in error["desc"] or "Traceback" in error["desc"]):
            return f"internal error: {error['desc']:.300}"
    return None
