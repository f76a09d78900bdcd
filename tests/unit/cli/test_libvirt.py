"""What libvirt 9.0 sends (spec/libvirt-contract.md), and what vmd refuses to pretend it honours."""

from __future__ import annotations

import os

import pytest

from tests.unit.cli.common import UUID, MiB, parse
from vmd.cli import CommandLineError
from vmd.config import (
    AccelConfig,
    AddFdConfig,
    ChardevConfig,
    DeviceConfig,
    InheritedFd,
    MemoryConfig,
    MonitorConfig,
    SmpConfig,
    UnixPath,
)

PROBE = [
    "-S", "-no-user-config", "-nodefaults", "-nographic", "-machine", "none,accel=kvm:tcg",
    "-qmp", "unix:/var/lib/libvirt/qemu/qmp-x/qmp.monitor,server=on,wait=off",
    "-pidfile", "/var/lib/libvirt/qemu/qmp-x/qmp.pid", "-daemonize",
]  # fmt: skip


DOMAIN = [
    "-name", "guest=demo,debug-threads=on",
    "-S",
    "-object", '{"qom-type":"secret","id":"masterKey0","format":"raw",'
    '"file":"/var/lib/libvirt/qemu/domain-1-demo/master-key.aes"}',
    "-machine", "pc-q35-7.2,usb=off,dump-guest-core=off,memory-backend=pc.ram",
    "-accel", "tcg",
    "-cpu", "qemu64",
    "-m", "128",
    "-object", '{"qom-type":"memory-backend-ram","id":"pc.ram","size":134217728}',
    "-overcommit", "mem-lock=off",
    "-smp", "1,maxcpus=4,sockets=4,dies=1,cores=1,threads=1",
    "-uuid", UUID,
    "-display", "none",
    "-no-user-config",
    "-nodefaults",
    "-chardev", "socket,id=charmonitor,fd=31,server=on,wait=off",
    "-mon", "chardev=charmonitor,id=monitor,mode=control",
    "-rtc", "base=utc",
    "-no-shutdown",
    "-boot", "strict=on",
    "-audiodev", '{"id":"audio1","driver":"none"}',
    "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    "-msg", "timestamp=on",
]  # fmt: skip


def test_libvirt_probe_command_line() -> None:
    config = parse(*PROBE)
    assert config.start_paused
    assert config.daemonize
    assert config.nodefaults
    assert config.no_user_config
    assert config.nographic
    assert config.display == "none"
    assert config.machine_type == "none"
    assert config.machine_props == {"graphics": "off"}  # what -nographic means to the machine
    assert config.accel == (AccelConfig("kvm"), AccelConfig("tcg"))
    assert config.pidfile == "/var/lib/libvirt/qemu/qmp-x/qmp.pid"
    assert config.monitors == (
        MonitorConfig(
            endpoint=UnixPath("/var/lib/libvirt/qemu/qmp-x/qmp.monitor"),
            chardev_id="compat_monitor0",
            wait=False,
            id="compat_monitor0",
        ),
    )
    assert config.memory == MemoryConfig(size_bytes=128 * MiB)
    assert config.ignored_options == ()


def test_libvirt_domain_command_line() -> None:
    config = parse(*DOMAIN)
    assert config.name == "demo"
    assert config.debug_threads is True
    assert config.start_paused
    assert config.no_shutdown
    assert not config.no_reboot
    assert config.machine_type == "pc-q35-7.2"
    assert config.machine_props == {"usb": "off", "dump-guest-core": "off", "memory-backend": "pc.ram"}
    assert config.accel == (AccelConfig("tcg"),)
    assert config.cpu_model == "qemu64"
    assert config.cpu_features == ()
    assert config.memory == MemoryConfig(size_bytes=128 * MiB)
    assert config.smp == SmpConfig(cpus=1, maxcpus=4, sockets=4, dies=1, cores=1, threads=1)
    assert config.uuid == UUID
    assert config.display == "none"
    assert config.monitors == (
        MonitorConfig(endpoint=InheritedFd(31), chardev_id="charmonitor", wait=False, id="monitor"),
    )
    assert config.chardevs == {
        "charmonitor": ChardevConfig("charmonitor", "socket", {"fd": "31", "server": "on", "wait": "off"})
    }
    assert [(obj.qom_type, obj.id) for obj in config.objects] == [
        ("secret", "masterKey0"),
        ("memory-backend-ram", "pc.ram"),
    ]
    assert config.objects[1].props == {"size": 134217728}
    assert config.objects[1].from_json
    assert [name for name, _ in config.ignored_options] == [
        "-overcommit",
        "-rtc",
        "-boot",
        "-audiodev",
        "-sandbox",
        "-msg",
    ]


def test_libvirt_hotplug_additions() -> None:
    read_end, write_end = os.pipe()
    inherited = 33
    os.dup2(read_end, inherited)
    try:
        config = parse(
            *DOMAIN,
            "-add-fd", f"set=0,fd={inherited},opaque=log",
            "-device", '{"driver":"qemu64-x86_64-cpu","id":"vcpu1","socket-id":1,"core-id":0,"thread-id":0}',
        )  # fmt: skip
    finally:
        for fd in (inherited, read_end, write_end):
            os.close(fd)
    assert config.add_fds == (AddFdConfig(fd=inherited, set=0, opaque="log"),)
    assert config.devices == (
        DeviceConfig(
            "qemu64-x86_64-cpu", "vcpu1", {"socket-id": 1, "core-id": 0, "thread-id": 0}, from_json=True
        ),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [(["-kernel", "/boot/vmlinuz", "-append", "console=ttyS0"],
      "-kernel /boot/vmlinuz: vmd cannot boot a Linux kernel"),
     (["-overcommit", "mem-lock=on"], "-overcommit mem-lock=on: vmd cannot honour mem-lock=on"),
     (["-overcommit", "cpu-pm=on"], "-overcommit cpu-pm=on: vmd cannot honour cpu-pm=on"),
     (["-add-fd", "fd=1000,set=1"], "-add-fd fd=1000,set=1: fd is not valid or already in use")],
)  # fmt: skip
def test_what_vmd_cannot_honour_is_refused(args: list[str], message: str) -> None:
    """Not accepted and then ignored: the last is QEMU's text, the others vmd's."""
    with pytest.raises(CommandLineError) as caught:
        parse(*args)
    assert caught.value.message == message
