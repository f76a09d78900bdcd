"""Migration vmd to vmd over real sockets: the guest goes on where it stopped, hot-plugged CPUs by
slot whatever the plug order, a target that does not fit refuses before any RAM and the source
keeps its guest, pending unplugs finish on the target, and QEMU 7.2's statuses, events, run
states and errors on both sides (tests/integration/test_migration_vs_qemu.py compares the
shapes QEMU shows)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.events import EventListener

from tests.peers import TIMEOUT, Peer, qmp_client

CPU = "qemu64-x86_64-cpu"
BASE = ("-M", "q35", "-smp", "1,maxcpus=4", "-m", "128")
EVENTS_ON = {"capabilities": [{"capability": "events", "state": True}]}
DONE = ("completed", "failed", "cancelled")


def cpu(core: int, device_id: str) -> dict[str, Any]:
    return {"driver": CPU, "id": device_id, "socket-id": 0, "core-id": core, "thread-id": 0}


async def refused(call: Awaitable[object], text: str) -> None:
    """The command fails with exactly this GenericError text."""
    with pytest.raises(ExecuteError) as caught:
        await call
    assert str(caught.value) == text


async def wait_status(qmp: QMPClient, statuses: tuple[str, ...] = DONE) -> dict[str, Any]:
    """query-migrate until its status is one of `statuses` (events are checked elsewhere)."""
    async with asyncio.timeout(TIMEOUT * 3):
        while True:
            info = await qmp.execute("query-migrate")
            if info.get("status") in statuses:
                return info  # type: ignore[no-any-return]
            await asyncio.sleep(0.02)


async def migration_events(listener: EventListener, until: str) -> list[tuple[str, Any]]:
    """The migration-related events up to MIGRATION {status: until}, in order."""
    seen: list[tuple[str, Any]] = []
    async with asyncio.timeout(TIMEOUT * 3):
        while True:
            event = await listener.get()
            name, data = event["event"], event.get("data")
            if name in ("MIGRATION", "MIGRATION_PASS", "STOP", "RESUME", "DEVICE_DELETED"):
                seen.append((name, data))
            if name == "MIGRATION" and data["status"] == until:
                return seen


@contextlib.contextmanager
def listening(*clients: QMPClient) -> Iterator[list[EventListener]]:
    listeners = [EventListener() for _ in clients]
    with contextlib.ExitStack() as stack:
        for client, listener in zip(clients, listeners, strict=True):
            stack.enter_context(client.listen(listener))
        yield listeners


@pytest.fixture
def pair(peers: Callable[..., Peer], workdir: Path) -> Callable[..., tuple[Peer, Peer, str]]:
    def make(src_args: tuple[str, ...] = (), dst_args: tuple[str, ...] = ()) -> tuple[Peer, Peer, str]:
        source = peers("vmd", *BASE, *src_args)
        target = peers("vmd", *BASE, "-incoming", "defer", *dst_args)
        return source, target, f"unix:{workdir}/mig.sock"

    return make


async def test_a_busy_guest_goes_on_where_it_stopped(pair: Callable[..., tuple[Peer, Peer, str]]) -> None:
    source, target, uri = pair(("-vmd-guest", "load=busy"), ("-S",))
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await src.execute("migrate-set-capabilities", EVENTS_ON)
        await dst.execute("migrate-set-capabilities", EVENTS_ON)
        assert await dst.execute("query-status") == {
            "running": False,
            "singlestep": False,
            "status": "inmigrate",
        }
        assert await dst.execute("query-migrate") == {}
        with listening(src, dst) as (src_events, dst_events):
            await dst.execute("migrate-incoming", {"uri": uri})
            path = uri.removeprefix("unix:")
            assert await dst.execute("query-migrate") == {"socket-address": [{"type": "unix", "path": path}]}
            assert await src.execute("migrate", {"uri": uri}) == {}
            seen = await migration_events(src_events, "completed")
            target_seen = await migration_events(dst_events, "completed")
        names = [name for name, _ in seen]
        assert seen[:3] == [
            ("MIGRATION", {"status": "setup"}),
            ("MIGRATION_PASS", {"pass": 1}),
            ("MIGRATION", {"status": "active"}),
        ]
        assert names[-3:] == ["STOP", "MIGRATION_PASS", "MIGRATION"]
        assert seen[-2][1]["pass"] >= 2
        assert target_seen == [
            ("MIGRATION", {"status": "setup"}),
            ("MIGRATION", {"status": "active"}),
            ("MIGRATION", {"status": "completed"}),
        ]
        info = await src.execute("query-migrate")
        assert set(info) == {"status", "setup-time", "downtime", "total-time", "ram"}
        ram = info["ram"]
        assert ram["total"] == 128 << 20
        assert ram["remaining"] == 0
        assert ram["dirty-sync-count"] == seen[-2][1]["pass"]
        assert ram["transferred"] == ram["precopy-bytes"] + ram["downtime-bytes"]
        assert ram["duplicate"] + ram["normal"] >= (128 << 20) // 4096
        assert await src.execute("query-status") == {
            "running": False,
            "singlestep": False,
            "status": "postmigrate",
        }
        # -S on the target: paused, and RAM is what the source had when it stopped.
        assert await dst.execute("query-status") == {
            "running": False,
            "singlestep": False,
            "status": "paused",
        }
        assert await dst.execute("query-migrate") == {
            "status": "completed",
            "socket-address": [{"type": "unix", "path": path}],
        }
        at_switchover = await src.execute("__com.vmd_query-guest-ram")
        assert await dst.execute("__com.vmd_query-guest-ram") == at_switchover
        assert at_switchover["guest-counter"] > 0
        # The guest continues from there: its counter keeps growing.
        await dst.execute("cont")
        async with asyncio.timeout(TIMEOUT):
            before = at_switchover["guest-counter"]
            while (await dst.execute("__com.vmd_query-guest-ram"))["guest-counter"] <= before:  # noqa: ASYNC110 - polling over QMP
                await asyncio.sleep(0.05)
        policy = (await dst.execute("__com.vmd_query-guest-cpus"))["policy"]
        assert policy["load-percent"] == 100
        # The source may still be resumed (QEMU allows it: two copies), and migrates no more.
        await refused(
            src.execute("migrate", {"uri": uri}),
            "Can't migrate the vm that was paused due to previous migration",
        )
        await src.execute("cont")
        assert (await src.execute("query-status"))["status"] == "running"


async def test_hot_plugged_cpus_match_by_slot_not_plug_order(
    pair: Callable[..., tuple[Peer, Peer, str]],
) -> None:
    source, target, uri = pair()
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await src.execute("device_add", cpu(3, "cpu3"))
        await src.execute("device_add", cpu(1, "cpu1"))
        async with asyncio.timeout(TIMEOUT):
            while (await src.execute("__com.vmd_query-guest-cpus"))["online"] != "0-1,3":  # noqa: ASYNC110 - polling over QMP
                await asyncio.sleep(0.02)
        # libvirt plugs into the inmigrate target, in its own order.
        await dst.execute("device_add", cpu(1, "vcpu1"))
        await dst.execute("device_add", cpu(3, "vcpu3"))
        await dst.execute("migrate-incoming", {"uri": uri})
        await src.execute("migrate", {"uri": uri})
        assert (await wait_status(src))["status"] == "completed"
        assert (await wait_status(dst))["status"] == "completed"
        assert (await dst.execute("query-status"))["status"] == "running"
        guest = await dst.execute("__com.vmd_query-guest-cpus")
        assert (guest["present"], guest["online"]) == ("0-1,3", "0-1,3")
        plugged = [c["qom-path"] for c in await dst.execute("query-hotpluggable-cpus") if "qom-path" in c]
        assert sorted(plugged) == [
            "/machine/peripheral/vcpu1",
            "/machine/peripheral/vcpu3",
            "/machine/unattached/device[0]",
        ]
        # The migrated guest answers an unplug as the source's would have.
        with listening(dst) as (events,):
            await dst.execute("device_del", {"id": "vcpu3"})
            seen = await _until_deleted(events, "vcpu3")
        assert seen


async def _until_deleted(listener: EventListener, device: str) -> bool:
    async with asyncio.timeout(TIMEOUT):
        while True:
            event = await listener.get()
            if event["event"] == "DEVICE_DELETED" and event["data"].get("device") == device:
                return True


async def test_a_target_without_the_cpu_refuses_and_the_source_keeps_its_guest(
    pair: Callable[..., tuple[Peer, Peer, str]],
) -> None:
    source, target, uri = pair(("-vmd-guest", "load=busy"))
    async with qmp_client(target.socket) as dst:
        await dst.execute("migrate-incoming", {"uri": uri})
    async with qmp_client(source.socket) as src:
        await src.execute("migrate-set-capabilities", EVENTS_ON)
        await src.execute("device_add", cpu(1, "cpu1"))
        with listening(src) as (events,):
            await src.execute("migrate", {"uri": uri})
            seen = await migration_events(events, "failed")
        assert ("STOP", None) not in seen  # refused before any RAM: the guest never stopped
        info = await src.execute("query-migrate")
        assert info == {
            "status": "failed",
            "error-desc": "the target refused the migration: the source's VM does not match this one: "
            "the source has a CPU in slot 1 (socket-id=0,core-id=1,thread-id=0), id cpu1 that this VM "
            "lacks (start it with the matching -device, or device_add it before migrate-incoming)",
        }
        assert (await src.execute("query-status"))["status"] == "running"
    # As QEMU's, the target exits with status 1 and says why.
    assert target.wait_exit()
    assert "load of migration failed: the source's VM does not match this one" in target.log.read_text()


async def test_a_ram_size_mismatch_is_named(peers: Callable[..., Peer], workdir: Path) -> None:
    source = peers("vmd", "-M", "q35", "-m", "128")
    target = peers("vmd", "-M", "q35", "-m", "256", "-incoming", f"unix:{workdir}/m.sock")
    async with qmp_client(source.socket) as src:
        await src.execute("migrate", {"uri": f"unix:{workdir}/m.sock"})
        info = await wait_status(src)
    assert info["error-desc"] == (
        "the target refused the migration: the source's VM does not match this one: "
        "the source has 128 MiB of RAM, this VM 256 MiB"
    )
    assert target.wait_exit()


async def test_a_pending_unplug_completes_on_the_target(pair: Callable[..., tuple[Peer, Peer, str]]) -> None:
    # The source's guest takes its time to answer the eject request; the target's answers it.
    source, target, uri = pair(("-vmd-guest", "delay-ms=60000"), ("-vmd-guest", "delay-ms=60000"))
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await src.execute("__com.vmd_set-guest-policy", {"delay-ms": 0})
        await src.execute("device_add", cpu(2, "cpu2"))
        async with asyncio.timeout(TIMEOUT):
            while (await src.execute("__com.vmd_query-guest-cpus"))["online"] != "0,2":  # noqa: ASYNC110 - polling over QMP
                await asyncio.sleep(0.02)
        await src.execute("__com.vmd_set-guest-policy", {"delay-ms": 60000})
        await src.execute("device_del", {"id": "cpu2"})
        await dst.execute("device_add", cpu(2, "cpu2"))
        await dst.execute("migrate-incoming", {"uri": uri})
        with listening(dst) as (events,):
            await src.execute("migrate", {"uri": uri})
            assert (await wait_status(src))["status"] == "completed"
            # The migrated policy says delay-ms=60000: make this side's guest prompt, so the
            # request that came over is answered now.
            await dst.execute("__com.vmd_set-guest-policy", {"delay-ms": 0})
            assert await _until_deleted(events, "cpu2")
        assert (await dst.execute("__com.vmd_query-guest-cpus"))["present"] == "0"


async def test_pause_before_switchover_then_cancel(pair: Callable[..., tuple[Peer, Peer, str]]) -> None:
    source, target, uri = pair()
    caps = {
        "capabilities": [
            {"capability": "events", "state": True},
            {"capability": "pause-before-switchover", "state": True},
        ]
    }
    async with qmp_client(target.socket) as dst:
        await dst.execute("migrate-incoming", {"uri": uri})
    async with qmp_client(source.socket) as src:
        await src.execute("migrate-set-capabilities", caps)
        with listening(src) as (events,):
            await src.execute("migrate", {"uri": uri})
            seen = await migration_events(events, "pre-switchover")
            assert seen[-2:] == [("STOP", None), ("MIGRATION", {"status": "pre-switchover"})]
            assert (await src.execute("query-status"))["status"] == "finish-migrate"
            info = await src.execute("query-migrate")
            assert set(info) == {"status", "expected-downtime", "setup-time", "total-time", "ram"}
            # Hot-plugs and capability changes wait for the migration's end, in QEMU's words.
            await refused(src.execute("device_add", cpu(1, "cpu1")), "device_add not allowed while migrating")
            await refused(src.execute("device_del", {"id": "cpu1"}), "device_del not allowed while migrating")
            await refused(
                src.execute("migrate-set-capabilities", EVENTS_ON), "There's a migration process in progress"
            )
            await refused(src.execute("migrate", {"uri": uri}), "There's a migration process in progress")
            await refused(
                src.execute("migrate-continue", {"state": "active"}),
                "Migration not in expected state: pre-switchover",
            )
            await src.execute("migrate-set-parameters", {"max-bandwidth": 1 << 30})  # allowed meanwhile
            await src.execute("migrate_cancel")
            seen = await migration_events(events, "cancelled")
        assert seen == [
            ("MIGRATION", {"status": "cancelling"}),
            ("RESUME", None),
            ("MIGRATION", {"status": "cancelled"}),
        ]
        assert await src.execute("query-migrate") == {"status": "cancelled"}
        assert (await src.execute("query-status"))["status"] == "running"
    assert target.wait_exit()  # the target saw the stream end and gave up, as QEMU's does


async def test_pause_before_switchover_then_continue(pair: Callable[..., tuple[Peer, Peer, str]]) -> None:
    source, target, uri = pair()
    caps = {
        "capabilities": [
            {"capability": "events", "state": True},
            {"capability": "pause-before-switchover", "state": True},
            {"capability": "return-path", "state": True},
        ]
    }
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await src.execute("migrate-set-capabilities", caps)
        await dst.execute("migrate-incoming", {"uri": uri})
        with listening(src) as (events,):
            await src.execute("migrate", {"uri": uri})
            await migration_events(events, "pre-switchover")
            await src.execute("migrate-continue", {"state": "pre-switchover"})
            seen = await migration_events(events, "completed")
        assert [name for name, _ in seen] == ["MIGRATION", "MIGRATION_PASS", "MIGRATION"]
        assert seen[0] == ("MIGRATION", {"status": "device"})
        assert (await wait_status(dst))["status"] == "completed"


async def test_tcp_loopback_and_exec_into_a_file(peers: Callable[..., Peer], workdir: Path) -> None:
    source = peers("vmd", *BASE)
    target = peers("vmd", *BASE, "-incoming", "defer")
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await dst.execute("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
        (address,) = (await dst.execute("query-migrate"))["socket-address"]
        assert address == {"type": "inet", "host": "127.0.0.1", "port": address["port"], "ipv4": True}
        await src.execute("migrate", {"uri": f"tcp:127.0.0.1:{address['port']}"})
        assert (await wait_status(src))["status"] == "completed"
        assert (await wait_status(dst))["status"] == "completed"
        # exec: the stream through a command, into a file and back (save and restore).
        await dst.execute("stop")
        saved = workdir / "vm.state"
        await dst.execute("migrate", {"uri": f"exec:cat > {saved}"})
        assert (await wait_status(dst))["status"] == "completed"
        digest = await dst.execute("__com.vmd_query-guest-ram")
    restored = peers("vmd", *BASE, "-incoming", f"exec:cat {saved}")
    async with qmp_client(restored.socket) as qmp:
        assert (await wait_status(qmp))["status"] == "completed"
        assert (await qmp.execute("query-status"))["status"] == "paused"  # it was paused when saved
        assert await qmp.execute("__com.vmd_query-guest-ram") == digest


async def test_inherited_fd_of_a_regular_file(peers: Callable[..., Peer], workdir: Path) -> None:
    """libvirt's restore: -incoming defer, then migrate-incoming fd:N with a file whose offset is
    past libvirt's own header."""
    saved = workdir / "vm.save"
    source = peers("vmd", *BASE)
    async with qmp_client(source.socket) as src:
        await src.execute("migrate", {"uri": f"exec:cat > {saved}"})
        assert (await wait_status(src))["status"] == "completed"
    stream = saved.read_bytes()
    saved.write_bytes(b"LibvirtQemudSave-header" + stream)
    fd = os.open(saved, os.O_RDONLY)
    os.lseek(fd, len(b"LibvirtQemudSave-header"), os.SEEK_SET)
    try:
        target = _start_with_fd(peers, fd)
    finally:
        os.close(fd)
    async with qmp_client(target.socket) as dst:
        await dst.execute("migrate-incoming", {"uri": f"fd:{fd}"})
        assert (await wait_status(dst))["status"] == "completed"
        assert (await dst.execute("query-status"))["status"] == "running"


