"""vmd.spare_threads with real threads: started ahead, handed work at once, named, all joined."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from vmd.spare_threads import SpareThreads

TIMEOUT = 10.0


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def os_name(tid: int) -> str:
    return Path(f"/proc/self/task/{tid}/comm").read_text().strip()


def pool_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_spares_are_started_ahead_and_named_from_birth() -> None:
    pool = SpareThreads("spare-test")
    try:
        pool.keep(2)
        eventually(lambda: pool.ready() == 2)
        threads = pool_threads("spare-test")
        assert len(threads) == 3  # the starter and two spares
        assert {os_name(t.native_id) for t in threads if t.native_id} == {"spare-test"}
    finally:
        pool.close()
    assert pool_threads("spare-test") == []


def test_a_taken_spare_runs_its_work_under_its_new_name_and_the_pool_refills() -> None:
    pool = SpareThreads("spare-test")
    ran: list[tuple[str, int]] = []
    done, finish = threading.Event(), threading.Event()

    def work(value: int) -> None:
        ran.append((threading.current_thread().name, value))
        done.set()
        finish.wait(TIMEOUT)

    try:
        pool.keep(1)
        eventually(lambda: pool.ready() == 1)
        spare = pool.take()
        assert spare is not None
        tid = spare.native_id  # known before the work even starts: what query-cpus-fast reports
        spare.run("worker7", work, 7)
        assert os_name(tid) == "worker7"
        assert done.wait(TIMEOUT)
        finish.set()
        spare.thread.join(TIMEOUT)
        assert not spare.thread.is_alive()
        assert ran == [("worker7", 7)]
        eventually(lambda: pool.ready() == 1)
    finally:
        pool.close()
    assert pool_threads("spare-test") == []


def test_a_lower_target_ends_the_surplus_and_zero_starts_nothing() -> None:
    pool = SpareThreads("spare-test")
    try:
        pool.keep(0)
        assert pool_threads("spare-test") == []  # no starter for a pool that keeps none
        pool.keep(3)
        eventually(lambda: pool.ready() == 3)
        pool.keep(1)
        eventually(lambda: pool.ready() == 1 and len(pool_threads("spare-test")) == 2)
    finally:
        pool.close()
    assert pool_threads("spare-test") == []
    pool.keep(2)  # a closed pool stays closed
    assert pool.take() is None
    assert pool_threads("spare-test") == []
