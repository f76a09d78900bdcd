"""`vmd` / `python -m vmd`: a QEMU-style command line in, a running daemon out.

-daemonize works as QEMU's does: the parent exits 0 only after the child has
bound every monitor socket and written the pidfile (libvirt's capability probe
relies on that), and exits 1 if the child's start-up fails.
"""

from __future__ import annotations

import gc
import os
import sys

from vmd.cli import CommandLineError, EarlyExit, usage_text, version_text
from vmd.errors import StartupError

# The daemon's modules load only once the command line asks for a VM: -version, -help and the
# listings print without them (start-up time is what libvirt and scripts wait for); nor do
# typing, signal and contextlib, a quarter of what -version would cost.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from vmd.cli import Target
    from vmd.config import Config, MonitorConfig, ObjectConfig
    from vmd.daemon import DaemonSettings
    from vmd.qmp.connection import ConnectionEndpoint
    from vmd.qmp.server import Endpoint


def default_monitor_path() -> str:
    """Where a vmd started without any QMP monitor listens: a private directory, a per-process name."""
    directory = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"vmd-{os.getuid()}")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return os.path.join(directory, f"qmp-{os.getpid()}.sock")


# vmd's one option that must come first: which qemu-system-<target> to be (the vmd-system-<target>
# commands set it; `vmd` and `python -m vmd` are x86_64).
TARGET_OPTION = "-vmd-target"


def split_target(argv: list[str], default: Target) -> tuple[Target, list[str]]:
    """(-vmd-target's value, the rest of argv) when argv starts with it, else (default, argv)."""
    if not argv or argv[0] not in (TARGET_OPTION, "-" + TARGET_OPTION):
        return default, argv
    from vmd.cli import TARGETS

    if len(argv) < 2:
        raise CommandLineError(f"{argv[0]}: requires an argument")
    name = argv[1]
    for target in TARGETS:
        if target == name:
            return target, argv[2:]
    raise CommandLineError(f"{argv[0]} {name}: vmd has no target '{name}' (it has {', '.join(TARGETS)})")


def monitor_endpoint(monitor: MonitorConfig) -> Endpoint | ConnectionEndpoint:
    """The transport's endpoint: listen (server=on) on a path or an inherited listening fd, or be
    one connection (client mode) to a path or on an inherited connected fd."""
    from vmd.config import InheritedFd, UnixPath
    from vmd.qmp.server import FdEndpoint, UnixEndpoint

    endpoint = monitor.endpoint
    if monitor.server:
        if isinstance(endpoint, UnixPath):
            return UnixEndpoint(endpoint.path, monitor.socket_mode)
        assert isinstance(endpoint, InheritedFd)
        return FdEndpoint(endpoint.fd)
    from vmd.qmp.connection import ConnectedFdEndpoint, UnixClientEndpoint  # client mode only

    if isinstance(endpoint, UnixPath):
        return UnixClientEndpoint(endpoint.path, reconnect=monitor.reconnect)
    assert isinstance(endpoint, InheritedFd)
    return ConnectedFdEndpoint(endpoint.fd)


def settings_from_config(config: Config, target: Target = "x86_64") -> DaemonSettings:
    from vmd.boards.configure import machine_settings
    from vmd.daemon import DaemonSettings, MonitorSettings
    from vmd.machine.vm import NIL_UUID, Identity
    from vmd.qapi.compiled import SysEmuTarget
    from vmd.qmp.limits import SessionLimits
    from vmd.qmp.server import UnixEndpoint

    monitors = []
    for index, monitor in enumerate(config.monitors):
        monitors.append(
            MonitorSettings(
                f"monitor{index}",
                monitor_endpoint(monitor),
                chardev_id=monitor.chardev_id,
                wait=monitor.wait,
                pretty=monitor.pretty,
                location=monitor.location,
            )
        )
    if not monitors:
        # QEMU would offer HMP on its console; vmd has only QMP, so it always opens one.
        monitors.append(MonitorSettings("monitor0", UnixEndpoint(default_monitor_path())))
    limits = SessionLimits(**{key.replace("-", "_"): value for key, value in config.limits.items()})
    return DaemonSettings(
        identity=Identity(name=config.name, uuid=config.uuid or NIL_UUID),
        limits=limits,
        monitors=tuple(monitors),
        start_paused=config.start_paused,
        incoming=config.incoming,
        no_shutdown=config.no_shutdown,
        no_reboot=config.no_reboot,
        pidfile=config.pidfile,
        machine=machine_settings(config, SysEmuTarget(target)),
    )


def setup_logging(logfile: str | None) -> None:
    import logging  # here: -version and -help print without it

    # The format names no caller, thread or process name: without these, a record is not made
    # by walking the caller's stack and asking threading and multiprocessing (every hot-plug
    # and every guest step logs a line).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler: logging.Handler = logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s vmd[%(process)d] %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(os.environ.get("VMD_LOG_LEVEL", "INFO").upper())


def announce(settings: DaemonSettings) -> None:
    """Tell a person at a terminal where to connect."""
    from vmd.qmp.server import UnixEndpoint

    for monitor in settings.monitors:
        if isinstance(monitor.endpoint, UnixEndpoint):
            path = monitor.endpoint.path
            print(f"vmd: QMP monitor listening on {path}", file=sys.stderr)
            print(f"vmd: connect with:  qmp-shell {path}", file=sys.stderr)
    sys.stderr.flush()