def _start_with_fd(peers: Callable[..., Peer], fd: int) -> Peer:
    return peers("vmd", *BASE, "-incoming", "defer", pass_fds=(fd,))


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("foo:bar", "Parameter 'uri' expects a valid migration protocol"),
        ("bogus", "Parameter 'uri' expects a valid migration protocol"),
        ("file:/x", "Parameter 'uri' expects a valid migration protocol"),
        ("unix:", "invalid Unix socket address"),
        ("tcp:127.0.0.1", "error parsing address '127.0.0.1'"),
        ("fd:migrate", "File descriptor named 'migrate' has not been found"),
        ("fd:1", "File descriptor named '1' has not been found"),
    ],
)
async def test_migrate_errors(vmd: Peer, uri: str, error: str) -> None:
    async with qmp_client(vmd.socket) as qmp:
        await qmp.execute("migrate-set-capabilities", EVENTS_ON)
        with listening(qmp) as (events,):
            with pytest.raises(ExecuteError) as caught:
                await qmp.execute("migrate", {"uri": uri})
            assert str(caught.value) == error
            got = [await asyncio.wait_for(events.get(), TIMEOUT) for _ in range(2)]
        assert [e["data"]["status"] for e in got] == ["setup", "failed"]
        # QEMU keeps the text for query-migrate, except an unknown protocol's.
        kept = {} if error.endswith("a valid migration protocol") else {"error-desc": error}
        assert await qmp.execute("query-migrate") == {"status": "failed", **kept}


