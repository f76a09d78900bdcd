"""The running daemon: one VM, its monitors, and an orderly way out.

Start-up order: bind every monitor socket (so errors are reported before the
parent of a -daemonize process exits), write the pidfile, report ready, wait for
monitors with wait=on to get a client, then launch the VM.  Exit order (quit,
SIGTERM, a guest shutdown): stop accepting, flush and close every session, stop
the vCPUs, remove socket files and the pidfile.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vmd.handlers.control import version_info
from vmd.handlers.registry import all_handlers
from vmd.machine.vm import Identity, VirtualMachine
from vmd.pidfile import Pidfile
from vmd.qapi.compiled import SCHEMA, SCHEMA_INFO_JSON, ShutdownCause
from vmd.qmp.dispatch import Dispatcher, to_wire
from vmd.qmp.events import EventBus
from vmd.qmp.limits import SessionLimits
from vmd.qmp.server import Endpoint, MonitorListener
from vmd.qmp.session import OFFERED_CAPABILITIES, QmpSession

log = logging.getLogger(__name__)

SESSION_CLOSE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    name: str
    endpoint: Endpoint
    chardev_id: str = "compat_monitor0"
    wait: bool = False
    pretty: bool = False


@dataclass(frozen=True)
class DaemonSettings:
    identity: Identity = field(default_factory=Identity)
    monitors: tuple[MonitorSettings, ...] = ()
    start_paused: bool = False
    no_shutdown: bool = False
    no_reboot: bool = False
    pidfile: str | None = None
    limits: SessionLimits = field(default_factory=SessionLimits)


class StartupError(Exception):
    """Start-up failed; the message is the one line to print."""


class Daemon:
    def __init__(self, settings: DaemonSettings) -> None:
        self.settings = settings
        self.bus = EventBus()
        self.sessions: set[QmpSession] = set()
        self._exit: asyncio.Future[None] | None = None
        self.vm = VirtualMachine(
            settings.identity,
            emit=self.bus.emit,
            request_exit=self._request_exit,
            start_paused=settings.start_paused,
            no_shutdown=settings.no_shutdown,
            no_reboot=settings.no_reboot,
        )
        self.dispatcher = Dispatcher(SCHEMA, all_handlers())
        self._greeting = {
            "QMP": {"version": to_wire(version_info()), "capabilities": list(OFFERED_CAPABILITIES)}
        }
        self._listeners: list[MonitorListener] = []
        self._pidfile = Pidfile(settings.pidfile) if settings.pidfile else None

    # -- DaemonServices -----------------------------------------------------------------------

    @functools.cache  # noqa: B019 - one daemon per process; parsed on first use to keep start-up short
    def schema_info(self) -> list[dict[str, Any]]:
        info: list[dict[str, Any]] = json.loads(SCHEMA_INFO_JSON)
        return info

    def command_names(self) -> list[str]:
        return list(self.dispatcher.commands)

    def yankable_chardevs(self) -> list[str]:
        return [monitor.chardev_id for monitor in self.settings.monitors]

    def yank_chardev(self, chardev_id: str) -> None:
        """Drop every connection of that monitor at once, pending output included (QEMU shuts the channel)."""
        for session in list(self.sessions):
            if session.chardev_id == chardev_id:
                log.info("%s: yanked", session.name)
                session.abort()

    # -- life cycle ---------------------------------------------------------------------------

    async def run(self, ready: Callable[[], None] = lambda: None) -> int:
        loop = asyncio.get_running_loop()
        self._exit = loop.create_future()
        try:
            await self._open_monitors()
            if self._pidfile is not None:
                self._pidfile.write()
        except Exception:
            await self._close_monitors()
            raise
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            # As QEMU: a wait=on monitor holds start-up (and a -daemonize parent) until a client connects.
            for listener, monitor in zip(self._listeners, self.settings.monitors, strict=True):
                if monitor.wait and not self._exit.done():
                    log.info("waiting for a connection on %s (wait=on)", listener.describe())
                    await asyncio.wait(
                        [listener.first_client, self._exit], return_when=asyncio.FIRST_COMPLETED
                    )
            if not self._exit.done():
                ready()
                self.vm.launch()
            await self._exit
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            await self._shutdown()
        return 0

    async def _open_monitors(self) -> None:
        for monitor in self.settings.monitors:
            listener = MonitorListener(monitor.endpoint, functools.partial(self._new_session, monitor))
            self._listeners.append(listener)
            sock = listener.open()
            await listener.start(sock)

    def _new_session(self, monitor: MonitorSettings) -> QmpSession:
        session = QmpSession(
            name=monitor.name,
            chardev_id=monitor.chardev_id,
            dispatcher=self.dispatcher,
            vm=self.vm,
            daemon=self,
            bus=self.bus,
            greeting=self._greeting,
            limits=self.settings.limits,
            pretty=monitor.pretty,
            on_closed=self.sessions.discard,
        )
        self.sessions.add(session)
        return session

    def _on_signal(self, signum: int) -> None:
        log.info("terminating on signal %d", signum)
        if not self.vm.exiting:
            self.vm.shutdown(ShutdownCause.HOST_SIGNAL)

    def _request_exit(self) -> None:
        # Called from inside a command; the reply is written before this runs.
        if self._exit is not None and not self._exit.done():
            asyncio.get_running_loop().call_soon(self._exit_now)

    def _exit_now(self) -> None:
        if self._exit is not None and not self._exit.done():
            self._exit.set_result(None)

    async def _shutdown(self) -> None:
        await self._close_monitors()
        sessions = list(self.sessions)
        for session in sessions:
            session.close()
        if sessions:
            _, stuck = await asyncio.wait([s.closed for s in sessions], timeout=SESSION_CLOSE_TIMEOUT)
            for session in sessions:
                if not session.closed.done():
                    session.abort()
            if stuck:
                await asyncio.wait(stuck, timeout=SESSION_CLOSE_TIMEOUT)
        if self._pidfile is not None:
            self._pidfile.remove()

    async def _close_monitors(self) -> None:
        for listener in self._listeners:
            await listener.close()
        self._listeners.clear()