def run(settings: DaemonSettings, ready: Callable[[], None] = lambda: None) -> int:
    import uvloop  # imported here: parsing errors should not pay for it

    from vmd.daemon import Daemon

    def serving() -> None:
        gc.freeze()
        gc.enable()
        ready()

    try:
        return uvloop.run(Daemon(settings).run(serving))
    except StartupError as error:
        print(f"vmd: {error}", file=sys.stderr)
        return 1


def daemonize(settings: DaemonSettings) -> int:
    """Fork twice (leaving the session) and return in the grandchild; the parent exits when it is ready."""
    import contextlib
    import signal

    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        verdict = os.read(read_end, 1)
        os._exit(0 if verdict == b"\0" else 1)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    for signum in (signal.SIGTSTP, signal.SIGTTOU, signal.SIGTTIN):
        signal.signal(signum, signal.SIG_IGN)

    notified = False

    def ready() -> None:
        nonlocal notified
        announce(settings)
        os.chdir("/")
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        os.write(write_end, b"\0")
        os.close(write_end)
        notified = True

    status = run(settings, ready)
    if not notified:  # start-up failed: tell the waiting parent (its exit status becomes 1)
        with contextlib.suppress(OSError):
            os.write(write_end, b"\1")
    return status


def _quick_text(args: list[str], target: Target) -> str | None:
    """What a command line of only -version, -help or `-machine help` prints (QEMU accepts one or
    two dashes); the machine listing from vmd/topics_cache.py, without loading the boards."""
    if len(args) == 2 and args[0] in ("-machine", "--machine", "-M") and args[1] == "help":
        from vmd.topics_cache import MACHINE_HELP

        return MACHINE_HELP.get(target)
    if len(args) != 1 or not args[0].startswith("-"):
        return None
    name = args[0][2:] if args[0].startswith("--") else args[0][1:]
    if name == "version":
        return version_text()
    if name in ("help", "h"):
        return usage_text(target)
    return None


class _ObjectRefused(Exception):
    """vmd.machine.user_objects.ObjectError, carried out of the lazily imported check."""


def _check_object(obj: ObjectConfig) -> None:
    """check_option, imported when an -object needs it (most command lines have none)."""
    from vmd.machine.user_objects import ObjectError, check_option

    try:
        check_option(obj)
    except ObjectError as error:
        raise _ObjectRefused(str(error)) from None


def main(argv: list[str] | None = None, target: Target = "x86_64") -> int:
    """`vmd` / `python -m vmd` (x86_64, or the target -vmd-target names) and vmd-system-<target>."""
    # Start-up makes tens of thousands of objects that live as long as the daemon (modules,
    # classes, the schema, the machine model): collecting while they are made finds nothing, and
    # every full collection afterwards would walk them all again.  So no collection until the
    # daemon serves; then they are frozen out of the collector's view (run()) and it resumes.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv, target)
    finally:
        if enabled:
            gc.enable()


def _main(argv: list[str] | None, target: Target) -> int:
    from vmd.cli import parse_command_line

    try:
        target, args = split_target(sys.argv[1:] if argv is None else argv, target)
        quick = _quick_text(args, target)
        if quick is not None:  # the whole command line is -version or -help: nothing to parse
            print(quick, end="" if quick.endswith("\n") else "\n")
            return 0
        config = parse_command_line(
            args, target=target, check_object=_check_object, object_error=_ObjectRefused
        )
    except EarlyExit as early:
        if early.text:  # -version, -help, -vmd-guest help: the command line's own texts
            print(early.text, end="" if early.text.endswith("\n") else "\n")
            return 0
        from vmd.qapi.compiled import SysEmuTarget
        from vmd.topics import answer  # the listings' tables, loaded only when one is asked for

        try:
            reply = answer(early, SysEmuTarget(target))
        except StartupError as error:
            print(f"vmd: {error}", file=sys.stderr)
            return 1
        if reply.text:
            print(reply.text, end="" if reply.text.endswith("\n") else "\n")
        if reply.error is not None:
            print(f"vmd: {reply.error}", file=sys.stderr)
        return reply.status
    except StartupError as error:
        print(f"vmd: {error}", file=sys.stderr)
        return 1
    import logging

    setup_logging(config.log_file)
    log = logging.getLogger("vmd")
    for option, value in config.ignored_options:
        log.info("%s %s: accepted for compatibility, no effect in vmd", option, value)
    if config.cpu_features:
        features = ",".join(f"{name}={value}" for name, value in config.cpu_features)
        # vmd's guest does not execute CPUID: a model's feature set changes nothing it runs.
        log.info("-cpu features %s: accepted, no effect in vmd (its guest does not use CPUID)", features)
    try:
        settings = settings_from_config(config, target)
    except StartupError as error:
        print(f"vmd: {error}", file=sys.stderr)
        return 1
    if config.daemonize:
        return daemonize(settings)
    return run(settings, ready=lambda: announce(settings))


def main_x86_64() -> int:
    return main(target="x86_64")


def main_s390x() -> int:
    return main(target="s390x")


def main_ppc64() -> int:
    return main(target="ppc64")


def main_aarch64() -> int:
    return main(target="aarch64")


if __name__ == "__main__":
    sys.exit(main())