async def test_asynchronous_failures(vmd: Peer, workdir: Path) -> None:
    async with qmp_client(vmd.socket) as qmp:
        await qmp.execute("migrate", {"uri": f"unix:{workdir}/nobody.sock"})
        info = await wait_status(qmp)
        assert info == {
            "status": "failed",
            "error-desc": f"Failed to connect to '{workdir}/nobody.sock': No such file or directory",
        }
        await qmp.execute("migrate", {"uri": "exec:false"})
        info = await wait_status(qmp)
        assert info == {"status": "failed", "error-desc": "Unable to write to command: Broken pipe"}
        assert (await qmp.execute("query-status"))["status"] == "prelaunch"


async def test_incoming_errors_and_states(peers: Callable[..., Peer], workdir: Path) -> None:
    plain = peers("vmd", *BASE)
    async with qmp_client(plain.socket) as qmp:
        await refused(
            qmp.execute("migrate-incoming", {"uri": "defer"}),
            "'-incoming' was not specified on the command line",
        )
        await qmp.execute("migrate_cancel")  # always {}
    target = peers("vmd", *BASE, "-incoming", "defer")
    async with qmp_client(target.socket) as qmp:
        await refused(
            qmp.execute("migrate-incoming", {"uri": "foo:bar"}), "unknown migration protocol: foo:bar"
        )
        await refused(
            qmp.execute("migrate-incoming", {"uri": "unix:/nonexistent-dir/x.sock"}),
            "Failed to bind socket to /nonexistent-dir/x.sock: No such file or directory",
        )
        await refused(
            qmp.execute("migrate", {"uri": f"unix:{workdir}/x.sock"}),
            "Guest is waiting for an incoming migration",
        )
        await qmp.execute("migrate-incoming", {"uri": f"unix:{workdir}/in.sock"})
        await refused(
            qmp.execute("migrate-incoming", {"uri": f"unix:{workdir}/in2.sock"}),
            "The incoming migration has already been started",
        )
        await qmp.execute("stop")  # only cancels the autostart
        assert (await qmp.execute("query-status"))["status"] == "inmigrate"
        await qmp.execute("migrate_cancel")


