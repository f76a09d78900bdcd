"""Character devices and what uses them: -chardev, -qmp, -mon, -serial, and the legacy syntax.

-chardev is checked as QEMU checks it when it creates the chardev.  -qmp and -serial also take
QEMU's old one-string syntax ("unix:PATH,server=on", "file:x", "tcp::4444", "stdio", ...).
Monitors and serial ports may name chardevs defined later on the line, so they are resolved
once the whole line is read (`resolve_monitors`, `connect_serials`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from vmd.cli.argv import Arg
from vmd.cli.errors import Invalid
from vmd.cli.qemuopts import Opts, OptsSpec, opts_items
from vmd.cli.specs import CHARDEV, CHARDEV_KEYS
from vmd.config import ChardevConfig, InheritedFd, MonitorConfig, MonitorEndpoint, SerialConfig, UnixPath
from vmd.records import dataclass
from vmd.syntax import parse_bool, qemu_strtou64

__all__ = [
    "HMP_REFUSED",
    "MONITOR_SOCKETS_ONLY",
    "LegacySyntax",
    "MonitorRequest",
    "SerialRequest",
    "add_chardev",
    "chardev_props",
    "connect_serials",
    "legacy_chardev",
    "resolve_monitors",
]

HMP_REFUSED = "vmd implements only QMP monitors (mode=control); the human monitor (HMP) is not supported"
MONITOR_SOCKETS_ONLY = "vmd serves QMP only on unix sockets (path=PATH or an inherited fd=N)"

# The chardev backends of QEMU 7.2 as Debian builds it, and the deprecated aliases.
_CHARDEV_BACKENDS = frozenset({
    "stdio", "ringbuf", "mux", "pipe", "qemu-vdagent", "null", "msmouse", "socket", "vc", "parallel", "udp",
    "memory", "file", "serial", "wctablet", "pty", "testdev",
})  # fmt: skip
_CHARDEV_ALIASES = {"tty": "serial", "parport": "parallel"}
_SUN_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux, terminating NUL included


@dataclass(frozen=True)
class MonitorRequest:
    """A monitor as asked for; it is resolved once every chardev is known."""

    arg: Arg
    chardev_id: str | None
    mode: str | None
    pretty: bool
    id: str | None = None


@dataclass(frozen=True)
class SerialRequest:
    arg: Arg
    chardev_id: str | None = None  # `-serial chardev:ID`
    backend: tuple[str, dict[str, str]] | None = None  # `-serial file:x` and the like


# --- -chardev ---------------------------------------------------------------------------


def _normalized(items: list[tuple[str, str]]) -> dict[str, str]:
    """Each key once (its last value); booleans as "on"/"off" whatever the spelling was."""
    props: dict[str, str] = {}
    for key, value in items:
        props[key] = ("on" if parse_bool(value) else "off") if CHARDEV_KEYS.get(key) == "bool" else value
    return props


def chardev_props(opts: Opts) -> dict[str, str]:
    return _normalized([(key, value) for key, value in opts.items if key != "backend"])


def add_chardev(
    chardevs: dict[str, ChardevConfig],
    chardev_id: str,
    backend: str,
    props: dict[str, str],
    location: str = "",
) -> None:
    """Check a chardev as QEMU does when it creates it, and add it to `chardevs`.

    `location` is the option that makes it ("-chardev socket,..."): what QEMU prefixes the errors
    of opening it with."""
    backend = _CHARDEV_ALIASES.get(backend, backend)
    if backend not in _CHARDEV_BACKENDS:
        raise Invalid(f"'{backend}' is not a valid char driver name")
    _check_chardev(backend, props)
    chardevs[chardev_id] = ChardevConfig(chardev_id, backend, MappingProxyType(props), location)


def _check_chardev(backend: str, props: Mapping[str, str]) -> None:
    """QEMU's checks when it creates the chardev."""
    needs_path = {
        "file": "chardev: file: no filename given",
        "pipe": "chardev: pipe: no device path given",
        "serial": "chardev: serial/tty: no device path given",
        "parallel": "chardev: parallel: no device path given",
    }
    if backend in needs_path and "path" not in props:
        raise Invalid(needs_path[backend])
    if backend == "socket":
        _check_socket(props)
    if "mode" in props:
        if backend != "socket":
            raise Invalid("Invalid parameter 'mode'")
        _socket_mode(props["mode"])


