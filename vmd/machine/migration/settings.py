"""Migration capabilities and parameters, as QEMU 7.2 names, defaults and checks them.

Every capability of QEMU 7.2 is listed (libvirt only sets those it sees listed).  Switching one
off is always accepted; switching one on is accepted where vmd does what it means (`events`,
`pause-before-switchover`, `return-path`, `validate-uuid`) or where it means nothing without
block devices (`late-block-activate`, `zero-blocks`), and refused by name otherwise: accepting
`postcopy-ram` or `multifd` would promise a behaviour vmd does not have.

Parameters: all of QEMU 7.2's, with its defaults and range checks (its texts, which name the C
member).  `max-bandwidth` and `downtime-limit` steer the migration; TLS is refused (vmd
migrates over local sockets and fds); the others are kept and reported, and only matter to
features whose capability vmd refuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vmd.errors import GenericError

CAPABILITIES = (
    "xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "compress", "events", "postcopy-ram",
    "x-colo", "release-ram", "block", "return-path", "pause-before-switchover", "multifd",
    "dirty-bitmaps", "postcopy-blocktime", "late-block-activate", "x-ignore-shared", "validate-uuid",
    "background-snapshot", "zero-copy-send", "postcopy-preempt",
)  # fmt: skip
HONOURED = frozenset(
    {
        "events",
        "pause-before-switchover",
        "return-path",
        "validate-uuid",
        "late-block-activate",
        "zero-blocks",
    }
)

# query-migrate-parameters at start-up, QEMU 7.2's values.
DEFAULT_PARAMETERS: dict[str, Any] = {
    "announce-initial": 50, "announce-max": 550, "announce-rounds": 5, "announce-step": 100,
    "compress-level": 1, "compress-threads": 8, "compress-wait-thread": True, "decompress-threads": 2,
    "throttle-trigger-threshold": 50, "cpu-throttle-initial": 20, "cpu-throttle-increment": 10,
    "cpu-throttle-tailslow": False, "tls-creds": "", "tls-hostname": "", "tls-authz": "",
    "max-bandwidth": 134217728, "downtime-limit": 300, "x-checkpoint-delay": 20000,
    "block-incremental": False, "multifd-channels": 2, "xbzrle-cache-size": 67108864,
    "max-postcopy-bandwidth": 0, "max-cpu-throttle": 99, "multifd-compression": "none",
    "multifd-zlib-level": 1, "multifd-zstd-level": 1,
}  # fmt: skip

MAX_DOWNTIME_MS = 2000 * 1000


def _range(name: str, value: int, low: int, high: int, style: str) -> None:
    if not low <= value <= high:
        c_name = name.replace("-", "_")
        if style == "between":
            raise GenericError(f"Parameter '{c_name}' expects a value between {low} and {high}")
        raise GenericError(f"Parameter '{c_name}' expects an integer in the range of {low} to {high}")


def check_parameters(changes: dict[str, Any]) -> None:
    """QEMU 7.2's migrate_params_check, in its order, then vmd's own refusal of TLS."""
    checks = (
        ("compress-level", 0, 9, "between"),
        ("compress-threads", 1, 255, "between"),
        ("decompress-threads", 1, 255, "between"),
        ("throttle-trigger-threshold", 1, 100, "range"),
        ("cpu-throttle-initial", 1, 99, "range"),
        ("cpu-throttle-increment", 1, 99, "range"),
    )
    for name, low, high, style in checks:
        if name in changes:
            _range(name, changes[name], low, high, style)
    if "downtime-limit" in changes and changes["downtime-limit"] > MAX_DOWNTIME_MS:
        raise GenericError(
            "Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms"
        )
    if "multifd-channels" in changes:
        _range("multifd-channels", changes["multifd-channels"], 1, 255, "between")
    if "multifd-zlib-level" in changes:
        _range("multifd-zlib-level", changes["multifd-zlib-level"], 0, 9, "between")
    if "multifd-zstd-level" in changes:
        _range("multifd-zstd-level", changes["multifd-zstd-level"], 0, 20, "between")
    if "xbzrle-cache-size" in changes:
        size = changes["xbzrle-cache-size"]
        if size < 4096 or size & (size - 1):
            raise GenericError(
                "Parameter 'xbzrle_cache_size' expects a power of two no less than the target page size"
            )
    if "max-cpu-throttle" in changes:
        _range("max-cpu-throttle", changes["max-cpu-throttle"], 1, 99, "range")
    for name in ("announce-initial", "announce-max", "announce-step"):
        if name in changes:
            _range(name, changes[name], 1, 100000, "range")
    if "announce-rounds" in changes:
        _range("announce-rounds", changes["announce-rounds"], 1, 1000, "range")
    for name in ("tls-creds", "tls-hostname", "tls-authz"):
        if changes.get(name):
            raise GenericError(f"Parameter '{name}': vmd does not migrate over TLS")


class MigrationSettings:
    """The capabilities' states and the parameters' values of this process."""

    def __init__(self) -> None:
        self._caps = dict.fromkeys(CAPABILITIES, False)
        self.parameters: dict[str, Any] = dict(DEFAULT_PARAMETERS)

    # -- capabilities --------------------------------------------------------------------------

    def items(self) -> list[tuple[str, bool]]:
        return list(self._caps.items())

    def enabled(self, name: str) -> bool:
        return self._caps[name]

    def set(self, changes: Iterable[tuple[str, bool]]) -> None:
        """All or nothing, as QEMU applies a migrate-set-capabilities."""
        changes = list(changes)
        for name, state in changes:
            if state and name not in HONOURED:
                raise GenericError(f"Migration capability '{name}' is not supported by vmd")
        for name, state in changes:
            self._caps[name] = state

    # -- parameters ----------------------------------------------------------------------------

    def set_parameters(self, changes: dict[str, Any]) -> None:
        check_parameters(changes)
        for name, value in changes.items():
            self.parameters[name] = "" if value is None and name.startswith("tls-") else value

    @property
    def max_bandwidth(self) -> int:
        """Bytes per second; 0 (as QEMU reads it) means no limit."""
        return int(self.parameters["max-bandwidth"])

    @property
    def downtime_limit_ms(self) -> int:
        return int(self.parameters["downtime-limit"])