async def test_capabilities_and_parameters(vmd: Peer) -> None:
    async with qmp_client(vmd.socket) as qmp:
        caps = await qmp.execute("query-migrate-capabilities")
        assert len(caps) == 21
        assert caps[0] == {"capability": "xbzrle", "state": False}
        # libvirt's save: its 11 capabilities, all off.
        off = ["xbzrle", "auto-converge", "rdma-pin-all", "postcopy-ram", "compress",
               "pause-before-switchover", "late-block-activate", "multifd", "dirty-bitmaps",
               "return-path", "zero-copy-send"]  # fmt: skip
        await qmp.execute(
            "migrate-set-capabilities", {"capabilities": [{"capability": c, "state": False} for c in off]}
        )
        postcopy = {"capabilities": [{"capability": "postcopy-ram", "state": True}]}
        await refused(
            qmp.execute("migrate-set-capabilities", postcopy),
            "Migration capability 'postcopy-ram' is not supported by vmd",
        )
        params = await qmp.execute("query-migrate-parameters")
        assert params["max-bandwidth"] == 134217728
        assert params["downtime-limit"] == 300
        await qmp.execute(
            "migrate-set-parameters",
            {"max-bandwidth": 9223372036853727232, "tls-creds": "", "tls-hostname": ""},
        )
        await qmp.execute("migrate-set-parameters", {"max-bandwidth": -1})
        assert (await qmp.execute("query-migrate-parameters"))["max-bandwidth"] == 18446744073709551615
        for args, error in (
            (
                {"downtime-limit": 2000001},
                "Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms",
            ),
            ({"multifd-channels": 0}, "Parameter 'multifd_channels' expects a value between 1 and 255"),
            ({"max-bandwidth": "fast"}, "Parameter 'max-bandwidth' expects uint64"),
            ({"foo": 1}, "Parameter 'foo' is unexpected"),
        ):
            with pytest.raises(ExecuteError) as caught:
                await qmp.execute("migrate-set-parameters", args)
            assert str(caught.value) == error
        await refused(
            qmp.execute("migrate-continue", {"state": "pre-switchover"}),
            "Migration not in expected state: none",
        )


