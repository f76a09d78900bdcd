"""vmd's own wire behaviour, driven with qemu.qmp's QMPClient and raw sockets."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from qemu.qmp import ExecuteError, QMPClient

from tests.peers import REPO, TIMEOUT, Peer, RawQmp, qmp_client, vmd_command
from tests.replies import as_dict


async def test_greeting_reports_qemu_72_and_vmd_package(vmd: Peer) -> None:
    raw = await RawQmp.connect(vmd.socket)
    assert raw.greeting == {
        "QMP": {
            "version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "vmd 0.1.0"},
            "capabilities": ["oob"],
        }
    }
    await raw.close()


async def test_output_is_ascii_json_lines_ending_in_crlf(vmd: Peer) -> None:
    raw = await RawQmp.connect(vmd.socket, negotiate=True)
    await raw.send(b'{"execute": "query-status", "id": "\xc3\xa9"}')
    assert await raw.recv_line() == (
        b'{"return": {"running": false, "singlestep": false, "status": "prelaunch"}, "id": "\\u00E9"}\r\n'
    )
    await raw.close()


async def test_qmp_client_runs_commands_and_sees_events(vmd: Peer) -> None:
    async with qmp_client(vmd.socket) as qmp:
        assert await qmp.execute("query-status") == {
            "status": "prelaunch",
            "singlestep": False,
            "running": False,
        }
        with qmp.listener() as listener:
            await qmp.execute("cont")
            event = await asyncio.wait_for(listener.get(), TIMEOUT)
            assert event["event"] == "RESUME"
            assert set(as_dict(event["timestamp"])) == {"seconds", "microseconds"}
            await qmp.execute("stop")
            assert (await asyncio.wait_for(listener.get(), TIMEOUT))["event"] == "STOP"
        assert as_dict(await qmp.execute("query-status"))["status"] == "paused"


async def test_qmp_client_gets_qemu_errors(vmd: Peer) -> None:
    async with qmp_client(vmd.socket) as qmp:
        with pytest.raises(ExecuteError) as caught:
            await qmp.execute("qom-list", {"path": 5})
        assert caught.value.error_class == "GenericError"
        assert caught.value.error.error.desc == "Invalid parameter type for 'path', expected: string"
        with pytest.raises(ExecuteError) as caught:
            await qmp.execute("no-such-command")
        assert caught.value.error_class == "CommandNotFound"


async def test_events_only_reach_negotiated_sessions_and_are_not_queued(vmd: Peer) -> None:
    waiting = await RawQmp.connect(vmd.socket)
    active = await RawQmp.connect(vmd.socket, negotiate=True)
    await active.send(b'{"execute": "cont", "id": 1}')
    reply, events = await active.recv_reply()
    assert reply == {"return": {}, "id": 1}
    assert [e["event"] for e in events] == ["RESUME"]
    # The un-negotiated client got nothing, and negotiating later does not replay RESUME.
    await waiting.send(b'{"execute": "qmp_capabilities", "id": "n"}')
    assert await waiting.recv() == {"return": {}, "id": "n"}
    await active.send(b'{"execute": "stop", "id": 2}')
    message = await waiting.recv()
    assert message["event"] == "STOP"
    await waiting.close()
    await active.close()


async def test_several_monitors_each_negotiate_and_all_get_events(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-S", monitors=3)
    clients = [await RawQmp.connect(path, negotiate=True) for path in peer.sockets]
    await clients[0].send(b'{"execute": "system_reset", "id": "r"}')
    for client in clients:
        event = await client.recv()
        assert event["event"] == "RESET"
        assert event["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
    assert (await clients[0].recv())["id"] == "r"
    for client in clients:
        await client.close()


async def test_one_socket_serves_concurrent_clients(vmd: Peer) -> None:
    # QEMU leaves a second client on the same socket hanging until the first leaves; vmd serves both.
    first = await RawQmp.connect(vmd.socket, negotiate=True)
    second = await RawQmp.connect(vmd.socket, negotiate=True)
    await second.send(b'{"execute": "query-name", "id": 2}')
    assert await second.recv() == {"return": {}, "id": 2}
    await first.send(b'{"execute": "query-name", "id": 1}')
    assert await first.recv() == {"return": {}, "id": 1}
    await first.close()
    await second.close()


def test_socket_file_mode_is_0600(vmd: Peer) -> None:
    assert stat.S_IMODE(os.stat(vmd.socket).st_mode) == 0o600


def test_socket_mode_can_be_set(peers: Callable[..., Peer], workdir: Path) -> None:
    path = workdir / "wide.sock"
    peer = peers("vmd", "-S", "-qmp", f"unix:{path},server=on,wait=off,mode=0660")
    assert peer.alive()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660


async def test_stale_socket_file_does_not_stop_a_restart(peers: Callable[..., Peer], workdir: Path) -> None:
    path = workdir / "stale.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))  # what a SIGKILLed daemon leaves behind: a socket file nobody listens on
    dead.close()
    peer = peers("vmd", "-S", "-qmp", f"unix:{path},server=on,wait=off")
    async with qmp_client(str(path)) as qmp:
        assert as_dict(await qmp.execute("query-status"))["status"] == "prelaunch"
    assert peer.alive()


def test_live_socket_is_not_stolen(vmd: Peer, peers: Callable[..., Peer]) -> None:
    with pytest.raises(RuntimeError, match="Address already in use"):
        peers("vmd", "-S", "-qmp", f"unix:{vmd.socket},server=on,wait=off")
    assert vmd.alive()


async def test_quit_sends_shutdown_then_reply_then_eof_and_cleans_up(vmd: Peer) -> None:
    other = await RawQmp.connect(vmd.socket, negotiate=True)
    raw = await RawQmp.connect(vmd.socket, negotiate=True)
    await raw.send(b'{"execute": "quit", "id": "q"}')
    event = await raw.recv()
    assert event["event"] == "SHUTDOWN"
    assert event["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert await raw.recv() == {"return": {}, "id": "q"}
    assert await raw.at_eof()
    assert (await other.recv())["event"] == "SHUTDOWN"
    assert await other.at_eof()
    assert vmd.wait_exit()
    assert not os.path.exists(vmd.socket)
    assert not (vmd.workdir / "vmd.pid").exists()
    await raw.close()
    await other.close()


async def test_sigterm_shuts_down_cleanly(vmd: Peer) -> None:
    raw = await RawQmp.connect(vmd.socket, negotiate=True)
    os.kill(vmd.pid, 15)
    event = await raw.recv()
    assert event["event"] == "SHUTDOWN"
    assert event["data"] == {"guest": False, "reason": "host-signal"}
    assert await raw.at_eof()
    assert vmd.wait_exit()
    assert not os.path.exists(vmd.socket)
    await raw.close()


async def test_deep_nesting_is_an_error_and_the_session_goes_on(vmd: Peer) -> None:
    raw = await RawQmp.connect(vmd.socket, negotiate=True)
    await raw.send(b"[" * 1100)
    first = await raw.recv()
    assert first == {"error": {"class": "GenericError", "desc": "JSON nesting depth limit exceeded"}}
    await raw.send(b"\x02")  # the documented way to reset the parser
    await raw.send(b'{"execute": "query-name", "id": "after"}')
    assert (await raw.until_id("after"))[-1] == {"return": {}, "id": "after"}
    await raw.close()


async def test_oversized_message_is_an_error_and_others_are_unaffected(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-S", "-vmd-limits", "max-message=4096")
    bystander = await RawQmp.connect(peer.socket, negotiate=True)
    raw = await RawQmp.connect(peer.socket, negotiate=True)
    await raw.send(b'{"execute": "query-name", "id": "' + b"x" * 10000 + b'"}')
    await raw.send(b"\x02")
    await raw.send(b'{"execute": "query-name", "id": "after"}')
    received = await raw.until_id("after")
    assert received[-1] == {"return": {}, "id": "after"}
    assert all(m["error"]["class"] == "GenericError" for m in received[:-1])
    assert any("JSON token size limit exceeded" in m["error"]["desc"] for m in received[:-1])
    await bystander.send(b'{"execute": "query-name", "id": "b"}')
    assert await bystander.recv() == {"return": {}, "id": "b"}
    await raw.close()
    await bystander.close()


async def test_pipelined_client_that_does_not_read_is_throttled_not_dropped(vmd: Peer) -> None:
    greedy = await RawQmp.connect(vmd.socket, negotiate=True)
    bystander = await RawQmp.connect(vmd.socket, negotiate=True)
    count = 20000
    batch = b"".join(b'{"execute": "query-status", "id": %d}' % i for i in range(count))
    greedy.writer.write(batch)  # not drained: vmd must stop reading rather than buffer without bound
    await bystander.send(b'{"execute": "query-name", "id": "b"}')
    assert await bystander.recv() == {"return": {}, "id": "b"}
    for i in range(count):
        assert (await greedy.recv())["id"] == i
    await greedy.close()
    await bystander.close()


async def test_client_that_never_reads_events_is_disconnected_others_served(
    peers: Callable[..., Peer],
) -> None:
    peer = peers("vmd", "-S", "-vmd-limits", "max-output=65536,write-high-water=4096")
    deaf = socket.socket(socket.AF_UNIX)  # a plain blocking socket this test never reads again
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.settimeout(TIMEOUT)
    deaf.connect(peer.socket)
    deaf.recv(4096)  # greeting
    deaf.sendall(b'{"execute": "qmp_capabilities"}')
    deaf.recv(4096)
    async with qmp_client(peer.socket) as qmp:
        for _ in range(2500):  # each stop/cont pair raises two events for every session
            await qmp.execute("cont")
            await qmp.execute("stop")
        assert as_dict(await qmp.execute("query-status"))["status"] == "paused"
    assert peer.alive()
    assert "is not reading" in peer.log.read_text()
    # Its connection was dropped: draining what was already queued ends in EOF.
    while deaf.recv(1 << 16):
        pass
    deaf.close()


async def test_client_disconnect_mid_command_leaves_the_daemon_serving(vmd: Peer) -> None:
    raw = await RawQmp.connect(vmd.socket, negotiate=True)
    await raw.send(b'{"execute": "cont"}{"execute": "stop"}{"execute": "query-status"}')
    await raw.close()
    async with qmp_client(vmd.socket) as qmp:
        assert as_dict(await qmp.execute("query-status"))["status"] in ("running", "paused")


async def test_qmp_client_negotiates_oob(vmd: Peer) -> None:
    qmp = QMPClient("oob")
    await asyncio.wait_for(qmp.connect(vmd.socket), TIMEOUT)
    try:
        assert qmp.greeting is not None
        assert as_dict(await qmp.execute("query-status"))["running"] is False
    finally:
        await qmp.disconnect()


async def test_exec_oob_overtakes_queued_in_band_requests(vmd: Peer) -> None:
    raw = await RawQmp.connect(vmd.socket)
    await raw.send(b'{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}')
    assert await raw.recv() == {"return": {}}
    in_band = b"".join(b'{"execute": "query-status", "id": %d}' % i for i in range(200))
    await raw.send(in_band + b'{"exec-oob": "query-yank", "id": "oob"}')
    first = await raw.recv()
    assert first == {"return": [{"type": "chardev", "id": "compat_monitor0"}], "id": "oob"}
    assert [(await raw.recv())["id"] for _ in range(200)] == list(range(200))
    await raw.close()


async def test_yank_drops_another_monitors_clients(peers: Callable[..., Peer]) -> None:
    peer = peers("vmd", "-S", monitors=2)
    victim = await RawQmp.connect(peer.sockets[0], negotiate=True)
    async with qmp_client(peer.sockets[1]) as qmp:
        instances = await qmp.execute("query-yank")
        assert instances == [
            {"type": "chardev", "id": "compat_monitor0"},
            {"type": "chardev", "id": "compat_monitor1"},
        ]
        assert await qmp.execute("yank", {"instances": [{"type": "chardev", "id": "compat_monitor0"}]}) == {}
        assert await victim.at_eof()
        # The monitor itself still listens: the yanked client can come back.
        again = await RawQmp.connect(peer.sockets[0], negotiate=True)
        await again.close()
        assert as_dict(await qmp.execute("query-status"))["status"] == "prelaunch"
    await victim.close()


async def test_wait_on_holds_start_up_until_a_client_connects(workdir: Path) -> None:
    sock = workdir / "w.sock"
    pidfile = workdir / "w.pid"
    command = [
        *vmd_command(),
        "-nodefaults",
        "-qmp",
        f"unix:{sock},server=on",
        "-daemonize",
        "-pidfile",
        str(pidfile),
    ]
    parent = await asyncio.create_subprocess_exec(*command, cwd=REPO, stderr=asyncio.subprocess.PIPE)
    try:
        # The -daemonize parent must not report ready while nobody is connected.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(parent.wait()), 1.0)
        # A loaded machine may take longer than that second to bind the socket.
        async with asyncio.timeout(TIMEOUT):
            while not sock.exists():  # noqa: ASYNC110 - a file another process creates
                await asyncio.sleep(0.01)
        client = await RawQmp.connect(str(sock), negotiate=True)
        assert await asyncio.wait_for(parent.wait(), TIMEOUT) == 0
        await client.send(b'{"execute": "query-status", "id": 1}')
        reply, _ = await client.recv_reply()  # RESUME may come first: launch follows the connection
        assert reply["return"]["status"] == "running"
        await client.close()
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-foo"], "vmd: -foo: invalid option"),
        (["-m"], "vmd: -m: requires an argument"),
        (["-uuid", "bad"], "vmd: -uuid bad: failed to parse UUID string: wrong format"),
        (
            ["-qmp", "tcp:127.0.0.1:4444,server=on,wait=off"],
            "vmd: -qmp tcp:127.0.0.1:4444,server=on,wait=off:",
        ),
    ],
)
def test_command_line_errors_are_one_line_and_exit_1(args: list[str], message: str) -> None:
    done = subprocess.run([*vmd_command(), *args], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert done.stderr.startswith(message)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_daemonize_parent_fails_when_the_child_cannot_start(workdir: Path) -> None:
    command = [*vmd_command(), "-qmp", f"unix:{workdir}/no/such/dir.sock,server=on,wait=off", "-daemonize"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "Failed to bind socket to" in done.stderr
    assert "No such file or directory" in done.stderr
