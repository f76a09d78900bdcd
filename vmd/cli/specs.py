"""The QemuOpts lists of QEMU 7.2's options: their keys, the keys' types, the implied key.

The types decide the checks and the error wording ("Parameter 'slots' expects a number").
The value vocabularies of a few keys (-action, -sandbox) are here too; other vocabularies
live with the parser of their option.
"""

from __future__ import annotations

from collections.abc import Mapping

from vmd.cli.qemuopts import OptsSpec, OptType

B: OptType = "bool"
S: OptType = "str"
N: OptType = "num"
Z: OptType = "size"

CHARDEV_KEYS: dict[str, OptType] = {
    "abstract": B, "append": B, "backend": S, "chardev": S, "clipboard": B, "cols": N,
    "debug": N, "delay": B, "fd": S, "height": N, "host": S, "ipv4": B, "ipv6": B,
    "localaddr": S, "localport": S, "logappend": B, "logfile": S, "mouse": B, "mux": B,
    "name": S, "nodelay": B, "path": S, "port": S, "reconnect": N, "rows": N, "server": B,
    "signal": B, "size": Z, "telnet": B, "tight": B, "tls-authz": S, "tls-creds": S,
    "tn3270": B, "to": N, "wait": B, "websocket": B, "width": N,
    "mode": S,  # vmd's own: permissions of a unix socket vmd creates (vmd.cli.chardev checks it)
}  # fmt: skip

CHARDEV = OptsSpec("chardev", "backend", CHARDEV_KEYS)
MON = OptsSpec("mon", "chardev", {"mode": S, "chardev": S, "pretty": B})
MEMORY = OptsSpec("memory", "size", {"size": Z, "slots": N, "maxmem": Z}, merge=True)
NAME = OptsSpec("name", "guest", {"guest": S, "process": S, "debug-threads": B}, merge=True)
DEVICE = OptsSpec("device", "driver")
OBJECT = OptsSpec("object", "qom-type")
NUMA = OptsSpec("numa", "type")
ACCEL = OptsSpec("accel", "accel")
ADD_FD = OptsSpec("add-fd", None, {"fd": N, "set": N, "opaque": S})
GLOBAL = OptsSpec("global", None, {"driver": S, "property": S, "value": S})
RTC = OptsSpec("rtc", None, {"base": S, "clock": S, "driftfix": S}, merge=True)
MSG = OptsSpec("msg", None, {"timestamp": B, "guest-name": B})
OVERCOMMIT = OptsSpec("overcommit", None, {"mem-lock": B, "cpu-pm": B})
# -vmd-limits keys: the fields of vmd.qmp.limits.SessionLimits, dashed.
LIMIT_KEYS = ("max-message", "max-nesting", "queue-depth", "write-high-water", "max-output")

ACTION = OptsSpec("action", None, {"shutdown": S, "reboot": S, "panic": S, "watchdog": S}, merge=True)
SANDBOX = OptsSpec(
    "sandbox",
    "enable",
    {"enable": B, "obsolete": S, "elevateprivileges": S, "spawn": S, "resourcecontrol": S},
    merge=True,
)
# Only for `-smp 2,help` and `-boot help`: the keys, as QEMU lists them.
SMP_KEYS = ("cpus", "sockets", "dies", "clusters", "cores", "threads", "maxcpus")  # QAPI member order
SMP_HELP = OptsSpec("smp-opts", "cpus", dict.fromkeys(SMP_KEYS, N))
BOOT_KEYS: dict[str, OptType] = {
    "order": S, "once": S, "menu": B, "splash": S, "splash-time": N, "reboot-timeout": N, "strict": B,
}  # fmt: skip
BOOT_HELP = OptsSpec("boot-opts", "order", BOOT_KEYS)

ACTION_VALUES: Mapping[str, tuple[str, ...]] = {
    "shutdown": ("poweroff", "pause"),
    "reboot": ("reset", "shutdown"),
    "panic": ("pause", "shutdown", "exit-failure", "none"),
    "watchdog": ("reset", "shutdown", "poweroff", "pause", "debug", "none", "inject-nmi"),
}
SANDBOX_VALUES: Mapping[str, tuple[str, ...]] = {
    "obsolete": ("allow", "deny"),
    "elevateprivileges": ("allow", "deny", "children"),
    "spawn": ("allow", "deny"),
    "resourcecontrol": ("allow", "deny"),
}