def _check_socket(props: Mapping[str, str]) -> None:
    where = [key for key in ("path", "fd", "host") if key in props]
    if len(where) > 1:
        raise Invalid("None or one of 'path', 'fd' or 'host' option required.")
    if not where:
        raise Invalid("Unable to parse FD number ")  # sic, QEMU 7.2's words when none is given
    if "host" in props and "port" not in props:
        raise Invalid("chardev: socket: no port given")
    if "delay" in props and "nodelay" in props:
        raise Invalid("'delay' and 'nodelay' are mutually exclusive")
    if "fd" in props and "reconnect" in props:  # QEMU checks this first, even reconnect=0
        raise Invalid("'reconnect' option is incompatible with 'fd' address type")
    server = props.get("server") == "on"
    if not server and "wait" in props:
        raise Invalid("'wait' option is incompatible with socket in client connect mode")
    if server and "reconnect" in props:
        raise Invalid("'reconnect' option is incompatible with socket in server listen mode")
    if "fd" in props:
        _socket_fd(props["fd"])
    path = props.get("path")
    if path is not None and len(path.encode("utf-8", "surrogateescape")) >= _SUN_PATH_MAX:
        # QEMU finds out when it binds or connects; the first line of its message.
        raise Invalid(f"UNIX socket path '{path}' is too long")


def _socket_fd(text: str) -> int:
    # QEMU reads it with qemu_strtoi (base 10, into a C int).
    if not re.fullmatch(r"[ \t\n\v\f\r]*[+-]?[0-9]+", text):
        raise Invalid(f"Unable to parse FD number {text}")
    fd = int(text)
    if not -(1 << 31) <= fd < 1 << 31:
        raise Invalid(f"Unable to parse FD number {text}: Numerical result out of range")
    if fd < 0:
        raise Invalid(f"File descriptor '{text}' is not a socket")
    return fd


def _socket_mode(text: str) -> int:
    """vmd's mode=0660: the permissions of a socket file vmd creates."""
    if not re.fullmatch(r"0?[0-7]{1,3}", text):
        raise Invalid(f"Parameter 'mode' expects octal permissions such as 0660, not '{text}'")
    return int(text, 8)


# --- monitors ---------------------------------------------------------------------------


def resolve_monitors(
    requests: list[MonitorRequest], chardevs: Mapping[str, ChardevConfig]
) -> tuple[MonitorConfig, ...]:
    """The monitors, in command-line order, once every chardev is known."""
    in_use: set[str] = set()
    return tuple(_monitor(request, chardevs, in_use) for request in requests)


def _monitor(
    request: MonitorRequest, chardevs: Mapping[str, ChardevConfig], in_use: set[str]
) -> MonitorConfig:
    arg = request.arg
    mode = request.mode or "readline"  # QEMU's default for -mon
    if mode not in ("readline", "control"):
        raise arg.error(f"Parameter 'mode' does not accept value '{mode}'")
    if request.chardev_id is None:
        raise arg.error("Parameter 'chardev' is missing")
    chardev = chardevs.get(request.chardev_id)
    if chardev is None:
        raise arg.error(f'chardev "{request.chardev_id}" not found')
    if mode == "readline":
        raise arg.error(f"{HMP_REFUSED}: add mode=control")
    if chardev.id in in_use:
        raise arg.error(f"Device '{chardev.id}' is in use")
    in_use.add(chardev.id)
    try:
        return _monitor_socket(request, chardev)
    except Invalid as exc:
        raise arg.error(str(exc)) from None


def _monitor_socket(request: MonitorRequest, chardev: ChardevConfig) -> MonitorConfig:
    """Where a QMP monitor is: a socket vmd listens on (server=on), or one connection (QEMU's client
    mode: vmd connects to `path`, or `fd` is connected already)."""
    props = chardev.props
    if chardev.backend != "socket" or props.get("mux") == "on":
        raise Invalid(f"{MONITOR_SOCKETS_ONLY}, not on a '{chardev.backend}' chardev")
    if "host" in props:
        raise Invalid(f"{MONITOR_SOCKETS_ONLY}, not on TCP (host={props['host']})")
    for key in ("telnet", "tn3270", "websocket"):
        if props.get(key) == "on":
            raise Invalid(f"vmd does not support {key}=on on a monitor socket")
    if "tls-creds" in props:
        raise Invalid("vmd does not support TLS on monitor sockets")
    server = props.get("server") == "on"
    if "mode" in props and not server:
        raise Invalid("Parameter 'mode' is for a socket file vmd creates, with server=on")
    path = props.get("path")
    endpoint: MonitorEndpoint
    if path is None:
        endpoint = InheritedFd(_socket_fd(props["fd"]))
    elif props.get("abstract") == "on":
        raise Invalid("vmd does not support abstract unix sockets")
    else:
        endpoint = UnixPath(path)
    return MonitorConfig(
        endpoint=endpoint,
        chardev_id=chardev.id,
        server=server,
        # QEMU's default: a server waits for its first client (a client has no wait: checked above)
        wait=server and props.get("wait", "on") == "on",
        pretty=request.pretty,
        socket_mode=_socket_mode(props["mode"]) if "mode" in props else 0o600,
        id=request.id,
        reconnect=_reconnect(props.get("reconnect", "0")),
        location=chardev.location,
    )


def _reconnect(text: str) -> int:
    """QEMU reads reconnect= as a uint64 into an int64: only a positive result reconnects."""
    seconds = qemu_strtou64(text)
    return seconds if seconds < 1 << 63 else 0