async def test_getfd_socket_and_save_file_as_libvirt_passes_them(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    """libvirt connects the migration socket itself (or opens the save file) and passes the fd
    with getfd; `fd:migrate` then writes at the fd's offset, after libvirt's own header."""
    source = peers("vmd", *BASE)
    target = peers("vmd", *BASE, "-incoming", "defer")
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await refused(
            src.execute("getfd", {"fdname": "migrate"}), "No file descriptor supplied via SCM_RIGHTS"
        )
        await dst.execute("migrate-incoming", {"uri": f"unix:{workdir}/in.sock"})
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(workdir / "in.sock"))
        src.send_fd_scm(conn.fileno())
        conn.close()  # the daemon has its own copy now
        await src.execute("getfd", {"fdname": "migrate"})
        await src.execute("migrate", {"detach": True, "resume": False, "uri": "fd:migrate"})
        assert (await wait_status(src))["status"] == "completed"
        assert (await wait_status(dst))["status"] == "completed"
        # The name was used up by the migration, as in QEMU.
        await refused(
            src.execute("closefd", {"fdname": "migrate"}), "File descriptor named 'migrate' not found"
        )
        # A save file: libvirt's header first, the stream after it.
        await dst.execute("stop")
        header = b"LibvirtQemudSave" + bytes(48)
        save = workdir / "vm.save"
        with open(save, "wb") as out:  # noqa: ASYNC230 - a small local file
            out.write(header)
            out.flush()
            dst.send_fd_scm(out.fileno())
        await dst.execute("getfd", {"fdname": "migrate"})
        await dst.execute("migrate", {"uri": "fd:migrate"})
        assert (await wait_status(dst))["status"] == "completed"
        digest = await dst.execute("__com.vmd_query-guest-ram")
        # add-fd keeps fds in sets (7.2's migration does not use them).
        with open(save, "rb") as extra:  # noqa: ASYNC230 - a small local file
            dst.send_fd_scm(extra.fileno())
            added = await dst.execute("add-fd", {"fdset-id": 1, "opaque": "migration"})
        assert added["fdset-id"] == 1
        fdsets = await dst.execute("query-fdsets")
        assert fdsets == [{"fdset-id": 1, "fds": [{"fd": added["fd"], "opaque": "migration"}]}]
        await dst.execute("remove-fd", {"fdset-id": 1})
        assert await dst.execute("query-fdsets") == []
    assert save.read_bytes().startswith(header + b"VMDM")
    fd = os.open(save, os.O_RDONLY)
    os.lseek(fd, len(header), os.SEEK_SET)
    try:
        restored = _start_with_fd(peers, fd)
    finally:
        os.close(fd)
    async with qmp_client(restored.socket) as qmp:
        await qmp.execute("migrate-incoming", {"uri": f"fd:{fd}"})
        assert (await wait_status(qmp))["status"] == "completed"
        assert (await qmp.execute("query-status"))["status"] == "paused"
        assert await qmp.execute("__com.vmd_query-guest-ram") == digest


