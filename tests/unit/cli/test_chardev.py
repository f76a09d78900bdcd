"""Monitors, chardevs and serial ports (vmd.cli.chardev)."""

from __future__ import annotations

from tests.unit.cli.common import parse
from vmd.config import (
    ChardevConfig,
    InheritedFd,
    MonitorConfig,
    SerialConfig,
    UnixPath,
)


def test_booleans_take_every_spelling_and_are_normalised() -> None:
    config = parse(
        "-chardev", "socket,id=a,path=/tmp/a,server=y,wait=no",
        "-chardev", "socket,id=b,path=/tmp/b,server=true,wait=false",
        "-chardev", "socket,id=c,path=/tmp/c,server=yes,wait=n",
    )  # fmt: skip
    for chardev in config.chardevs.values():
        assert (chardev.props["server"], chardev.props["wait"]) == ("on", "off")


def test_legacy_bare_flags() -> None:
    config = parse("-qmp", "unix:/tmp/q,server,nowait", "-chardev", "socket,id=c,path=/tmp/c,server,nowait")
    assert config.monitors[0].wait is False
    assert config.chardevs["c"].props == {"path": "/tmp/c", "server": "on", "wait": "off"}


def test_a_server_socket_waits_for_its_first_client_by_default() -> None:
    config = parse("-qmp", "unix:/tmp/q,server=on")
    assert config.monitors[0].wait is True


def test_several_monitors() -> None:
    config = parse(
        "-qmp", "unix:/run/a.sock,server=on,wait=off",
        "-qmp-pretty", "unix:/run/b.sock,server=on,wait=off,mode=0660",
        "-chardev", "socket,id=mon0,fd=7,server=on,wait=off",
        "-mon", "chardev=mon0,mode=control,pretty=on,id=m0",
        "-chardev", "socket,id=mon1,path=/run/c.sock,server=on,mode=640",
        "-qmp", "chardev:mon1",
    )  # fmt: skip
    assert config.monitors == (
        MonitorConfig(UnixPath("/run/a.sock"), "compat_monitor0", wait=False, id="compat_monitor0"),
        MonitorConfig(UnixPath("/run/b.sock"), "compat_monitor1", wait=False, pretty=True, socket_mode=0o660,
                      id="compat_monitor1"),
        MonitorConfig(InheritedFd(7), "mon0", wait=False, pretty=True, id="m0"),
        MonitorConfig(UnixPath("/run/c.sock"), "mon1", wait=True, socket_mode=0o640, id="mon1"),
    )  # fmt: skip
    assert list(config.chardevs) == ["compat_monitor0", "compat_monitor1", "mon0", "mon1"]


def test_a_monitor_may_name_a_chardev_defined_later() -> None:
    config = parse("-mon", "c,mode=control", "-chardev", "socket,id=c,fd=3,server=on,wait=off")
    assert config.monitors[0].endpoint == InheritedFd(3)


def test_client_mode_monitors_connect_to_a_path_or_are_an_inherited_connected_fd() -> None:
    config = parse(
        "-qmp", "unix:/run/a.sock",
        "-chardev", "socket,id=mon,fd=5",
        "-mon", "chardev=mon,mode=control",
        "-chardev", "socket,id=back,path=/run/b.sock,reconnect=2,server=off",
        "-mon", "back,mode=control",
    )  # fmt: skip
    assert config.monitors == (
        MonitorConfig(UnixPath("/run/a.sock"), "compat_monitor0", server=False, wait=False,
                      id="compat_monitor0"),
        MonitorConfig(InheritedFd(5), "mon", server=False, wait=False),
        MonitorConfig(UnixPath("/run/b.sock"), "back", server=False, wait=False, reconnect=2),
    )  # fmt: skip
    # what QEMU prefixes the errors of opening them with
    assert [m.location for m in config.monitors] == [
        "-qmp unix:/run/a.sock",
        "-chardev socket,id=mon,fd=5",
        "-chardev socket,id=back,path=/run/b.sock,reconnect=2,server=off",
    ]


def test_reconnect_is_qemus_uint64_read_into_an_int64() -> None:
    def reconnect(value: str) -> int:
        return parse("-qmp", f"unix:/run/a.sock,reconnect={value}").monitors[0].reconnect

    assert reconnect("0") == 0
    assert reconnect("0x10") == 16
    assert reconnect("99999999999") == 99999999999
    assert reconnect("-1") == 0  # 2^64 - 1, which is -1 as an int64: no reconnecting
    assert reconnect("9223372036854775808") == 0


def test_monitor_none_is_accepted() -> None:
    assert parse("-monitor", "none").monitors == ()


def test_chardevs_not_used_by_monitors_are_kept() -> None:
    config = parse(
        "-chardev", "file,id=log,path=/tmp/console.log,append=on",
        "-chardev", "null,id=nothing",
        "-chardev", "socket,id=sock,path=/tmp/serial.sock,server=on,wait=off",
    )  # fmt: skip
    assert config.chardevs == {
        "log": ChardevConfig("log", "file", {"path": "/tmp/console.log", "append": "on"}),
        "nothing": ChardevConfig("nothing", "null"),
        "sock": ChardevConfig("sock", "socket", {"path": "/tmp/serial.sock", "server": "on", "wait": "off"}),
    }
    assert config.monitors == ()


def test_serial_ports() -> None:
    config = parse(
        "-chardev", "file,id=log,path=/tmp/log",
        "-serial", "none",
        "-serial", "chardev:log",
        "-serial", "file:/tmp/second",
        "-serial", "null",
        "-serial", "stdio",
        "-serial", "unix:/tmp/s,server=on,wait=off",
        "-serial", "tcp::4444,server=on,wait=off",
    )  # fmt: skip
    assert config.serials == (
        SerialConfig(0, "log"),
        SerialConfig(1, "serial1"),
        SerialConfig(2, "serial2"),
        SerialConfig(3, "serial3"),
        SerialConfig(4, "serial4"),
        SerialConfig(5, "serial5"),
    )
    assert config.chardevs["serial1"] == ChardevConfig("serial1", "file", {"path": "/tmp/second"})
    assert config.chardevs["serial2"] == ChardevConfig("serial2", "null")
    assert config.chardevs["serial3"] == ChardevConfig("serial3", "stdio")
    assert config.chardevs["serial4"].props == {"path": "/tmp/s", "server": "on", "wait": "off"}
    assert config.chardevs["serial5"].props == {"host": "", "port": "4444", "server": "on", "wait": "off"}