# --- serial ports -----------------------------------------------------------------------


def connect_serials(
    requests: list[SerialRequest], chardevs: dict[str, ChardevConfig]
) -> tuple[SerialConfig, ...]:
    """Connect the -serial ports; an inline backend becomes chardev "serialN" as in QEMU."""
    serials: list[SerialConfig] = []
    for request in requests:
        index = len(serials)
        if request.backend is not None:
            chardev_id = f"serial{index}"
            if chardev_id in chardevs:
                raise request.arg.error(f"Duplicate ID '{chardev_id}' for chardev")
            try:
                add_chardev(chardevs, chardev_id, *request.backend)
            except Invalid as exc:
                raise request.arg.error(str(exc)) from None
        else:
            assert request.chardev_id is not None
            chardev_id = request.chardev_id
            if chardev_id not in chardevs:
                raise request.arg.error(
                    f"could not connect serial device to character backend '{request.arg.value}'"
                )
        serials.append(SerialConfig(index, chardev_id))
    return tuple(serials)


# --- the legacy syntax ------------------------------------------------------------------

_LEGACY_PATH_BACKENDS = (("file:", "file"), ("pipe:", "pipe"))
_LEGACY_TCP_PREFIXES = {"tcp:": None, "telnet:": "telnet", "tn3270:": "tn3270", "websocket:": "websocket"}
_LEGACY_SIMPLE = frozenset({"null", "pty", "msmouse", "wctablet", "braille", "testdev", "stdio"})
_TCP_HOST_PORT = re.compile(r"([^:]{1,64}):([^,]{1,32})|():([^,]{1,32})")
_UDP_HOST_PORT = re.compile(r"([^:]{1,64}):([^@,]{1,32})|():([^@,]{1,32})")
_UNIX = OptsSpec("chardev", "path", CHARDEV_KEYS)


def legacy_chardev(text: str) -> tuple[str, dict[str, str]]:
    """QEMU's old chardev syntax of -qmp and -serial ("unix:PATH,server=on", "file:x", "stdio", ...)."""
    props: dict[str, str] = {}
    if text.startswith("mon:"):
        text = text.removeprefix("mon:")
        props["mux"] = "on"
    if text in _LEGACY_SIMPLE:
        return text, props
    if text.startswith("vc"):
        return "vc", props | _legacy_vc(text.removeprefix("vc"))
    for prefix, backend in _LEGACY_PATH_BACKENDS:
        if text.startswith(prefix):
            return backend, props | {"path": text.removeprefix(prefix)}
    if text.startswith("COM"):
        return "serial", props | {"path": text}
    for prefix, flag in _LEGACY_TCP_PREFIXES.items():
        if text.startswith(prefix):
            return "socket", props | _legacy_tcp(text, text.removeprefix(prefix), flag)
    if text.startswith("udp:"):
        return "udp", props | _legacy_udp(text, text.removeprefix("udp:"))
    if text.startswith("unix:"):
        return "socket", props | _normalized(
            opts_items(_UNIX, text.removeprefix("unix:"), "path", help_allowed=False)
        )
    if text.startswith(("/dev/parport", "/dev/ppi")):
        return "parallel", props | {"path": text}
    if text.startswith("/dev/"):
        return "serial", props | {"path": text}
    raise Invalid(f"'{text}' is not a valid char driver")


class LegacySyntax(Invalid):
    """QEMU fails these silently and reports only that the whole string did not work."""


def _legacy_vc(rest: str) -> dict[str, str]:
    if not rest.startswith(":"):
        return {}
    if match := re.match(r"(\d{1,7})x(\d{1,7})", rest[1:]):
        return {"width": match[1], "height": match[2]}
    if match := re.match(r"(\d{1,7})Cx(\d{1,7})", rest[1:]):
        return {"cols": match[1], "rows": match[2]}
    raise LegacySyntax(rest)


def _legacy_tcp(text: str, rest: str, flag: str | None) -> dict[str, str]:
    match = _TCP_HOST_PORT.match(rest)
    if not match:
        raise LegacySyntax(text)
    props = {"host": match[1] or "", "port": match[2] or match[4]}
    after = rest[match.end() :]
    if after.startswith(","):
        props |= _normalized(opts_items(CHARDEV, after[1:], None, help_allowed=False))
    if flag is not None:
        props[flag] = "on"
    return props


def _legacy_udp(text: str, rest: str) -> dict[str, str]:
    match = _UDP_HOST_PORT.match(rest)
    if not match:
        raise LegacySyntax(text)
    props = {"host": match[1] or "", "port": match[2] or match[4]}
    after = rest[match.end() :]
    if after.startswith("@"):
        local = _TCP_HOST_PORT.match(after[1:])
        if not local:
            raise LegacySyntax(text)
        props |= {"localaddr": local[1] or "", "localport": local[2] or local[4]}
    return props