async def test_while_active_cancel_and_bandwidth(pair: Callable[..., tuple[Peer, Peer, str]]) -> None:
    """A migration held back by max-bandwidth: query-migrate's active shape, hot-plugs refused,
    migrate_cancel; then a new bandwidth applies at once and the next migration completes."""
    source, target, uri = pair((), ("-S",))
    async with qmp_client(target.socket) as dst:
        await dst.execute("migrate-incoming", {"uri": uri})
    async with qmp_client(source.socket) as src:
        await src.execute("migrate-set-capabilities", EVENTS_ON)
        await src.execute("migrate-set-parameters", {"max-bandwidth": 20000})  # bytes/s: many seconds
        with listening(src) as (events,):
            await src.execute("migrate", {"uri": uri})
            info = await wait_status(src, ("active",))
            assert set(info) == {"status", "expected-downtime", "setup-time", "total-time", "ram"}
            assert info["expected-downtime"] == 300
            assert info["ram"]["total"] == 128 << 20
            await refused(src.execute("device_add", cpu(1, "cpu1")), "device_add not allowed while migrating")
            assert (await src.execute("query-status"))["status"] == "running"
            await src.execute("migrate_cancel")
            seen = await migration_events(events, "cancelled")
        assert seen[-2:] == [("MIGRATION", {"status": "cancelling"}), ("MIGRATION", {"status": "cancelled"})]
        assert (await src.execute("query-status"))["status"] == "running"
        await src.execute("device_add", cpu(1, "cpu1"))  # idle again: hot-plugs go through
    assert target.wait_exit()  # its stream was cut: it gave up, as QEMU's does


