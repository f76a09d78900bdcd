"""Threads started before they are needed, so that handing one its work never waits.

``threading.Thread.start`` returns only once the new thread has run (it waits for the thread to
say it started), and on a loaded host that first run can wait a scheduler tick: 4 ms of a
``device_add`` whose own work takes a fraction of a millisecond.  A spare is a thread that has
already run and sleeps on its queue; :meth:`SpareThreads.take` hands it work in microseconds, and
its thread id, which ``query-cpus-fast`` reports at once, is known already.

The pool is kept at its target by one starter thread of its own (named as the spares are, so that a
spare never shows another thread's name, even between its start and its first instruction).  The
owner sets the target (:meth:`SpareThreads.keep`), takes spares from the thread that owns it, and
closes the pool, which ends and joins every thread that never got work.  A spare that got work is
the owner's thread from then on: it ends when its work returns, and the owner joins it.

Taking spares wakes the starter once however many are taken in a row (a pseries core takes eight),
and the owner may hold that wake-up until its batch is done: each wake-up is a thread switch the
owner pays for, and the starter's new threads want the GIL while the owner works.  The owner may
give a cheaper way to set an OS thread name (vmd's engine does it in C, a quarter of the cost of
Python's file objects).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Work = tuple[Callable[..., None], tuple[Any, ...]]
Namer = Callable[[int, str], None]  # (OS thread id, name)
# After a spare is taken, the pool waits this long before it starts the next thread: the request
# that took the spare (a device_add) is still being served on the event loop, and a thread start
# (the new thread's first Python code, its preparation) competes with it for the GIL, which the
# loop gives up at every system call and may then wait milliseconds to get back.  Measured with
# back-to-back device_adds on a loaded host: reply p50 1.05 ms -> 0.74 ms, p99 5-11 ms -> 3.5-5 ms.
REFILL_DELAY = 0.003


class Spare:
    """A started thread waiting for its work."""

    def __init__(self, name: str, prepare: Callable[[], None] | None = None) -> None:
        self._work: queue.SimpleQueue[Work | None] = queue.SimpleQueue()
        self._prepare = prepare
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    @property
    def native_id(self) -> int:
        tid = self.thread.native_id
        assert tid is not None, "a spare is handed out only once it has started"
        return tid

    def run(self, name: str, work: Callable[..., None], *args: Any, namer: Namer | None = None) -> None:
        """Run `work(*args)` on this thread, named `name` from now on (OS name too, by `namer`)."""
        self.rename(name, namer)
        self.hand(work, *args)

    def rename(self, name: str, namer: Namer | None = None) -> None:
        """Name this thread `name` (Python and OS names) before it gets its work."""
        self.thread.name = name
        (set_os_name if namer is None else namer)(self.native_id, name)

    def hand(self, work: Callable[..., None], *args: Any) -> None:
        """Run `work(*args)` on this thread now: it wakes (and wants the GIL) at once."""
        self._work.put((work, args))

    def retire(self) -> None:
        self._work.put(None)

    def _main(self) -> None:
        if self._prepare is not None:
            try:
                self._prepare()
            except Exception:
                log.exception("a spare thread's preparation failed")
        item = self._work.get()
        if item is not None:
            work, args = item
            work(*args)


class SpareThreads:
    def __init__(
        self, name: str, namer: Namer | None = None, prepare: Callable[[], None] | None = None
    ) -> None:
        """Spares named `name` (OS names set by `namer`); each runs `prepare()` on itself once
        started, before any work (what every thread of the owner's does first, done ahead)."""
        self.name = name
        self._prepare = prepare
        self.namer: Namer = set_os_name if namer is None else namer
        self._lock = threading.Lock()
        self._ready: collections.deque[Spare] = collections.deque()
        self._target = 0
        self._closed = False
        self._wake: queue.SimpleQueue[float | None] = queue.SimpleQueue()  # a delay, or None: end
        self._woken = False  # a wake-up is queued that the starter has not taken yet
        self._short = False  # spares were taken since the last wake-up
        self._starter: threading.Thread | None = None

    def keep(self, count: int) -> None:
        """Keep `count` spares ready; the starter starts or ends spares to match, in the background."""
        with self._lock:
            if self._closed:
                return
            self._target = count
            start = self._starter is None and count > 0
        if start:
            # Once, and the only start this pool makes its owner wait for.
            self._starter = threading.Thread(target=self._starter_main, name=self.name, daemon=True)
            self._starter.start()
        if self._starter is not None:
            self._wake.put(0.0)

    def take(self, refill: bool = True) -> Spare | None:
        """A ready spare, or None (then start a thread the usual way).  The pool refills itself,
        or, with `refill` false, once the owner calls :meth:`refill` (after a batch of takes: the
        starter's new threads want the GIL, and would take turns in the middle of the batch)."""
        with self._lock:
            spare = self._ready.popleft() if self._ready else None
            self._short = self._short or spare is not None
        if refill:
            self.refill()
        return spare

    def give_back(self, spare: Spare) -> None:
        """Return a spare taken but not used (it goes first in line again)."""
        with self._lock:
            if not self._closed:
                self._ready.appendleft(spare)
                return
        spare.retire()
        spare.thread.join()

    def refill(self) -> None:
        """Wake the starter to replace the spares taken (once, however many were)."""
        with self._lock:
            wake = self._short and not self._woken
            self._woken = self._woken or wake
            self._short = False
        if wake:
            self._wake.put(REFILL_DELAY)

    def ready(self) -> int:
        with self._lock:
            return len(self._ready)

    def close(self) -> None:
        """End the starter and every spare that never got work, and join them."""
        with self._lock:
            self._closed = True
        if self._starter is not None:
            self._wake.put(None)
            self._starter.join()  # it ends the spares first

    def _starter_main(self) -> None:
        # Threads inherit their creator's OS name: the spares get the pool's name from birth.
        self.namer(threading.get_native_id(), self.name)
        while (delay := self._wake.get()) is not None:
            if delay:
                time.sleep(delay)  # a close meanwhile is seen below
            with self._lock:
                self._woken = False  # from here on, a take() must wake it again
            self._trim()
            while self._fill_one():
                pass
        self._trim()

    def _trim(self) -> None:
        """End the spares beyond the target (all of them once closed)."""
        while True:
            with self._lock:
                if len(self._ready) <= (0 if self._closed else self._target):
                    return
                spare = self._ready.pop()
            spare.retire()
            spare.thread.join()

    def _fill_one(self) -> bool:
        """Start one spare if the pool is short of its target; False when it is not."""
        with self._lock:
            if self._closed or len(self._ready) >= self._target:
                return False
        spare = Spare(self.name, self._prepare)
        try:
            spare.thread.start()  # waits until it ran: this thread can afford that
        except RuntimeError:
            log.exception("cannot start a spare thread")
            return False
        with self._lock:
            keep = not self._closed and len(self._ready) < self._target
            if keep:
                self._ready.append(spare)
        if not keep:
            spare.retire()
            spare.thread.join()
        return keep


def set_os_name(tid: int, name: str) -> None:
    """Name a thread of this process as `ps`, `top` and /proc show it (15 bytes at most)."""
    # A thread that is gone already, or a /proc that does not allow it: the name is only cosmetic.
    # open(), not pathlib: importing pathlib costs the daemon's start-up more than this module.
    with contextlib.suppress(OSError), open(f"/proc/self/task/{tid}/comm", "w") as comm:
        comm.write(name[:15])
