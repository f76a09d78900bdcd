"""vmd's layer 2 over CPU hotplug (downstream extensions, named `__com.vmd_*` as the QMP spec
asks): resizing to N vCPUs as a job, the vCPU map, the guest's view per vCPU and the event of the
guest onlining or offlining one.  The CPU packages themselves are QOM objects
(/machine/cpu-packages), reached with qom-list, qom-get and qom-set."""

from __future__ import annotations

from vmd.qapi.registry import CommandSpec, EventSpec
from vmd.qapi.types import QapiDeclaredEnum, QapiStruct, UInt32


class VcpuPlacement(QapiDeclaredEnum):
    FILL = "fill"  # lowest free slots first: sockets fill up one after another; unplug highest first
    SPREAD = "spread"  # round robin over NUMA nodes (over sockets without NUMA)
    EXPLICIT = "explicit"  # the slots given in `slots`, in that order


class SetVcpusArgs(QapiStruct):
    target: UInt32
    job_id: str | None = None
    placement: VcpuPlacement | None = None  # default fill
    slots: list[UInt32] | None = None  # with placement=explicit
    deadline_ms: UInt32 | None = None  # from the request; absent: no deadline
    auto_dismiss: bool | None = None  # default true, as QEMU's jobs


class SetVcpusReturn(QapiStruct):
    """The job that works towards `target` (an already running one with the same request is
    returned again: the command is idempotent)."""

    job_id: str
    target: int


class SetVcpusOutcome(QapiDeclaredEnum):
    REACHED = "reached"  # target vCPUs present, every vCPU the job added online in the guest
    GUEST_REFUSED = "guest-refused"  # the guest refused to give up the vCPUs in `refused`
    DEADLINE = "deadline"  # the deadline passed; the requests in `pending` stay pending
    CANCELLED = "cancelled"  # job-cancel
    SUPERSEDED = "superseded"  # a later __com.vmd_set-vcpus took over
    FAILED = "failed"  # a request was refused by the machine (`error`)


class SetVcpusCompletedData(QapiStruct):
    id: str
    target: int
    outcome: SetVcpusOutcome
    present: int  # vCPUs present when the job ended
    online: int  # of which online in the guest
    refused: list[int]  # cpu-indexes the guest refused to give up
    pending: list[int]  # cpu-indexes still waiting (to come online, or to be unplugged)
    error: str | None = None


class VcpuAgentView(QapiStruct):
    """The guest agent's view of one vCPU (qga's guest-get-vcpus), when an agent is connected."""

    online: bool
    can_offline: bool


class VcpuMapEntry(QapiStruct):
    """One possible vCPU: its slot and package, whether it is present (the hypervisor's view),
    online in the guest, and whether the guest could bring it online or take it offline now."""

    cpu_index: int
    slot: int
    package: str  # the QOM path of its cpu-package
    present: bool
    online: bool
    onlinable: bool
    offlinable: bool
    unplug_pending: bool
    qom_path: str | None = None  # of the vCPU, while present
    agent: VcpuAgentView | None = None  # absent without a connected guest agent


class GuestVcpu(QapiStruct):
    """A vCPU as the guest sees it (its sysfs cpuN), with the vCPU's QOM path."""

    cpu_index: int
    qom_path: str
    online: bool
    configured: bool
    can_offline: bool


class EnableEventsArgs(QapiStruct):
    events: list[str]


class GuestCpuStateData(QapiStruct):
    cpu_index: int
    qom_path: str
    online: bool


COMMANDS = (
    CommandSpec(
        "__com.vmd_set-vcpus",
        "Resize the VM to `target` vCPUs as a job: plug or unplug through the guest, end with "
        "__com.vmd_SET_VCPUS_COMPLETED.",
        args=SetVcpusArgs,
        returns=SetVcpusReturn,
    ),
    CommandSpec(
        "__com.vmd_query-vcpu-map",
        "Every possible vCPU: slot, package, present, online, onlinable, offlinable.",
        returns=list[VcpuMapEntry],
    ),
    CommandSpec(
        "__com.vmd_query-guest-vcpus",
        "The guest's view of each vCPU it has, with the vCPU's QOM path.",
        returns=list[GuestVcpu],
    ),
    CommandSpec(
        "__com.vmd_enable-events",
        "Have this session receive vmd's opt-in events (__com.vmd_GUEST_CPU_STATE).",
        args=EnableEventsArgs,
    ),
)

SET_VCPUS_COMPLETED = EventSpec(
    "__com.vmd_SET_VCPUS_COMPLETED",
    "A __com.vmd_set-vcpus job ended: its one outcome.",
    data=SetVcpusCompletedData,
)
GUEST_CPU_STATE = EventSpec(
    "__com.vmd_GUEST_CPU_STATE",
    "The guest onlined or offlined a vCPU (its vCPU confirmed it); sent to sessions that enabled it.",
    data=GuestCpuStateData,
)

EVENTS = (SET_VCPUS_COMPLETED, GUEST_CPU_STATE)