async def test_a_raised_bandwidth_applies_at_once(pair: Callable[..., tuple[Peer, Peer, str]]) -> None:
    source, target, uri = pair()
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await dst.execute("migrate-incoming", {"uri": uri})
        await src.execute("migrate-set-parameters", {"max-bandwidth": 1000})  # bytes/s: hours
        await src.execute("migrate", {"uri": uri})
        await wait_status(src, ("active",))
        await src.execute("migrate-set-parameters", {"max-bandwidth": 0})  # no limit
        assert (await wait_status(src))["status"] == "completed"
        assert (await wait_status(dst))["status"] == "completed"


async def test_a_held_back_pass_counts_remaining_down_as_pages_go(
    pair: Callable[..., tuple[Peer, Peer, str]],
) -> None:
    """At a low max-bandwidth the pages go a window's worth at a time, so `ram.remaining` (what
    libvirt's domjobinfo and `virsh migrate --verbose` show) falls through the pass, as QEMU's
    does, instead of dropping to 0 with the first chunk while the pass goes on for seconds."""
    source, target, uri = pair()
    async with qmp_client(target.socket) as dst:
        await dst.execute("migrate-incoming", {"uri": uri})
    async with qmp_client(source.socket) as src:
        # 20000 bytes/s: the first pass (32768 pages, 8 bytes per zero page) takes over 10 s.
        await src.execute("migrate-set-parameters", {"max-bandwidth": 20000})
        await src.execute("migrate", {"uri": uri})
        first = (await wait_status(src, ("active",)))["ram"]
        assert first["dirty-sync-count"] == 1
        assert 0 < first["remaining"] <= first["total"]
        async with asyncio.timeout(TIMEOUT):
            while True:
                ram = (await src.execute("query-migrate"))["ram"]
                if ram["remaining"] < first["remaining"]:
                    break
                await asyncio.sleep(0.05)
        assert ram["remaining"] > 0  # the same pass, under way
        assert ram["dirty-sync-count"] == 1
        await src.execute("migrate_cancel")
        assert (await wait_status(src))["status"] == "cancelled"
    assert target.wait_exit()  # its stream was cut


