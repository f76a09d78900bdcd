"""What -help, -version and `-vmd-guest help` print.

The topic listings (-machine help, -cpu help, -device help, ...) are rendered by the caller
from its own model: the command line answers them with an `EarlyExit` whose text is empty.
"""

from __future__ import annotations

from vmd.version import QEMU_COMPAT, VMD_VERSION

__all__ = [
    "GUEST_POLICY_KEYS",
    "GUEST_POLICY_OLDER_NAMES",
    "LIMIT_KEYS_HELP",
    "guest_policy_help",
    "usage_text",
    "version_text",
]

# The keys of -vmd-guest, as vmd.guest.policy.parse_policy reads them: (key, values, what it
# does).  The command line only collects them; the guest model checks them.
GUEST_POLICY_KEYS: tuple[tuple[str, str, str], ...] = (
    (
        "agent",
        "on|off|slow|silent",
        "the guest agent on its channel: answers, is absent, answers late, or hangs (default: on)",
    ),
    ("agent-delay-ms", "MS", "milliseconds a slow guest agent takes to answer each command (default: 1000)"),
    ("auto-online", "on|off", "a hot-added CPU goes online at once, as a udev rule does (default: on)"),
    ("cpu0-hotplug", "on|off", "CPU 0 may go offline, as in Linux booted with cpu0_hotplug (default: off)"),
    (
        "delay-ms",
        "MS",
        "milliseconds the guest waits before it acts on a hotplug event (default: 0; older name: delay)",
    ),
    (
        "load",
        "idle|busy|PERCENT",
        "how busy online CPUs are: idle rests in HLT, busy works all the time, PERCENT a duty cycle "
        "(default: idle)",
    ),
    (
        "maxcpus",
        "N",
        "the CPUs present at boot past the first N stay offline, as Linux's maxcpus= (default: all)",
    ),
    (
        "powerdown",
        "shutdown|ignore",
        "what the guest does when the ACPI power button is pressed (default: shutdown)",
    ),
    (
        "unplug",
        "accept|refuse|ignore",
        "the guest's answer to an eject request: eject, busy, none (default: accept)",
    ),
)

GUEST_POLICY_OLDER_NAMES = {"delay-ms": "delay"}


def guest_policy_help() -> str:
    """What `-vmd-guest help` prints: the keys, in the layout of QEMU's `-OPTION help`."""
    lines = ["vmd-guest options:"]
    for key, values, what in GUEST_POLICY_KEYS:
        lines.append(f"  {key}=<{values}>".ljust(24) + f" - {what}")
    return "\n".join(lines) + "\n"


def version_text() -> str:
    # Scripts match "QEMU emulator version X.Y.Z"; the parenthesis says who answers,
    # where QEMU puts its package name.
    major, minor, micro = QEMU_COMPAT
    return (
        f"QEMU emulator version {major}.{minor}.{micro} (vmd {VMD_VERSION})\n"
        "vmd speaks QEMU's QMP and command line; it is not QEMU.\n"
    )


# -vmd-limits keys (vmd.qmp.limits.SessionLimits, dashed), what each bounds, and its default.
LIMIT_KEYS_HELP: tuple[tuple[str, str, str], ...] = (
    ("max-message", "the largest request", "1M"),
    ("max-nesting", "JSON nesting in a request", "1024"),
    ("queue-depth", "requests read ahead before vmd stops reading the socket", "8"),
    ("write-high-water", "unsent output that holds back a client's next requests", "1M"),
    ("max-output", "unsent output (events a client does not read) that disconnects it", "64M"),
)


def usage_text(target: str = "x86_64") -> str:
    spelled = [
        f"{key}={values}"
        + (f" (older name: {GUEST_POLICY_OLDER_NAMES[key]})" if key in GUEST_POLICY_OLDER_NAMES else "")
        for key, values, _ in GUEST_POLICY_KEYS
    ]
    guest_keys = "\n".join(
        "      " + "   ".join(spelled[start : start + 3]) for start in range(0, len(spelled), 3)
    )
    limits = "\n".join(f"      {key}={default}".ljust(30) + what for key, what, default in LIMIT_KEYS_HELP)
    return f"""{version_text()}usage: vmd [options]

vmd accepts qemu-system-{target}'s command line.  What it does with it:

Machine
  -machine [type=]NAME[,prop=value...]   (-M)   -accel NAME[,prop=value...]   -enable-kvm
  -machine ...,x-vmd-max-cpus=N   vmd's own: up to N vCPUs (at most 16384), past QEMU's limit for the type
  -cpu MODEL[,feature...]   -smp [cpus=]N[,maxcpus=N][,sockets=N][,dies=N][,clusters=N][,cores=N][,threads=N]
  -m [size=]SIZE[,slots=N][,maxmem=SIZE]   -numa node|cpu|dist,...   -device DRIVER[,prop=value...] or JSON
  -object TYPE,id=ID[,prop=value...] or JSON   -global DRIVER.PROP=VALUE
  -bios FILE   a raw vmd-ISA image, run instead of vmd's standard firmware
Run
  -S   -name [guest=]NAME[,process=NAME][,debug-threads=on|off]   -uuid UUID   -daemonize   -pidfile FILE
  -no-shutdown   -no-reboot   -action shutdown=...,reboot=...   -add-fd fd=N,set=N
  -nodefaults   -no-user-config   -nographic   -display none
Monitors (QMP only, on unix sockets)
  -qmp unix:PATH,server=on,wait=off[,mode=0660]   -qmp-pretty ...   -qmp chardev:ID
  -chardev socket,id=ID,path=PATH|fd=N,server=on[,wait=off][,mode=0660]
  -mon chardev=ID,mode=control[,pretty=on]
Serial ports
  -chardev file|null|socket|pty|...,id=ID,...   -serial chardev:ID|file:PATH|null|stdio|pty|none
vmd's own
  -vmd-guest KEY=VALUE,...   the guest model's policy ('-vmd-guest help' says what each key does):
{guest_keys}
  -vmd-limits KEY=SIZE,...   the limits of each QMP session (default value, what it bounds):
{limits}
  -D FILE   vmd's log (default: stderr); the environment variable VMD_LOG_LEVEL sets its level:
      DEBUG, INFO (the default), WARNING, ERROR

Accepted and ignored (listed at start-up): -rtc -boot -sandbox -msg -overcommit -audiodev -vga -vnc -k -d
-trace -seed and other host-side options.  Disks, networks, -gdb, HMP monitors, -readconfig and -kernel
are refused.  -incoming URI|defer waits for a migration from another vmd (unix:, tcp:, exec:, fd:).
  -h, -help   this text        -version   the version
"""
