"""-object: the user-creatable QOM objects vmd has, checked as QEMU 7.2 checks them.

vmd creates three kinds: `memory-backend-ram` (guest RAM: the machine's own through
`-machine memory-backend=ID`, or a NUMA node's through `-numa node,memdev=ID`),
`memory-backend-file` (the machine's RAM mapped from a file, shared or private), and `secret`
(libvirt passes its master key as one).  A type QEMU has but vmd does not is refused with
QEMU's own words for an unknown type, so nothing is accepted that vmd would then ignore; a
property QEMU knows but vmd cannot honour (shared or file-backed RAM, host NUMA binding,
encrypted secrets) is refused by name.

Checks happen in QEMU's two stages: `check_option` while the command line is read (QEMU names
the option in these errors), `create_objects` once all of it is read (QEMU names none).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence

from vmd.config import JsonValue, ObjectConfig
from vmd.machine.numa import backend_size
from vmd.machine.qom import QomObject, QomProperty, constant
from vmd.records import dataclass

MEMORY_BACKEND_RAM = "memory-backend-ram"
MEMORY_BACKEND_FILE = "memory-backend-file"
SECRET = "secret"
USER_CREATABLE = (MEMORY_BACKEND_FILE, MEMORY_BACKEND_RAM, SECRET)  # what -object creates

# Every property QEMU 7.2's memory-backend-ram takes; vmd honours `size` alone.
_QEMU_BACKEND_PROPS = frozenset(
    {
        "size", "share", "merge", "dump", "prealloc", "prealloc-threads", "prealloc-context",
        "host-nodes", "policy", "reserve", "x-use-canonical-path-for-ramblock-id",
    }
)  # fmt: skip
_QEMU_FILE_PROPS = _QEMU_BACKEND_PROPS | {"mem-path", "discard-data", "align", "pmem", "readonly"}
_QEMU_SECRET_PROPS = frozenset({"data", "file", "format", "keyid", "iv", "loaded"})
_HONOURED = {
    MEMORY_BACKEND_RAM: frozenset({"size"}),
    MEMORY_BACKEND_FILE: frozenset({"size", "mem-path", "share"}),
    SECRET: frozenset({"data", "file", "format"}),
}
_KNOWN = {
    MEMORY_BACKEND_RAM: _QEMU_BACKEND_PROPS,
    MEMORY_BACKEND_FILE: _QEMU_FILE_PROPS,
    SECRET: _QEMU_SECRET_PROPS,
}
# Values that mean what vmd does anyway, so they need no refusal.
_HARMLESS = {("share", "off"), ("share", False), ("prealloc", "off"), ("prealloc", False),
             ("merge", "on"), ("merge", True), ("dump", "on"), ("dump", True),
             ("dump", "off"), ("dump", False), ("merge", "off"), ("merge", False),
             ("x-use-canonical-path-for-ramblock-id", "off"),
             ("x-use-canonical-path-for-ramblock-id", False)}  # fmt: skip


class ObjectError(Exception):
    """An -object QEMU would refuse too (QEMU's words) or one vmd cannot honour."""


@dataclass(frozen=True, slots=True)
class MemoryBackend:
    """Guest memory: anonymous (memory-backend-ram) or the file at `mem_path`."""

    id: str
    size: int
    mem_path: str | None = None
    share: bool = False

    @property
    def qom_type(self) -> str:
        return MEMORY_BACKEND_RAM if self.mem_path is None else MEMORY_BACKEND_FILE


@dataclass(frozen=True, slots=True)
class Secret:
    id: str
    value: bytes
    format: str


@dataclass(frozen=True, slots=True)
class UserObjects:
    backends: Mapping[str, MemoryBackend]
    secrets: Mapping[str, Secret]


def check_option(obj: ObjectConfig) -> None:
    """What QEMU checks as it reads the option: the type, the property names, required ones."""
    known = _KNOWN.get(obj.qom_type)
    if known is None:
        raise ObjectError(f"Parameter 'qom-type' does not accept value '{obj.qom_type}'")
    for key, value in obj.props.items():
        if key not in known:
            # The JSON form goes through QEMU's QObject visitor, which words it differently.
            raise ObjectError(
                f"Parameter '{key}' is unexpected" if obj.from_json else f"Invalid parameter '{key}'"
            )
        if key not in _HONOURED[obj.qom_type] and (key, value) not in _HARMLESS:
            raise ObjectError(f"{obj.qom_type} property '{key}' is not supported by vmd")
    if obj.qom_type in (MEMORY_BACKEND_RAM, MEMORY_BACKEND_FILE):
        if "size" not in obj.props:
            raise ObjectError("Parameter 'size' is missing")
        if obj.qom_type == MEMORY_BACKEND_FILE and "mem-path" not in obj.props:
            raise ObjectError("Parameter 'mem-path' is missing")
        size = obj.props["size"]
        if obj.from_json and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise ObjectError("Parameter 'size' expects uint64")
        try:
            backend_size(obj)
        except ValueError:
            raise ObjectError(
                "Parameter 'size' expects a non-negative number below 2^64\n"
                "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                "and exabytes, respectively."
            ) from None
    share = obj.props.get("share", False)
    if obj.from_json and not isinstance(share, bool):
        raise ObjectError("Invalid parameter type for 'share', expected: boolean")
    if share not in ("on", "off", True, False):
        raise ObjectError("Parameter 'share' expects 'on' or 'off'")
    for key in ("data", "file", "format", "mem-path"):
        if key in obj.props and not isinstance(obj.props[key], str):
            raise ObjectError(f"Invalid parameter type for '{key}', expected: string")
    secret_format = obj.props.get("format", "raw")
    if secret_format not in ("raw", "base64"):
        raise ObjectError(f"Parameter 'format' does not accept value '{secret_format}'")


def create_objects(objects: Sequence[ObjectConfig]) -> UserObjects:
    """Complete every object as QEMU does after the command line: backing files are opened,
    secrets read and decoded."""
    backends: dict[str, MemoryBackend] = {}
    secrets: dict[str, Secret] = {}
    for obj in objects:
        if obj.qom_type == MEMORY_BACKEND_RAM:
            backends[obj.id] = MemoryBackend(obj.id, backend_size(obj))
        elif obj.qom_type == MEMORY_BACKEND_FILE:
            share = obj.props.get("share", False) in ("on", True)
            mem_path = str(obj.props["mem-path"])
            backend = MemoryBackend(obj.id, backend_size(obj), mem_path, share)
            # QEMU opens (or creates) every backing file when it creates the object, used or not.
            os.close(open_backing_file(backend))
            backends[obj.id] = backend
        elif obj.qom_type == SECRET:
            secret_format = str(obj.props.get("format", "raw"))
            secrets[obj.id] = Secret(obj.id, _load_secret(obj.props), secret_format)
    return UserObjects(backends, secrets)


def _load_secret(props: Mapping[str, JsonValue]) -> bytes:
    data, path = props.get("data"), props.get("file")
    if (data is None) == (path is None):
        raise ObjectError("Either 'file' or 'data' must be provided")
    if isinstance(path, str):
        try:
            with open(path, "rb") as file:
                raw = file.read()
        except OSError as error:
            raise ObjectError(
                f"Unable to read {path}: Failed to open file \u201c{path}\u201d: {error.strerror}"
            ) from None
    else:
        raw = str(data).encode()
    if props.get("format") == "base64":
        try:
            return base64.b64decode(raw, validate=True)
        except binascii.Error:
            raise ObjectError("Unable to decode base64 secret data") from None
    return raw


def machine_ram(
    backends: Mapping[str, MemoryBackend], backend_id: str | None, ram_bytes: int
) -> MemoryBackend | None:
    """`-machine memory-backend=ID`: the backend must exist and hold exactly -m of memory."""
    if backend_id is None:
        return None
    backend = backends.get(backend_id)
    if backend is None:
        raise ObjectError(f"Memory backend '{backend_id}' not found")
    if backend.size != ram_bytes:
        raise ObjectError("Machine memory size does not match the size of the memory backend")
    return backend


def add_to_qom(objects: UserObjects, container: QomObject) -> None:
    """Each object under /objects/ID, with the properties its type declares (write-only ones, a
    secret's data and file, have no getter, as in QEMU)."""
    for backend in objects.backends.values():
        obj = QomObject(backend.qom_type)
        obj.add_property(QomProperty("size", "int", get=constant(backend.size)))
        if backend.mem_path is not None:
            obj.add_property(QomProperty("share", "bool", get=constant(backend.share)))
            obj.add_property(QomProperty("mem-path", "string", get=constant(backend.mem_path)))
        container.add_child(backend.id, obj)
    for secret in objects.secrets.values():
        obj = QomObject(SECRET)
        obj.add_property(QomProperty("loaded", "bool", get=constant(True)))
        obj.add_property(QomProperty("format", "QCryptoSecretFormat", get=constant(secret.format)))
        for name in ("keyid", "iv", "data", "file"):
            obj.add_property(QomProperty(name, "string"))
        container.add_child(secret.id, obj)


def open_backing_file(backend: MemoryBackend) -> int:
    """The open file a memory-backend-file maps, as QEMU 7.2 opens it: an existing file must hold
    exactly `size` bytes or be empty (then it is extended); a missing one is created; a directory
    gets an unnamed temporary file."""
    assert backend.mem_path is not None
    path = backend.mem_path
    try:
        if os.path.isdir(path):
            fd = os.open(path, os.O_RDWR | os.O_TMPFILE, 0o600)
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ObjectError(f"can't open backing store {path} for guest RAM: {error.strerror}") from None
    length = os.fstat(fd).st_size
    if length == 0:
        os.ftruncate(fd, backend.size)
    elif length < backend.size:
        os.close(fd)
        raise ObjectError(f"backing store size {length:#x} does not match 'size' option {backend.size:#x}")
    return fd
