"""What the host side of the VM has besides CPUs: character devices, I/O threads, block jobs and
TPM backends, in QEMU 7.2's shapes.  vmd has monitors and serial ports, and none of the rest;
it says so with empty lists rather than not having the commands (libvirt calls them all)."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec, EventSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct


class ChardevInfo(QapiStruct):
    label: str
    filename: str
    frontend_open: bool


class VserportChangeData(QapiStruct):
    """Member order as QEMU 7.2 prints it."""

    open: bool
    id: str


class IOThreadInfo(QapiStruct):
    id: str
    thread_id: int
    poll_max_ns: int
    poll_grow: int
    poll_shrink: int
    aio_max_batch: int


class JobType(QapiDeclaredEnum):
    COMMIT = "commit"
    STREAM = "stream"
    MIRROR = "mirror"
    BACKUP = "backup"
    CREATE = "create"
    AMEND = "amend"
    SNAPSHOT_LOAD = "snapshot-load"
    SNAPSHOT_SAVE = "snapshot-save"
    SNAPSHOT_DELETE = "snapshot-delete"
    VMD_SET_VCPUS = "__com.vmd_set-vcpus"  # vmd's resize job (__com.vmd_set-vcpus)


class JobStatus(QapiDeclaredEnum):
    UNDEFINED = "undefined"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    READY = "ready"
    STANDBY = "standby"
    WAITING = "waiting"
    PENDING = "pending"
    ABORTING = "aborting"
    CONCLUDED = "concluded"
    NULL = "null"


class JobInfo(QapiStruct):
    id: str
    type: JobType
    status: JobStatus
    current_progress: int
    total_progress: int
    error: str | None = None


class TpmModel(QapiDeclaredEnum):
    TPM_TIS = "tpm-tis"
    TPM_CRB = "tpm-crb"
    TPM_SPAPR = "tpm-spapr"


class TpmType(QapiDeclaredEnum):
    PASSTHROUGH = "passthrough"
    EMULATOR = "emulator"


COMMANDS = (
    CommandSpec(
        "query-chardev",
        "The character devices: QMP monitor sockets and serial ports.",
        returns=list[ChardevInfo],
        allow_preconfig=True,
    ),
    CommandSpec(
        "query-iothreads", "I/O threads (vmd has none).", returns=list[IOThreadInfo], allow_preconfig=True
    ),
    CommandSpec(
        "query-jobs",
        "Background jobs: vmd's are its vCPU resizes (__com.vmd_set-vcpus).",
        returns=list[JobInfo],
    ),
    CommandSpec("query-tpm-models", "TPM device models (vmd offers none).", returns=list[TpmModel]),
    CommandSpec("query-tpm-types", "TPM backends (vmd offers none).", returns=list[TpmType]),
)


VSERPORT_CHANGE = EventSpec(
    "VSERPORT_CHANGE",
    "The guest opened or closed a virtio serial port (`id`: the port device's id); at most one per "
    "port and second, the last state winning.",
    data=VserportChangeData,
)

EVENTS = (VSERPORT_CHANGE,)
