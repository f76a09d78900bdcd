"""What a vmd command line asks for, as frozen values (built by `vmd.cli`; no parsing here).

Everything is immutable: sequences are tuples and mappings are read-only views whose
iteration order is command-line order.  Sizes are bytes.  A field that is `None` was
not given; the code that gives it meaning picks the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Literal, TypeAlias

from vmd.records import dataclass

MiB = 1 << 20

# QEMU's x86 boards default to 128 MiB of RAM when -m is absent (or -m 0).
DEFAULT_RAM_SIZE = 128 * MiB

# A value from a JSON-form -device/-object, frozen: arrays become tuples, objects
# become read-only mappings.  `thaw_json` gives back plain JSON.
JsonValue: TypeAlias = bool | int | float | str | tuple["JsonValue", ...] | Mapping[str, "JsonValue"] | None


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


def _no_chardevs() -> Mapping[str, ChardevConfig]:
    return MappingProxyType({})


def thaw_json(value: JsonValue) -> object:
    """Plain JSON (lists, dicts) from a frozen JSON value, e.g. to send it over QMP."""
    if isinstance(value, tuple):
        return [thaw_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: thaw_json(item) for key, item in value.items()}
    return value


# --- monitors -------------------------------------------------------------------------


@dataclass(frozen=True)
class UnixPath:
    """A unix socket at `path`: vmd creates (and removes) it with server=on, connects to it without."""

    path: str


@dataclass(frozen=True)
class InheritedFd:
    """A socket inherited from the parent: listening with server=on (libvirt), else connected
    (QEMU's Python launcher passes one end of a socketpair)."""

    fd: int


MonitorEndpoint: TypeAlias = UnixPath | InheritedFd


@dataclass(frozen=True)
class MonitorConfig:
    """One QMP monitor (-qmp, -qmp-pretty, or -mon mode=control on a socket chardev).

    With `server` vmd listens (on `path` or the inherited listening fd) and serves every client;
    without it (QEMU's client mode) the monitor is one connection, made at start-up: to `path`,
    or the inherited fd, already connected.
    """

    endpoint: MonitorEndpoint
    chardev_id: str  # "compat_monitor0" for -qmp, like QEMU's query-chardev shows
    server: bool = True
    wait: bool = True  # QEMU's default for server=on: block start-up until a client connects
    pretty: bool = False
    socket_mode: int = 0o600  # vmd extension (mode=0660) for sockets vmd creates
    id: str | None = None  # -mon id=...
    reconnect: int = 0  # client mode: seconds between attempts to connect (again); 0 never
    location: str = field(default="", compare=False)  # the option that made the chardev, for errors


# --- character devices and serial ports ------------------------------------------------


@dataclass(frozen=True)
class ChardevConfig:
    """A -chardev (or one QEMU's legacy syntax implies, e.g. `-serial file:x`).

    `props` holds every other key as given (strings; booleans already normalised to
    "on"/"off"), e.g. {"path": "/tmp/log"} for a file backend.
    """

    id: str
    backend: str
    props: Mapping[str, str] = field(default_factory=_empty)
    location: str = field(default="", compare=False)  # the option as given ("-chardev socket,...")


@dataclass(frozen=True)
class SerialConfig:
    """Guest serial port number `index`, connected to chardev `chardev_id`."""

    index: int
    chardev_id: str


# --- devices, objects, NUMA, globals ------------------------------------------------------


@dataclass(frozen=True)
class DeviceConfig:
    """-device; `props` excludes driver and id.  Key=value values are strings, JSON keeps types."""

    driver: str
    id: str | None
    props: Mapping[str, JsonValue] = field(default_factory=_empty)
    from_json: bool = False
    text: str = field(default="", compare=False)  # the option as given, for error messages


@dataclass(frozen=True)
class ObjectConfig:
    """-object; `props` excludes qom-type and id."""

    qom_type: str
    id: str
    props: Mapping[str, JsonValue] = field(default_factory=_empty)
    from_json: bool = False


@dataclass(frozen=True)
class NumaNodeConfig:
    """-numa node; `cpus` holds inclusive (first, last) ranges in the order given."""

    nodeid: int | None = None
    cpus: tuple[tuple[int, int], ...] = ()
    mem: int | None = None
    memdev: str | None = None
    initiator: int | None = None


@dataclass(frozen=True)
class NumaCpuConfig:
    """-numa cpu: puts the CPUs matching the given ids on node `node_id`."""

    node_id: int | None = None
    socket_id: int | None = None
    die_id: int | None = None
    cluster_id: int | None = None
    core_id: int | None = None
    thread_id: int | None = None


@dataclass(frozen=True)
class NumaDistConfig:
    src: int
    dst: int
    val: int


@dataclass(frozen=True)
class NumaRawConfig:
    """-numa hmat-lb / hmat-cache, kept as given."""

    type: str
    props: Mapping[str, str] = field(default_factory=_empty)


NumaConfig: TypeAlias = NumaNodeConfig | NumaCpuConfig | NumaDistConfig | NumaRawConfig


@dataclass(frozen=True)
class GlobalConfig:
    """-global driver.property=value"""

    driver: str
    property: str
    value: str


@dataclass(frozen=True)
class AddFdConfig:
    """-add-fd: put a duplicate of inherited `fd` into fd set `set`."""

    fd: int
    set: int
    opaque: str | None = None


@dataclass(frozen=True)
class AccelConfig:
    """One accelerator to try, in order (-accel, or one name of -machine accel=a:b)."""

    name: str
    props: Mapping[str, str] = field(default_factory=_empty)


# --- machine ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SmpConfig:
    """-smp as given (numbers only; the topology rules are checked by the machine)."""

    cpus: int | None = None
    maxcpus: int | None = None
    sockets: int | None = None
    dies: int | None = None
    clusters: int | None = None
    cores: int | None = None
    threads: int | None = None


@dataclass(frozen=True)
class MemoryConfig:
    size_bytes: int = DEFAULT_RAM_SIZE
    # False: the board's default RAM size applies (vmd.boards.configure); not part of equality,
    # which compares the sizes.
    size_given: bool = field(default=False, compare=False)
    slots: int | None = None
    maxmem_bytes: int | None = None


# The display types of QEMU 7.2 on Linux; vmd itself shows nothing whatever the type.
Display = Literal["none", "default", "gtk", "sdl", "egl-headless", "curses", "spice-app", "dbus"]


@dataclass(frozen=True)
class Config:
    """The whole command line.

    `machine_props` are the -machine properties other than `type` and `accel` (plus the
    ones QEMU's sugar options set: -nographic -> graphics=off, -usb -> usb=on, -no-acpi,
    -no-hpet, -bios -> firmware); keys use dashes, dotted keys stay flat ("smp.cpus").
    `cpu_features` are (name, value) pairs to apply in order, the last one winning;
    "+f"/"-f" are already turned into ("f", "on"/"off") and moved after the key=value ones,
    which is QEMU's precedence (x86's parser); `cpu_options` is the text after the model as
    given, which other targets parse their own (generic) way.  `ignored_options` lists, as
    (option, argument), what was accepted for compatibility but has no effect in vmd.
    """

    machine_type: str | None = None
    machine_props: Mapping[str, str] = field(default_factory=_empty)
    accel: tuple[AccelConfig, ...] = ()
    cpu_model: str | None = None
    cpu_features: tuple[tuple[str, str], ...] = ()
    cpu_options: str = ""
    smp: SmpConfig = field(default_factory=SmpConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    numa: tuple[NumaConfig, ...] = ()
    numa_texts: tuple[str, ...] = field(default=(), compare=False)  # each -numa as given

    start_paused: bool = False
    incoming: str | None = None  # -incoming URI, or "defer"
    name: str | None = None
    process_name: str | None = None
    debug_threads: bool | None = None
    uuid: str | None = None  # canonical lower-case form
    daemonize: bool = False
    pidfile: str | None = None
    nodefaults: bool = False
    no_user_config: bool = False
    nographic: bool = False
    display: Display | None = None
    no_shutdown: bool = False
    no_reboot: bool = False

    monitors: tuple[MonitorConfig, ...] = ()
    chardevs: Mapping[str, ChardevConfig] = field(default_factory=_no_chardevs)
    serials: tuple[SerialConfig, ...] = ()

    devices: tuple[DeviceConfig, ...] = ()
    objects: tuple[ObjectConfig, ...] = ()
    globals: tuple[GlobalConfig, ...] = ()
    add_fds: tuple[AddFdConfig, ...] = ()
    kernel: str | None = None
    initrd: str | None = None
    append: str | None = None

    guest_policy: Mapping[str, str] = field(default_factory=_empty)
    limits: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    log_file: str | None = None
    ignored_options: tuple[tuple[str, str], ...] = ()