async def test_pseries_cores_migrate_with_their_connectors_and_a_pending_unplug_completes(
    peers: Callable[..., Peer], workdir: Path
) -> None:
    """pseries: the DR connectors' state goes with the stream (only the connectors not in their
    reset default); a core the source's guest was asked to remove is removed on the target."""
    base = ("-M", "pseries", "-smp", "2,maxcpus=8,threads=2", "-m", "512")
    source = peers("vmd", *base, "-vmd-guest", "delay-ms=60000", target="ppc64")
    target = peers("vmd", *base, "-incoming", "defer", "-vmd-guest", "delay-ms=60000", target="ppc64")
    uri = f"unix:{workdir}/mig.sock"
    core = {"driver": "power9_v2.0-spapr-cpu-core", "id": "core4", "core-id": 4}
    async with qmp_client(source.socket) as src, qmp_client(target.socket) as dst:
        await src.execute("__com.vmd_set-guest-policy", {"delay-ms": 0})
        await src.execute("device_add", core)
        async with asyncio.timeout(TIMEOUT):
            while (await src.execute("__com.vmd_query-guest-cpus"))["online"] != "0-1,4-5":  # noqa: ASYNC110 - polling over QMP
                await asyncio.sleep(0.02)
        await src.execute("__com.vmd_set-guest-policy", {"delay-ms": 60000})
        await src.execute("device_del", {"id": "core4"})  # the guest will take a minute to answer
        await dst.execute("device_add", core)
        await dst.execute("migrate-incoming", {"uri": uri})
        drc = "/machine/dr-connector[268435460]"  # 0x10000000 + slot 2 x vsmt 2
        with listening(dst) as (events,):
            await src.execute("migrate", {"uri": uri})
            assert (await wait_status(src))["status"] == "completed"
            # The source's guest had configured the connector: its fdt is there on the target too.
            assert await dst.execute("qom-get", {"path": drc, "property": "fdt"}) is not None
            await dst.execute("__com.vmd_set-guest-policy", {"delay-ms": 0})
            assert await _until_deleted(events, "core4")
        assert (await dst.execute("__com.vmd_query-guest-cpus"))["present"] == "0-1"
